import type { Migration } from './types.js';

/**
 * Change notifications for the hot-path snapshot (DESIGN §2): every committed change to the
 * tables the snapshot is built from sends `pg_notify('gatehouse_config', payload)`, and every
 * gateway replica listening on that channel reloads. NOTIFY is delivered only on COMMIT (and
 * dropped on ROLLBACK), so a listener that reloads after hearing it sees the change.
 *
 * The payload is `{"op","table","tenant_id"}` and nothing else: any session on the database
 * may LISTEN, so it must never carry a key hash, a name, a setting or any other column.
 *
 * Statement-level triggers with transition tables, not row-level ones: one trigger call per
 * statement (an import of 10,000 keys is one call, not 10,000 plpgsql invocations) and one
 * notification per tenant the statement touched. PostgreSQL also folds identical payloads
 * within a transaction, so a transaction touching one tenant's rows many times sends one.
 * (Transition tables allow only one event per trigger, hence one trigger per event.)
 *
 * UPDATEs that change only the columns named as trigger arguments are silent: `last_used_at`
 * is written every few seconds by every replica (src/tenancy/usage-touch.ts) and must not make
 * the whole fleet reload; `tenants.updated_at` moves on every bootstrap upsert even when
 * nothing else did. Rows are compared as jsonb minus those columns, so a column added later
 * notifies by default (safe) and an UPDATE that rewrites identical values notifies nothing.
 *
 * SECURITY INVOKER (the default, stated on purpose): the function runs as whoever changed the
 * row, normally gatehouse_app under row-level security. It needs no table privilege: it reads
 * only the statement's own transition tables, which are not subject to row-level security,
 * and pg_notify is granted to PUBLIC. No SECURITY DEFINER in an exposed schema (DESIGN §12).
 * search_path is pinned so a caller's path cannot redirect the names it uses.
 */
const sql = /* sql */ `
CREATE FUNCTION gatehouse_notify_config() RETURNS trigger
  LANGUAGE plpgsql SECURITY INVOKER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ignored text[] := COALESCE(TG_ARGV, '{}'::text[]);
  changed uuid;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    -- No rows to name: a NULL tenant tells listeners "everything may have changed".
    PERFORM pg_notify('gatehouse_config',
      jsonb_build_object('op', 'truncate', 'table', TG_TABLE_NAME, 'tenant_id', NULL)::text);
    RETURN NULL;
  ELSIF TG_OP = 'INSERT' THEN
    FOR changed IN SELECT DISTINCT n.tenant_id FROM new_rows n LOOP
      PERFORM pg_notify('gatehouse_config',
        jsonb_build_object('op', 'insert', 'table', TG_TABLE_NAME, 'tenant_id', changed)::text);
    END LOOP;
  ELSIF TG_OP = 'DELETE' THEN
    FOR changed IN SELECT DISTINCT o.tenant_id FROM old_rows o LOOP
      PERFORM pg_notify('gatehouse_config',
        jsonb_build_object('op', 'delete', 'table', TG_TABLE_NAME, 'tenant_id', changed)::text);
    END LOOP;
  ELSE
    -- A row whose new version (minus ignored columns) has no identical old version changed;
    -- both directions, so a row that left a tenant names that tenant too.
    FOR changed IN
      SELECT d.tenant_id FROM (
        SELECT n.tenant_id, to_jsonb(n.*) - ignored FROM new_rows n
        EXCEPT SELECT o.tenant_id, to_jsonb(o.*) - ignored FROM old_rows o
      ) AS d (tenant_id, j)
      UNION
      SELECT d.tenant_id FROM (
        SELECT o.tenant_id, to_jsonb(o.*) - ignored FROM old_rows o
        EXCEPT SELECT n.tenant_id, to_jsonb(n.*) - ignored FROM new_rows n
      ) AS d (tenant_id, j)
    LOOP
      PERFORM pg_notify('gatehouse_config',
        jsonb_build_object('op', 'update', 'table', TG_TABLE_NAME, 'tenant_id', changed)::text);
    END LOOP;
  END IF;
  RETURN NULL;
END
$$;

DO $$
DECLARE
  t record;
  args text;
BEGIN
  FOR t IN SELECT * FROM (VALUES
      ('tenants', 'updated_at'),
      ('tenant_domains', NULL),
      ('teams', NULL),
      ('api_keys', 'last_used_at')) AS v (name, ignored) LOOP
    args := CASE WHEN t.ignored IS NULL THEN '' ELSE quote_literal(t.ignored) END;
    EXECUTE format('CREATE TRIGGER gatehouse_notify_insert AFTER INSERT ON %I '
                   'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT '
                   'EXECUTE FUNCTION gatehouse_notify_config(%s)', t.name, args);
    EXECUTE format('CREATE TRIGGER gatehouse_notify_update AFTER UPDATE ON %I '
                   'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT '
                   'EXECUTE FUNCTION gatehouse_notify_config(%s)', t.name, args);
    EXECUTE format('CREATE TRIGGER gatehouse_notify_delete AFTER DELETE ON %I '
                   'REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT '
                   'EXECUTE FUNCTION gatehouse_notify_config(%s)', t.name, args);
    EXECUTE format('CREATE TRIGGER gatehouse_notify_truncate AFTER TRUNCATE ON %I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config(%s)', t.name, args);
  END LOOP;
END
$$;
`;

export const migration0002: Migration = { id: 2, name: 'config_notify', sql };
