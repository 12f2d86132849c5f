import type { Migration } from './types.js';

/**
 * Tenant-dedicated deployments and model aliases (issue 7 "Routing").
 *
 * - tenant_deployments: an upstream a tenant brings for itself: its public model name (which,
 *   for that tenant only, overrides a platform model of the same name), the provider kind, base
 *   URL, the tenant's own provider credential, and the routing figures of a YAML deployment.
 *   The credential reference is a foreign key INCLUDING tenant_id, so a row can never point at
 *   another tenant's credential even if a writer got the id; NO ACTION, so a credential in use
 *   cannot vanish from under a deployment (the admin API answers 409 first).
 * - tenant_model_aliases: `alias → model` per tenant, resolved before authorization.
 *
 * Both: RLS ENABLE + FORCE with tenant_isolation; gatehouse_app has full DML. The platform role
 * reads metadata only: which tenants have dedicated deployments (the snapshot loader then reads
 * each such tenant's rows, credentials decrypted, in that tenant's own transaction), and never a
 * base URL, a credential id or an alias.
 *
 * NOTIFY triggers (0002) on both, and on provider_credentials: a rotated secret must reach the
 * snapshot, whose dedicated deployments hold the decrypted key, within a second like any change.
 */
const sql = /* sql */ `
CREATE TABLE tenant_deployments (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  model text NOT NULL CHECK (length(model) BETWEEN 1 AND 256),
  kind text NOT NULL DEFAULT 'chat' CHECK (kind IN ('chat', 'completion', 'embedding')),
  provider text NOT NULL CHECK (provider ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
  base_url text NOT NULL CHECK (length(base_url) BETWEEN 1 AND 2048 AND base_url ~ '^https?://'),
  credential_id uuid,
  upstream_model text NOT NULL CHECK (length(upstream_model) BETWEEN 1 AND 256),
  api_version text CHECK (api_version IS NULL OR length(api_version) BETWEEN 1 AND 64),
  region text NOT NULL DEFAULT 'default' CHECK (length(region) BETWEEN 1 AND 64),
  capacity integer NOT NULL DEFAULT 64 CHECK (capacity BETWEEN 1 AND 100000),
  timeout_ms integer NOT NULL DEFAULT 600000 CHECK (timeout_ms BETWEEN 100 AND 3600000),
  -- Micro-units of the currency per million tokens / per request, like YAML prices.
  price_input bigint NOT NULL DEFAULT 0 CHECK (price_input >= 0),
  price_output bigint NOT NULL DEFAULT 0 CHECK (price_output >= 0),
  price_cached_input bigint NOT NULL DEFAULT 0 CHECK (price_cached_input >= 0),
  price_request bigint NOT NULL DEFAULT 0 CHECK (price_request >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  -- NO ACTION, not RESTRICT: checked at the end of the statement, so deleting the tenant (which
  -- cascades to both tables) succeeds, while deleting a credential still in use fails.
  FOREIGN KEY (tenant_id, credential_id) REFERENCES provider_credentials (tenant_id, id)
);
CREATE INDEX tenant_deployments_model_idx ON tenant_deployments (tenant_id, model);
CREATE INDEX tenant_deployments_credential_idx ON tenant_deployments (tenant_id, credential_id);

CREATE TABLE tenant_model_aliases (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  alias text NOT NULL CHECK (length(alias) BETWEEN 1 AND 256),
  model text NOT NULL CHECK (length(model) BETWEEN 1 AND 256),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, alias),
  CHECK (alias <> model)
);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tenant_deployments', 'tenant_model_aliases'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = gatehouse_current_tenant()) '
                   'WITH CHECK (tenant_id = gatehouse_current_tenant())', t);
    EXECUTE format('CREATE POLICY platform_read ON %I FOR SELECT TO gatehouse_platform USING (true)', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO gatehouse_app', t);
    EXECUTE format('GRANT SELECT (tenant_id) ON %I TO gatehouse_platform', t);
  END LOOP;
  FOREACH t IN ARRAY ARRAY['tenant_deployments', 'tenant_model_aliases', 'provider_credentials'] LOOP
    EXECUTE format('CREATE TRIGGER gatehouse_notify_insert AFTER INSERT ON %I '
                   'REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT '
                   'EXECUTE FUNCTION gatehouse_notify_config(%L)', t, 'updated_at');
    EXECUTE format('CREATE TRIGGER gatehouse_notify_update AFTER UPDATE ON %I '
                   'REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT '
                   'EXECUTE FUNCTION gatehouse_notify_config(%L)', t, 'updated_at');
    EXECUTE format('CREATE TRIGGER gatehouse_notify_delete AFTER DELETE ON %I '
                   'REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT '
                   'EXECUTE FUNCTION gatehouse_notify_config(%L)', t, 'updated_at');
    EXECUTE format('CREATE TRIGGER gatehouse_notify_truncate AFTER TRUNCATE ON %I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config(%L)', t, 'updated_at');
  END LOOP;
END
$$;
`;

export const migration0012: Migration = { id: 12, name: 'tenant_deployments', sql };
