import type { Migration } from './types.js';

/**
 * Plans (tiers) and per-tenant limit rules (DESIGN §4), replacing the limits the admin API used
 * to copy into tenants.settings (src/admin/templates.ts).
 *
 * - plans: the platform's catalogue, one row per tier with its fair-share weight, budget action
 *   and rules (a jsonb array of LimitRule documents, validated by src/limits/rules-schema.ts; the
 *   CHECK is a backstop on shape and size). No tenant owns a plan, so there is no tenant_id, yet
 *   the gateway role can write it, so row-level security is ENABLE + FORCE anyway: everyone the
 *   gateway runs as may read the catalogue (it holds no secrets; tenants see which tier they are
 *   on), and only the platform scope (the reserved all-zero tenant id of 0003, reached only with
 *   withTenant(PLATFORM_SCOPE_ID)) may insert, change or delete.
 * - tenants.plan_id (ON DELETE RESTRICT: a plan in use cannot be deleted) and
 *   tenants.budget_action (NULL: the plan's).
 * - limit_rules: a tenant's own rules, overriding the plan's rules of the same id and adding
 *   others. Tenant-owned like every table of 0001/0003 (RLS ENABLE + FORCE, tenant_isolation);
 *   the CHECKs mirror src/limits/types.ts so a writer that skips validation still cannot store
 *   a rule the limits layer cannot read. Limits are metadata, not secrets or content: the
 *   platform role reads every column, so the start-up snapshot can build each tenant's limits.
 * - Change notifications (0002): limit_rules and the new tenants columns name their tenant as
 *   every snapshot table does; a plan names no tenant, so its statements announce
 *   `{"op","table":"plans","tenant_id":null}` and the refresher re-reads the catalogue alone
 *   and re-applies it to every tenant on it (src/tenancy/refresh.ts).
 *
 * Existing tenants: settings.template becomes plan_id (the three seeded plans are exactly the
 * old templates), and each number in settings.limits that differs from the plan's becomes an
 * override rule with the plan's rule id. A null there (an explicit "unlimited" over the template)
 * has no rule form and falls back to the plan's rule; limits were not enforced before this
 * migration, so nothing that worked stops working. Both keys are then removed from settings:
 * they are no longer the source of truth, and a stale copy would only mislead.
 *
 * FORCE row-level security applies to the table owner too, and migrations run as the owner: the
 * conversion lifts FORCE on tenants for the length of this transaction (DDL is transactional, so
 * no other session ever sees it lifted) and fills limit_rules before its policies exist.
 */
