import type { Migration } from './types.js';

/**
 * Identity providers each tenant trusts for bearer JWTs (DESIGN §2: JWT claim as a tenant
 * source). Public keys only (inline JWKS or a URL): nothing secret, so the platform role may
 * read every column; the start-up snapshot needs them to verify tokens without a query.
 */
const sql = /* sql */ `
CREATE TABLE tenant_jwt_issuers (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  issuer text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
  audience text CHECK (audience IS NULL OR length(audience) BETWEEN 1 AND 2048),
  jwks jsonb,
  jwks_url text CHECK (jwks_url IS NULL OR jwks_url ~ '^https?://'),
  claims jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, issuer),
  CHECK ((jwks IS NULL) <> (jwks_url IS NULL))
);

ALTER TABLE tenant_jwt_issuers ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_jwt_issuers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_jwt_issuers
  USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
CREATE POLICY platform_read ON tenant_jwt_issuers FOR SELECT TO gatehouse_platform USING (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_jwt_issuers TO gatehouse_app;
GRANT SELECT (tenant_id, id, issuer, audience, jwks, jwks_url, claims, created_at, updated_at)
  ON tenant_jwt_issuers TO gatehouse_platform;

-- Running gateways hear of changes as they do for keys (0002): one notification per tenant.
CREATE TRIGGER gatehouse_notify_insert AFTER INSERT ON tenant_jwt_issuers
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config('updated_at');
CREATE TRIGGER gatehouse_notify_update AFTER UPDATE ON tenant_jwt_issuers
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config('updated_at');
CREATE TRIGGER gatehouse_notify_delete AFTER DELETE ON tenant_jwt_issuers
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config('updated_at');
CREATE TRIGGER gatehouse_notify_truncate AFTER TRUNCATE ON tenant_jwt_issuers
  FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config('updated_at');
`;

export const migration0005: Migration = { id: 5, name: 'jwt_issuers', sql };
