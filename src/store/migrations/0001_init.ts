import type { Migration } from './types.js';

/**
 * Roles, the tenant function and the tenancy tables.
 *
 * Isolation rules this migration sets up (DESIGN §3, §12):
 * - Every tenant-owned table has `tenant_id NOT NULL`, row-level security ENABLE + FORCE and a
 *   `tenant_isolation` policy with USING and WITH CHECK on gatehouse_current_tenant(), which is
 *   NULL (deny) when the setting is unset *or* empty: after a transaction-local set_config on a
 *   pooled connection the setting reads '' rather than NULL, and "unset means all" fails open.
 * - `tenant_id` leads every composite key and index. The only global unique indexes are on
 *   identifiers that must be globally unique by nature (tenant slug, custom domain, key hash):
 *   a violation tells the writer only that the value is taken, which is exactly what they must
 *   learn, never whose it is or any other column; and the PostgreSQL error detail carries only
 *   the conflicting value the writer supplied.
 * - Foreign keys between tenant tables include tenant_id, so the check (which runs without
 *   row-level security) can only ever find rows of the same tenant: no cross-tenant oracle.
 * - gatehouse_platform reads metadata columns of every tenant through a SELECT-only policy and
 *   column grants: never settings or other content.
 */
const sql = /* sql */ `
-- Roles are cluster-wide while this migration runs per database: several databases on one
-- server (test suites, staging beside production) share them, possibly migrating at the same
-- moment, so creation tolerates "already exists" from a concurrent creator.
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['gatehouse_app', 'gatehouse_platform'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
  -- Pre-existing roles (made by an operator, or an older install) must not bypass RLS.
  IF EXISTS (SELECT 1 FROM pg_roles
             WHERE rolname IN ('gatehouse_app', 'gatehouse_platform') AND (rolsuper OR rolbypassrls)) THEN
    RAISE EXCEPTION 'roles gatehouse_app and gatehouse_platform must be NOSUPERUSER NOBYPASSRLS';
  END IF;
END
$$;

CREATE FUNCTION gatehouse_current_tenant() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
  AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

GRANT USAGE ON SCHEMA public TO gatehouse_app, gatehouse_platform;

CREATE TABLE tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- The tenant's own row is tenant-owned too; generated, so it can never differ from id.
  tenant_id uuid NOT NULL GENERATED ALWAYS AS (id) STORED,
  -- Global by nature: the slug names the tenant in URLs (/api/v1/tenants/{slug}).
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
  regions text[] NOT NULL DEFAULT '{}',
  -- NULL: every model in the catalogue.
  allowed_models text[],
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  time_zone text NOT NULL DEFAULT 'UTC',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenant_domains (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  domain text NOT NULL CHECK (domain = lower(domain) AND length(domain) BETWEEN 1 AND 253 AND domain !~ '[/:[:space:]]'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, domain)
);
-- A host name identifies at most one tenant, so uniqueness must be global (see the header).
CREATE UNIQUE INDEX tenant_domains_domain_key ON tenant_domains (domain);

CREATE TABLE teams (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  slug text NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, slug)
);

CREATE TABLE api_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  team_id uuid,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
  prefix text NOT NULL CHECK (length(prefix) BETWEEN 1 AND 64),
  -- HMAC-SHA256 of the key under the server pepper (never the key itself).
  key_hash bytea NOT NULL CHECK (length(key_hash) = 32),
  scopes text[] NOT NULL,
  -- NULL: the tenant's list.
  allowed_models text[],
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id)
);
-- A key belongs to exactly one tenant (DESIGN §2): the same key declared for two tenants
-- must fail, whichever tenant is set. Only a holder of the key itself can provoke the error.
CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash);
CREATE INDEX api_keys_tenant_prefix_idx ON api_keys (tenant_id, prefix);

-- Platform-level settings, not tenant-owned: no tenant_id, no row-level security.
CREATE TABLE meta (
  key text PRIMARY KEY,
  value text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tenants', 'tenant_domains', 'teams', 'api_keys'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = gatehouse_current_tenant()) '
                   'WITH CHECK (tenant_id = gatehouse_current_tenant())', t);
    EXECUTE format('CREATE POLICY platform_read ON %I FOR SELECT TO gatehouse_platform USING (true)', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO gatehouse_app', t);
  END LOOP;
END
$$;

-- Column grants: metadata only. Not tenants.settings (tenant configuration content).
GRANT SELECT (id, tenant_id, slug, name, status, regions, allowed_models, time_zone, created_at, updated_at)
  ON tenants TO gatehouse_platform;
GRANT SELECT (tenant_id, domain, created_at) ON tenant_domains TO gatehouse_platform;
GRANT SELECT (tenant_id, id, slug, name, created_at) ON teams TO gatehouse_platform;
-- key_hash is needed by the start-up snapshot that authenticates requests; it is a keyed hash,
-- useless without the pepper that lives outside the database.
GRANT SELECT (tenant_id, id, team_id, name, prefix, key_hash, scopes, allowed_models, expires_at, revoked_at, created_at)
  ON api_keys TO gatehouse_platform;
GRANT SELECT (key, value, updated_at) ON meta TO gatehouse_platform;
`;

export const migration0001: Migration = { id: 1, name: 'init', sql };