const sql = /* sql */ `
CREATE TABLE plans (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 1024),
  weight integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000000),
  budget_action text NOT NULL DEFAULT 'reject' CHECK (budget_action IN ('reject', 'clamp')),
  rules jsonb NOT NULL DEFAULT '[]'::jsonb
    CHECK (jsonb_typeof(rules) = 'array' AND jsonb_array_length(rules) <= 100 AND octet_length(rules::text) <= 65536),
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER bump_version BEFORE UPDATE ON plans FOR EACH ROW
  WHEN ((OLD.name, OLD.description, OLD.weight, OLD.budget_action, OLD.rules)
        IS DISTINCT FROM (NEW.name, NEW.description, NEW.weight, NEW.budget_action, NEW.rules))
  EXECUTE FUNCTION gatehouse_bump_version();

-- The templates of src/admin/templates.ts as plans. Money: cents x 10,000 = micro-units.
INSERT INTO plans (name, description, weight, rules) VALUES
  ('free', 'Free tier', 1, '[
    {"id": "requests-per-minute", "scope": "tenant", "subject": null, "metric": "requests", "window": "minute", "limit": 60, "burst": null, "models": null},
    {"id": "tokens-per-day", "scope": "tenant", "subject": null, "metric": "tokens", "window": "day", "limit": 200000, "burst": null, "models": null},
    {"id": "concurrency", "scope": "tenant", "subject": null, "metric": "concurrency", "window": null, "limit": 4, "burst": null, "models": null},
    {"id": "budget-monthly", "scope": "tenant", "subject": null, "metric": "cost", "window": "month", "limit": 0, "burst": null, "models": null}
  ]'::jsonb),
  ('standard', 'Standard tier', 4, '[
    {"id": "requests-per-minute", "scope": "tenant", "subject": null, "metric": "requests", "window": "minute", "limit": 3000, "burst": null, "models": null},
    {"id": "tokens-per-day", "scope": "tenant", "subject": null, "metric": "tokens", "window": "day", "limit": 50000000, "burst": null, "models": null},
    {"id": "concurrency", "scope": "tenant", "subject": null, "metric": "concurrency", "window": null, "limit": 64, "burst": null, "models": null},
    {"id": "budget-monthly", "scope": "tenant", "subject": null, "metric": "cost", "window": "month", "limit": 5000000000, "burst": null, "models": null}
  ]'::jsonb),
  ('enterprise', 'Enterprise tier', 16, '[
    {"id": "requests-per-minute", "scope": "tenant", "subject": null, "metric": "requests", "window": "minute", "limit": 30000, "burst": null, "models": null},
    {"id": "concurrency", "scope": "tenant", "subject": null, "metric": "concurrency", "window": null, "limit": 512, "burst": null, "models": null}
  ]'::jsonb);

ALTER TABLE plans ENABLE ROW LEVEL SECURITY;
ALTER TABLE plans FORCE ROW LEVEL SECURITY;
CREATE POLICY catalogue_read ON plans FOR SELECT TO gatehouse_app, gatehouse_platform USING (true);
CREATE POLICY platform_insert ON plans FOR INSERT TO gatehouse_app
  WITH CHECK (gatehouse_current_tenant() = '00000000-0000-0000-0000-000000000000'::uuid);
CREATE POLICY platform_update ON plans FOR UPDATE TO gatehouse_app
  USING (gatehouse_current_tenant() = '00000000-0000-0000-0000-000000000000'::uuid)
  WITH CHECK (gatehouse_current_tenant() = '00000000-0000-0000-0000-000000000000'::uuid);
CREATE POLICY platform_delete ON plans FOR DELETE TO gatehouse_app
  USING (gatehouse_current_tenant() = '00000000-0000-0000-0000-000000000000'::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON plans TO gatehouse_app;
GRANT SELECT (id, name, description, weight, budget_action, rules, version, created_at, updated_at) ON plans TO gatehouse_platform;

ALTER TABLE tenants
  ADD COLUMN plan_id uuid REFERENCES plans (id) ON DELETE RESTRICT,
  ADD COLUMN budget_action text CHECK (budget_action IS NULL OR budget_action IN ('reject', 'clamp'));
-- The RESTRICT check on deleting a plan, and "tenants on this plan".
CREATE INDEX tenants_plan_id_idx ON tenants (plan_id);
GRANT SELECT (plan_id, budget_action) ON tenants TO gatehouse_platform;
-- ETags of tenants follow their plan and budget action too.
DROP TRIGGER bump_version ON tenants;
CREATE TRIGGER bump_version BEFORE UPDATE ON tenants FOR EACH ROW
  WHEN ((OLD.name, OLD.status, OLD.regions, OLD.allowed_models, OLD.settings, OLD.time_zone, OLD.deletion_requested_at,
         OLD.plan_id, OLD.budget_action)
        IS DISTINCT FROM
        (NEW.name, NEW.status, NEW.regions, NEW.allowed_models, NEW.settings, NEW.time_zone, NEW.deletion_requested_at,
         NEW.plan_id, NEW.budget_action))
  EXECUTE FUNCTION gatehouse_bump_version();

CREATE TABLE limit_rules (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id text NOT NULL CHECK (id ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  scope text NOT NULL CHECK (scope IN ('tenant', 'team', 'key', 'user')),
  subject text CHECK (subject IS NULL OR length(subject) BETWEEN 1 AND 256),
  metric text NOT NULL
    CHECK (metric IN ('requests', 'tokens', 'input_tokens', 'output_tokens', 'cost', 'compute_units', 'concurrency')),
  "window" text CHECK ("window" IS NULL OR "window" IN ('second', 'minute', 'hour', 'day', 'month')),
  "limit" bigint NOT NULL CHECK ("limit" BETWEEN 0 AND 1000000000000000),
  burst bigint,
  models text[],
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  CHECK (("window" IS NULL) = (metric = 'concurrency')),
  CHECK (scope <> 'tenant' OR subject IS NULL),
  CHECK (burst IS NULL OR ("window" IN ('second', 'minute', 'hour') AND burst BETWEEN 1 AND 1000000000000000)),
  CHECK (models IS NULL OR (cardinality(models) BETWEEN 1 AND 256 AND array_position(models, NULL) IS NULL
                            AND NOT ('' = ANY (models))))
);
CREATE TRIGGER bump_version BEFORE UPDATE ON limit_rules FOR EACH ROW
  WHEN ((OLD.scope, OLD.subject, OLD.metric, OLD."window", OLD."limit", OLD.burst, OLD.models)
        IS DISTINCT FROM (NEW.scope, NEW.subject, NEW.metric, NEW."window", NEW."limit", NEW.burst, NEW.models))
  EXECUTE FUNCTION gatehouse_bump_version();

-- Existing tenants (see the header). Owner rights without FORCE, for this transaction only.
ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY;
UPDATE tenants t SET plan_id = p.id FROM plans p
  WHERE jsonb_typeof(t.settings -> 'template') = 'string' AND p.name = t.settings ->> 'template';
INSERT INTO limit_rules (tenant_id, id, scope, subject, metric, "window", "limit")
SELECT t.id, m.rule_id, 'tenant', NULL, m.metric, m.win, v.amount
FROM tenants t
CROSS JOIN (VALUES
    ('requests_per_minute', 'requests-per-minute', 'requests', 'minute', 1),
    ('tokens_per_day', 'tokens-per-day', 'tokens', 'day', 1),
    ('max_concurrency', 'concurrency', 'concurrency', NULL, 1),
    ('monthly_budget_cents', 'budget-monthly', 'cost', 'month', 10000)
  ) AS m (key, rule_id, metric, win, factor)
CROSS JOIN LATERAL (
  SELECT (t.settings -> 'limits' ->> m.key)::numeric * m.factor AS amount
  WHERE jsonb_typeof(t.settings -> 'limits' -> m.key) = 'number'
) AS v
LEFT JOIN plans p ON p.id = t.plan_id
WHERE v.amount = trunc(v.amount) AND v.amount BETWEEN 0 AND 1000000000000000
  AND NOT coalesce(p.rules @> jsonb_build_array(jsonb_build_object('id', m.rule_id, 'limit', v.amount::bigint)), false);
UPDATE tenants SET settings = settings - 'template' - 'limits'
  WHERE settings ? 'template' OR settings ? 'limits';
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;

ALTER TABLE limit_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE limit_rules FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON limit_rules
  USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
CREATE POLICY platform_read ON limit_rules FOR SELECT TO gatehouse_platform USING (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON limit_rules TO gatehouse_app;
GRANT SELECT (tenant_id, id, scope, subject, metric, "window", "limit", burst, models, version, created_at, updated_at)
  ON limit_rules TO gatehouse_platform;

CREATE TRIGGER gatehouse_notify_insert AFTER INSERT ON limit_rules
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config('updated_at');
CREATE TRIGGER gatehouse_notify_update AFTER UPDATE ON limit_rules
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config('updated_at');
CREATE TRIGGER gatehouse_notify_delete AFTER DELETE ON limit_rules
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config('updated_at');
CREATE TRIGGER gatehouse_notify_truncate AFTER TRUNCATE ON limit_rules
  FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config('updated_at');

-- Plans name no tenant: one notification per statement that really changed a plan (rows are
-- compared minus updated_at, as 0002 does), with a NULL tenant. Same safety rules as 0002:
-- SECURITY INVOKER, pinned search_path, only the statement's own transition tables are read,
-- and the payload carries no column of the row.
CREATE FUNCTION gatehouse_notify_catalogue() RETURNS trigger
  LANGUAGE plpgsql SECURITY INVOKER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ignored text[] := COALESCE(TG_ARGV, '{}'::text[]);
BEGIN
  -- Nested, not AND-ed: an expression naming a transition table the event lacks fails to plan.
  IF TG_OP = 'UPDATE' THEN
    IF NOT EXISTS (
        (SELECT to_jsonb(n.*) - ignored FROM new_rows n EXCEPT SELECT to_jsonb(o.*) - ignored FROM old_rows o)
        UNION ALL
        (SELECT to_jsonb(o.*) - ignored FROM old_rows o EXCEPT SELECT to_jsonb(n.*) - ignored FROM new_rows n)) THEN
      RETURN NULL;
    END IF;
  ELSIF TG_OP = 'INSERT' THEN
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
      RETURN NULL;
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    IF NOT EXISTS (SELECT 1 FROM old_rows) THEN
      RETURN NULL;
    END IF;
  END IF;
  PERFORM pg_notify('gatehouse_config',
    jsonb_build_object('op', lower(TG_OP), 'table', TG_TABLE_NAME, 'tenant_id', NULL)::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER gatehouse_notify_insert AFTER INSERT ON plans
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_catalogue('updated_at');
CREATE TRIGGER gatehouse_notify_update AFTER UPDATE ON plans
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_catalogue('updated_at');
CREATE TRIGGER gatehouse_notify_delete AFTER DELETE ON plans
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_catalogue('updated_at');
CREATE TRIGGER gatehouse_notify_truncate AFTER TRUNCATE ON plans
  FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_catalogue('updated_at');
`;

export const migration0008: Migration = { id: 8, name: 'limits', sql };
