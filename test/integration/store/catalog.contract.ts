/** The schema's isolation properties, read from the catalogue. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditTenantIsolation, PLATFORM_CATALOGUE_TABLES } from './isolation-audit.js';
import type { StoreFactory, StoreHandle } from './factory.js';

/** Exactly what gatehouse_platform may read; a new grant must be added here on purpose. */
const PLATFORM_COLUMNS: Record<string, string[]> = {
  // When deliveries are due, to find tenants with work (0014_alerts); never payloads or outcomes.
  alert_deliveries: ['next_attempt_at', 'state', 'tenant_id'],
  // Open anomaly throttles are snapshot data: a rate per tenant and metric (0019_alert_lifecycle).
  anomaly_throttles: ['alert_id', 'created_at', 'limit', 'metric', 'tenant_id', 'window'],
  // Limits are metadata: the snapshot builds every tenant's limits from them (0008_limits), owner included (0020).
  limit_rules: ['burst', 'created_at', 'id', 'limit', 'metric', 'models', 'owner', 'scope', 'subject', 'tenant_id', 'updated_at', 'version', 'window'],
  plans: ['budget_action', 'created_at', 'description', 'id', 'name', 'pricing', 'rules', 'updated_at', 'version', 'weight'],
  // Billing (0015): the price book is a catalogue (0017: with each version's source); invoices'
  // totals only (never lines, nor their segments); rollup numbers and catalogue dimensions for
  // fleet aggregates (no team or key ids, no tags, no price versions).
  price_book: [
    'cached_per_mtok_micros', 'created_at', 'currency', 'deployment_id', 'effective_from', 'id', 'input_per_mtok_micros', 'model',
    'output_per_mtok_micros', 'per_request_micros', 'source',
  ],
  invoices: ['currency', 'id', 'issued_at', 'period', 'period_end', 'period_start', 'tenant_id', 'total_cents'],
  usage_rollups: [
    'bucket_start', 'cache_hits', 'cached_tokens', 'cost_micros', 'deployment_id', 'granularity', 'input_tokens', 'latency_ms_sum', 'model',
    'output_tokens', 'region', 'requests', 'status_class', 'tenant_id', 'ttft_count', 'ttft_ms_sum',
  ],
  // rotated_from: key-scoped limits follow a key's rotations (0020_limit_rule_owner).
  api_keys: [
    'allowed_cidrs', 'allowed_models', 'created_at', 'expires_at', 'id', 'key_hash', 'name', 'prefix', 'revoked_at', 'rotated_from', 'scopes', 'team_id',
    'tenant_id',
  ],
  meta: ['key', 'updated_at', 'value'],
  // A gateway that does not own the schema verifies its version at start (0019_alert_lifecycle).
  schema_migrations: ['applied_at', 'checksum', 'id', 'name'],
  // Never a ciphertext, nor webhook URLs (they often embed a token); nothing of tenant_data_keys.
  provider_credentials: ['base_url', 'created_at', 'id', 'key_version', 'name', 'provider', 'tenant_id', 'updated_at'],
  teams: ['created_at', 'id', 'name', 'slug', 'tenant_id'],
  tenant_domains: ['created_at', 'domain', 'tenant_id', 'verified_at'],
  // Public keys and claim names only: the snapshot verifies JWTs without a query.
  tenant_jwt_issuers: ['audience', 'claims', 'created_at', 'id', 'issuer', 'jwks', 'jwks_url', 'owner', 'tenant_id', 'updated_at'],
  // purged_at: when a deleted tenant's rows were purged after shredding (0016_tenant_purge).
  tenant_keyrings: ['created_at', 'purged_at', 'shred_after', 'shred_requested_at', 'shredded_at', 'tenant_id'],
  // deletion_requested_at: fleet views show which tenants are being deleted (0003_admin).
  // plan_id, budget_action: the snapshot's limits (0008_limits).
  tenants: [
    'allowed_models', 'budget_action', 'created_at', 'deletion_requested_at', 'id', 'name', 'plan_id', 'regions', 'slug', 'status', 'tenant_id', 'time_zone', 'updated_at',
  ],
  webhooks: ['created_at', 'enabled', 'events', 'id', 'key_version', 'tenant_id', 'updated_at'],
  // Which tenants hold request logs, so the retention job knows whose transactions to open (0018);
  // nothing of request_logs itself, not even metadata.
  request_log_usage: ['tenant_id'],
  // Which tenants have dedicated models, so the snapshot loader knows whose rows to read (0012).
  tenant_deployments: ['tenant_id'],
  tenant_model_aliases: ['tenant_id'],
};

