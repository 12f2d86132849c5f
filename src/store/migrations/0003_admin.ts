import type { Migration } from './types.js';

/**
 * The admin API's entities: users and their role memberships, service accounts, declarative
 * policies, admin API keys and idempotency records; plus optimistic-concurrency versions on the
 * tables the admin API changes.
 *
 * Same isolation rules as 0001 (DESIGN §3, §12): tenant_id NOT NULL leading every key, RLS
 * ENABLE + FORCE with the tenant_isolation policy, foreign keys that include tenant_id. None of
 * these tables is readable by gatehouse_platform: they hold personal data (users), credentials
 * (admin_keys) or tenant configuration (policies); fleet views count 0001's metadata instead.
 *
 * The platform scope. Platform-role admin keys and idempotency records of platform-scope calls
 * belong to no tenant, yet must live under row-level security like everything the gateway
 * role can write. They use the reserved tenant id 00000000-0000-0000-0000-000000000000 (never a
 * real tenant: tenant ids are random v4 UUIDs), reached only with withTenant(PLATFORM_SCOPE_ID).
 * That is why admin_keys and idempotency_keys have no foreign key to tenants; a CHECK keeps
 * platform roles in the platform scope and tenant roles out of it.
 *
 * Versions. `version` is bumped by a trigger on every real change to the columns the admin API
 * exposes, whoever writes them (the admin API, configuration bootstrap, a future process), so an
 * ETag built from it can never miss a change. `last_used_at` is left out: it changes on use, not
 * on edit, and must not invalidate an administrator's If-Match.
 *
 * Deleting a tenant marks it (`deletion_requested_at`, status suspended so the data plane refuses
 * it at once); purging after the grace period is a separate job.
 */
