import type { Migration } from './types.js';

/**
 * Per-tenant envelope encryption (DESIGN §3.2, §12 "Secrets") and the first encrypted entities.
 *
 * - tenant_data_keys: each tenant's AES-256-GCM data keys, only ever stored wrapped by a KEK
 *   (kek_id names which). One active version per tenant (partial unique index); retired
 *   versions stay to decrypt older data; destroyed ones are tombstones with the key erased.
 *   `encryptions` counts uses of each key so it is replaced long before 2^32 random IVs.
 * - tenant_keyrings: one row per tenant with keys: the lock that serialises key creation and
 *   rotation, and the crypto-shredding schedule (shred_after) and its outcome (shredded_at).
 * - provider_credentials, webhooks: metadata in clear, secrets as ciphertext whose associated
 *   data names tenant, table, record, column and key version; `key_version` mirrors the version
 *   inside the ciphertext so re-encryption can find stale rows without decrypting.
 *
 * Grants follow 0001: RLS ENABLE + FORCE with the tenant_isolation policy everywhere. The tenant
 * role may count, retire and add keys but not rewrite or erase key material (column grants):
 * re-wrapping and destruction are owner jobs. gatehouse_platform gets no grant at all on
 * tenant_data_keys (a wrapped key is secret material) and only metadata columns elsewhere:
 * never a ciphertext, and not webhook URLs, which often embed a token (Slack, Teams).
 */
const sql = /* sql */ `
CREATE TABLE tenant_keyrings (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  shred_requested_at timestamptz,
  shred_after timestamptz,
  shredded_at timestamptz,
  CHECK ((shred_requested_at IS NULL) = (shred_after IS NULL)),
  -- A shredded tenant cannot be un-scheduled: its keys are gone.
  CHECK (shredded_at IS NULL OR shred_after IS NOT NULL)
);

CREATE TABLE tenant_data_keys (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  version integer NOT NULL CHECK (version > 0),
  -- NULL once destroyed (crypto-shredding); the row stays so decryption can say why it fails.
  wrapped_key bytea CHECK (wrapped_key IS NULL OR length(wrapped_key) BETWEEN 16 AND 4096),
  kek_id text NOT NULL CHECK (length(kek_id) BETWEEN 1 AND 256),
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired', 'destroyed')),
  encryptions bigint NOT NULL DEFAULT 0 CHECK (encryptions >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz,
  rewrapped_at timestamptz,
  destroyed_at timestamptz,
  PRIMARY KEY (tenant_id, version),
  CHECK ((state = 'destroyed') = (wrapped_key IS NULL))
);
-- Two concurrent first uses (or rotations) cannot both leave an active key.
CREATE UNIQUE INDEX tenant_data_keys_one_active ON tenant_data_keys (tenant_id) WHERE state = 'active';

CREATE TABLE provider_credentials (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  -- Chosen by the writer, not defaulted: the ciphertext's associated data names the record,
  -- so the id must exist before the secret is encrypted.
  id uuid NOT NULL,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
  provider text NOT NULL CHECK (provider ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
  base_url text CHECK (base_url IS NULL OR length(base_url) BETWEEN 1 AND 2048),
  secret_ciphertext bytea NOT NULL,
  key_version integer NOT NULL CHECK (key_version > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, name)
);
CREATE INDEX provider_credentials_tenant_key_version_idx ON provider_credentials (tenant_id, key_version);

CREATE TABLE webhooks (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048 AND url ~ '^https?://'),
  events text[] NOT NULL DEFAULT '{}',
  enabled boolean NOT NULL DEFAULT true,
  secret_ciphertext bytea NOT NULL,
  key_version integer NOT NULL CHECK (key_version > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhooks_tenant_key_version_idx ON webhooks (tenant_id, key_version);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['tenant_keyrings', 'tenant_data_keys', 'provider_credentials', 'webhooks'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = gatehouse_current_tenant()) '
                   'WITH CHECK (tenant_id = gatehouse_current_tenant())', t);
  END LOOP;
  -- Not on tenant_data_keys: the platform role reads nothing there.
  FOREACH t IN ARRAY ARRAY['tenant_keyrings', 'provider_credentials', 'webhooks'] LOOP
    EXECUTE format('CREATE POLICY platform_read ON %I FOR SELECT TO gatehouse_platform USING (true)', t);
  END LOOP;
END
$$;

-- The tenant role: use keys (count, retire, create), never rewrite or erase key material, and
-- schedule or cancel its own shredding, never mark it done.
GRANT SELECT ON tenant_data_keys TO gatehouse_app;
GRANT INSERT (tenant_id, version, wrapped_key, kek_id, state) ON tenant_data_keys TO gatehouse_app;
GRANT UPDATE (encryptions, state, retired_at) ON tenant_data_keys TO gatehouse_app;
GRANT SELECT ON tenant_keyrings TO gatehouse_app;
GRANT INSERT (tenant_id, shred_requested_at, shred_after) ON tenant_keyrings TO gatehouse_app;
GRANT UPDATE (shred_requested_at, shred_after) ON tenant_keyrings TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON provider_credentials TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhooks TO gatehouse_app;

-- The platform role: metadata only (fleet views, the shredding job's list of due tenants).
GRANT SELECT (tenant_id, created_at, shred_requested_at, shred_after, shredded_at) ON tenant_keyrings TO gatehouse_platform;
GRANT SELECT (tenant_id, id, name, provider, base_url, key_version, created_at, updated_at)
  ON provider_credentials TO gatehouse_platform;
GRANT SELECT (tenant_id, id, events, enabled, key_version, created_at, updated_at) ON webhooks TO gatehouse_platform;
`;

export const migration0006: Migration = { id: 6, name: 'tenant_encryption', sql };