class Rollback extends Error {}

export function catalogContract(factory: StoreFactory): void {
  describe(`schema isolation audit from the catalogue [${factory.label}]`, () => {
    let h: StoreHandle;
    beforeAll(async () => {
      h = await factory.open();
    });
    afterAll(async () => h?.close());

    it('every table with tenant_id has ENABLE + FORCE row-level security and the tenant policy', async () => {
      expect(await h.store.admin((tx) => auditTenantIsolation(tx))).toEqual([]);
    });

    it('the audit catches a table that forgets FORCE, its policy, or tenant_id (it can fail)', async () => {
      let problems: string[] = [];
      await h.store
        .admin(async (tx) => {
          await tx.exec(`
            CREATE TABLE leaky_no_policy (tenant_id uuid NOT NULL, x text);
            ALTER TABLE leaky_no_policy ENABLE ROW LEVEL SECURITY;
            CREATE TABLE leaky_no_force (tenant_id uuid NOT NULL, x text);
            ALTER TABLE leaky_no_force ENABLE ROW LEVEL SECURITY;
            CREATE POLICY p ON leaky_no_force USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
            CREATE TABLE leaky_open_policy (tenant_id uuid NOT NULL, x text);
            ALTER TABLE leaky_open_policy ENABLE ROW LEVEL SECURITY;
            ALTER TABLE leaky_open_policy FORCE ROW LEVEL SECURITY;
            CREATE POLICY p ON leaky_open_policy USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
            CREATE POLICY everyone ON leaky_open_policy USING (true);
            -- Permissive policies are OR-ed (widen), restrictive ones AND-ed (narrow only).
            CREATE POLICY purge_any ON leaky_no_force FOR DELETE USING (true);
            CREATE POLICY purge_done ON leaky_no_force AS RESTRICTIVE FOR DELETE USING (x IS NOT NULL);
            CREATE TABLE forgot_tenant (id uuid PRIMARY KEY);
            CREATE UNIQUE INDEX teams_id_global ON teams (id);
            -- Declared catalogue tables (below) that break the catalogue rules.
            CREATE TABLE leaky_catalogue_no_rls (id uuid PRIMARY KEY);
            CREATE TABLE leaky_catalogue_open_write (id uuid PRIMARY KEY);
            ALTER TABLE leaky_catalogue_open_write ENABLE ROW LEVEL SECURITY;
            ALTER TABLE leaky_catalogue_open_write FORCE ROW LEVEL SECURITY;
            CREATE POLICY r ON leaky_catalogue_open_write FOR SELECT TO gatehouse_app USING (true);
            CREATE POLICY w ON leaky_catalogue_open_write FOR INSERT TO gatehouse_app WITH CHECK (true);
            CREATE POLICY u ON leaky_catalogue_open_write FOR UPDATE TO public
              USING (gatehouse_current_tenant() = '00000000-0000-0000-0000-000000000000'::uuid);
          `);
          problems = await auditTenantIsolation(
            tx,
            new Map([...PLATFORM_CATALOGUE_TABLES, ['leaky_catalogue_no_rls', 'test'], ['leaky_catalogue_open_write', 'test'], ['teams', 'test']]),
          );
          throw new Rollback();
        })
        .catch((err: unknown) => {
          if (!(err instanceof Rollback)) throw err;
        });
      expect(problems).toEqual(
        expect.arrayContaining([
          'leaky_no_policy: row-level security not forced',
          'leaky_no_policy: no tenant policy with USING and WITH CHECK on gatehouse_current_tenant()',
          'leaky_no_force: row-level security not forced',
          'leaky_open_policy: unexpected policy everyone (ALL to public)',
          'leaky_no_force: unexpected policy purge_any (DELETE to public)',
          'forgot_tenant: no tenant_id column and not a declared platform table',
          'teams_id_global: unique index on teams does not lead with tenant_id',
          'leaky_catalogue_no_rls: row-level security not enabled',
          'leaky_catalogue_no_rls: row-level security not forced',
          'leaky_catalogue_no_rls: no read policy',
          'leaky_catalogue_open_write: write policy w (INSERT to gatehouse_app) is not limited to the platform scope',
          'leaky_catalogue_open_write: write policy u (UPDATE to public) is not limited to the platform scope',
          'teams: declared a platform catalogue table but has tenant_id',
        ]),
      );
      expect(problems.filter((p) => p.includes('purge_done'))).toEqual([]);
      expect(await h.store.admin((tx) => auditTenantIsolation(tx))).toEqual([]); // rolled back
    });

    it('the application roles cannot bypass row-level security and own nothing', async () => {
      const roles = await h.store.admin(
        async (tx) =>
          (
            await tx.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean; owned: number }>(
              `SELECT r.rolname, r.rolsuper, r.rolbypassrls,
                      ((SELECT count(*) FROM pg_class WHERE relowner = r.oid) +
                       (SELECT count(*) FROM pg_proc WHERE proowner = r.oid))::int AS owned
               FROM pg_roles r WHERE r.rolname IN ('gatehouse_app', 'gatehouse_platform') ORDER BY r.rolname`,
            )
          ).rows,
      );
      expect(roles).toEqual([
        { rolname: 'gatehouse_app', rolsuper: false, rolbypassrls: false, owned: 0 },
        { rolname: 'gatehouse_platform', rolsuper: false, rolbypassrls: false, owned: 0 },
      ]);
    });

    it('gatehouse_platform has SELECT on exactly the metadata columns', async () => {
      const granted = await h.store.admin(async (tx) => {
        const { rows } = await tx.query<{ table_name: string; column_name: string; privilege_type: string }>(
          `SELECT table_name, column_name, privilege_type FROM information_schema.column_privileges
           WHERE grantee = 'gatehouse_platform' AND table_schema = current_schema()
           ORDER BY table_name, column_name`,
        );
        return rows;
      });
      expect(new Set(granted.map((g) => g.privilege_type))).toEqual(new Set(['SELECT']));
      const byTable: Record<string, string[]> = {};
      for (const g of granted) (byTable[g.table_name] ??= []).push(g.column_name);
      expect(byTable).toEqual(PLATFORM_COLUMNS);
    });

    it('gatehouse_app has no table-level rights on platform tables', async () => {
      const rights = await h.store.admin(
        async (tx) =>
          (
            await tx.query<{ meta: boolean; migrations: boolean }>(
              `SELECT has_table_privilege('gatehouse_app', 'meta', 'SELECT, INSERT, UPDATE, DELETE') AS meta,
                      has_table_privilege('gatehouse_app', 'schema_migrations', 'SELECT, INSERT, UPDATE, DELETE') AS migrations`,
            )
          ).rows[0],
      );
      expect(rights).toEqual({ meta: false, migrations: false });
    });

    it('gatehouse_current_tenant() is NULL for unset and empty settings', async () => {
      const values = await h.store.admin(async (tx) => {
        const unset = (await tx.query<{ t: string | null }>('SELECT gatehouse_current_tenant() AS t')).rows[0]?.t;
        await tx.query("SET LOCAL app.tenant_id = ''");
        const empty = (await tx.query<{ t: string | null }>('SELECT gatehouse_current_tenant() AS t')).rows[0]?.t;
        return { unset, empty };
      });
      expect(values).toEqual({ unset: null, empty: null });
    });
  });
}