const sql = /* sql */ `
CREATE FUNCTION gatehouse_bump_version() RETURNS trigger
  LANGUAGE plpgsql SECURITY INVOKER
  AS $$
BEGIN
  NEW.version := OLD.version + 1;
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

ALTER TABLE tenants
  ADD COLUMN version bigint NOT NULL DEFAULT 1,
  ADD COLUMN deletion_requested_at timestamptz;
CREATE TRIGGER bump_version BEFORE UPDATE ON tenants FOR EACH ROW
  WHEN ((OLD.name, OLD.status, OLD.regions, OLD.allowed_models, OLD.settings, OLD.time_zone, OLD.deletion_requested_at)
        IS DISTINCT FROM
        (NEW.name, NEW.status, NEW.regions, NEW.allowed_models, NEW.settings, NEW.time_zone, NEW.deletion_requested_at))
  EXECUTE FUNCTION gatehouse_bump_version();

ALTER TABLE teams
  ADD COLUMN version bigint NOT NULL DEFAULT 1,
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE TRIGGER bump_version BEFORE UPDATE ON teams FOR EACH ROW
  WHEN ((OLD.slug, OLD.name) IS DISTINCT FROM (NEW.slug, NEW.name))
  EXECUTE FUNCTION gatehouse_bump_version();

CREATE TABLE users (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254
                             AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
  name text NOT NULL DEFAULT '' CHECK (length(name) <= 256),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, email)
);
CREATE TRIGGER bump_version BEFORE UPDATE ON users FOR EACH ROW
  WHEN ((OLD.email, OLD.name, OLD.status) IS DISTINCT FROM (NEW.email, NEW.name, NEW.status))
  EXECUTE FUNCTION gatehouse_bump_version();

-- A user's roles in the tenant. Immutable rows: a role change is a delete and an insert.
CREATE TABLE memberships (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  user_id uuid NOT NULL,
  role text NOT NULL CHECK (role IN ('tenant_admin', 'tenant_developer', 'tenant_billing', 'tenant_viewer', 'tenant_auditor')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, user_id, role),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE service_accounts (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 1024),
  disabled boolean NOT NULL DEFAULT false,
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, name)
);
CREATE TRIGGER bump_version BEFORE UPDATE ON service_accounts FOR EACH ROW
  WHEN ((OLD.name, OLD.description, OLD.disabled) IS DISTINCT FROM (NEW.name, NEW.description, NEW.disabled))
  EXECUTE FUNCTION gatehouse_bump_version();

-- Declarative policy documents (DESIGN §6: data, never code). Validated by the admin API; the
-- size check is a backstop against a writer that skips it.
CREATE TABLE policies (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (name ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 1024),
  enabled boolean NOT NULL DEFAULT true,
  document jsonb NOT NULL CHECK (jsonb_typeof(document) = 'object' AND octet_length(document::text) <= 65536),
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, name)
);
CREATE TRIGGER bump_version BEFORE UPDATE ON policies FOR EACH ROW
  WHEN ((OLD.name, OLD.description, OLD.enabled, OLD.document) IS DISTINCT FROM (NEW.name, NEW.description, NEW.enabled, NEW.document))
  EXECUTE FUNCTION gatehouse_bump_version();

-- Data-plane keys gain what the admin API manages. allowed_cidrs NULL: any address.
ALTER TABLE api_keys
  ADD COLUMN version bigint NOT NULL DEFAULT 1,
  ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN allowed_cidrs cidr[],
  ADD COLUMN rotated_from uuid,
  ADD COLUMN owner_user_id uuid,
  ADD COLUMN owner_service_account_id uuid,
  ADD FOREIGN KEY (tenant_id, owner_user_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (owner_user_id),
  ADD FOREIGN KEY (tenant_id, owner_service_account_id) REFERENCES service_accounts (tenant_id, id)
    ON DELETE SET NULL (owner_service_account_id);
CREATE TRIGGER bump_version BEFORE UPDATE ON api_keys FOR EACH ROW
  WHEN ((OLD.team_id, OLD.name, OLD.scopes, OLD.allowed_models, OLD.expires_at, OLD.revoked_at, OLD.allowed_cidrs,
         OLD.owner_user_id, OLD.owner_service_account_id)
        IS DISTINCT FROM
        (NEW.team_id, NEW.name, NEW.scopes, NEW.allowed_models, NEW.expires_at, NEW.revoked_at, NEW.allowed_cidrs,
         NEW.owner_user_id, NEW.owner_service_account_id))
  EXECUTE FUNCTION gatehouse_bump_version();

-- Admin API credentials: HMAC of the key under the server pepper, as for api_keys. Looked up
-- inside the tenant the key names (the key carries its scope), so no role needs to read
-- credentials across tenants. A user-owned key is only as good as the owner's membership in
-- the key's role; a service-account key dies with a disabled account.
CREATE TABLE admin_keys (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
  role text NOT NULL CHECK (role IN ('platform_admin', 'platform_auditor', 'tenant_admin', 'tenant_developer',
                                     'tenant_billing', 'tenant_viewer', 'tenant_auditor')),
  prefix text NOT NULL CHECK (length(prefix) BETWEEN 1 AND 64),
  key_hash bytea NOT NULL CHECK (length(key_hash) = 32),
  user_id uuid,
  service_account_id uuid,
  created_by text NOT NULL CHECK (length(created_by) <= 256),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, key_hash),
  CHECK ((tenant_id = '00000000-0000-0000-0000-000000000000'::uuid) = (role IN ('platform_admin', 'platform_auditor'))),
  CHECK (user_id IS NULL OR service_account_id IS NULL),
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, service_account_id) REFERENCES service_accounts (tenant_id, id) ON DELETE CASCADE
);
CREATE TRIGGER bump_version BEFORE UPDATE ON admin_keys FOR EACH ROW
  WHEN ((OLD.name, OLD.expires_at, OLD.revoked_at) IS DISTINCT FROM (NEW.name, NEW.expires_at, NEW.revoked_at))
  EXECUTE FUNCTION gatehouse_bump_version();

-- Replays of creations (Idempotency-Key). Scoped to the principal that sent the key, so one
-- administrator can never replay (and so read) another's response. Responses never hold a
-- secret: the admin API strips secrets before storing.
CREATE TABLE idempotency_keys (
  tenant_id uuid NOT NULL,
  principal text NOT NULL CHECK (length(principal) BETWEEN 1 AND 128),
  key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
  request_hash bytea NOT NULL CHECK (length(request_hash) = 32),
  -- 0 while the creation it guards is running (never visible to others: same transaction).
  status integer NOT NULL CHECK (status = 0 OR status BETWEEN 200 AND 299),
  response jsonb NOT NULL DEFAULT 'null'::jsonb,
  headers jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, principal, key)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (tenant_id, expires_at);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['users', 'memberships', 'service_accounts', 'policies', 'admin_keys', 'idempotency_keys'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = gatehouse_current_tenant()) '
                   'WITH CHECK (tenant_id = gatehouse_current_tenant())', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO gatehouse_app', t);
  END LOOP;
END
$$;

-- Fleet views and tenant listings show which tenants are being deleted (metadata).
GRANT SELECT (deletion_requested_at) ON tenants TO gatehouse_platform;
`;

export const migration0003: Migration = { id: 3, name: 'admin', sql };
