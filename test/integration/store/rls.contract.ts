/**
 * Row-level security proven below the application: raw SQL as the database roles, not through
 * the repositories, so a bug in a repository cannot make these pass.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../../src/crypto/keys.js';
import type { Queryable } from '../../../src/store/index.js';
import { ident, PEPPER, seedTenant, sqlStateOf, tenantTables, uniq } from './factory.js';
import type { SeededTenant, StoreFactory, StoreHandle } from './factory.js';

const INSUFFICIENT_PRIVILEGE = '42501';

export function rlsContract(factory: StoreFactory): void {
  describe(`row-level security below the application [${factory.label}]`, () => {
    let h: StoreHandle;
    let a: SeededTenant;
    let b: SeededTenant;
    let tables: string[];

    beforeAll(async () => {
      h = await factory.open();
      a = await seedTenant(h.store, 'a');
      b = await seedTenant(h.store, 'b');
      tables = await tenantTables(h.store);
    });
    afterAll(async () => h?.close());

    const count = async (q: Queryable, table: string) =>
      (await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ident(table)}`)).rows[0]?.n;

    it('knows the tenant tables from the catalogue', () => {
      expect(tables).toEqual(expect.arrayContaining(['api_keys', 'teams', 'tenant_domains', 'tenants']));
    });

    it('as gatehouse_app with no tenant set, every tenant table returns zero rows', async () => {
      await h.store.admin(async (tx) => {
        // The owner/superuser sees the seeded rows: the zero counts below are not an empty database.
        for (const t of tables) expect(await count(tx, t)).toBeGreaterThanOrEqual(2);
        await tx.query('SET LOCAL ROLE gatehouse_app');
        for (const t of tables) expect({ t, n: await count(tx, t) }).toEqual({ t, n: 0 });
      });
    });

    it("an empty tenant setting ('' after SET LOCAL on a pooled connection) still denies", async () => {
      await h.store.admin(async (tx) => {
        await tx.query('SET LOCAL ROLE gatehouse_app');
        await tx.query("SET LOCAL app.tenant_id = ''");
        for (const t of tables) expect({ t, n: await count(tx, t) }).toEqual({ t, n: 0 });
        await tx.query("SELECT set_config('app.tenant_id', '', true)");
        for (const t of tables) expect({ t, n: await count(tx, t) }).toEqual({ t, n: 0 });
      });
    });

    it('a malformed tenant setting fails closed (error, no rows)', async () => {
      const run = h.store.admin(async (tx) => {
        await tx.query('SET LOCAL ROLE gatehouse_app');
        await tx.query("SET LOCAL app.tenant_id = 'not-a-uuid'");
        return tx.query('SELECT id FROM tenants');
      });
      expect(await sqlStateOf(run)).toBe('22P02');
    });

    it("with tenant A set, every tenant table shows only A's rows", async () => {
      await h.store.withTenant(a.id, async (tx) => {
        for (const t of tables) {
          const all = await count(tx, t);
          const { rows } = await tx.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM ${ident(t)} WHERE tenant_id = $1`,
            [a.id],
          );
          expect(all).toBeGreaterThan(0);
          expect({ t, n: rows[0]?.n }).toEqual({ t, n: all });
        }
      });
    });

    it("inserting a row for tenant B while A is set fails, in every table", async () => {
      const attempts: [string, string, unknown[]][] = [
        ['tenants', 'INSERT INTO tenants (id, slug, name) VALUES ($1, $2, $3)', [randomUUID(), `x-${uniq()}`, 'x']],
        ['tenant_domains', 'INSERT INTO tenant_domains (tenant_id, domain) VALUES ($1, $2)', [b.id, `${uniq()}.evil.test`]],
        ['teams', 'INSERT INTO teams (tenant_id, slug, name) VALUES ($1, $2, $3)', [b.id, `t-${uniq()}`, 'x']],
        [
          'api_keys',
          'INSERT INTO api_keys (tenant_id, name, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4, $5)',
          [b.id, 'x', 'ghk_x', hashApiKey(uniq(), PEPPER), ['inference']],
        ],
        ['tenant_keyrings', 'INSERT INTO tenant_keyrings (tenant_id) VALUES ($1)', [b.id]],
        [
          'tenant_data_keys',
          "INSERT INTO tenant_data_keys (tenant_id, version, wrapped_key, kek_id, state) VALUES ($1, 99, $2, 'k', 'retired')",
          [b.id, Buffer.alloc(64)],
        ],
        [
          'provider_credentials',
          "INSERT INTO provider_credentials (tenant_id, id, name, provider, secret_ciphertext, key_version) VALUES ($1, $2, 'x', 'openai', $3, 1)",
          [b.id, randomUUID(), Buffer.alloc(40)],
        ],
        [
          'webhooks',
          "INSERT INTO webhooks (tenant_id, id, url, secret_ciphertext, key_version) VALUES ($1, $2, 'https://x.example', $3, 1)",
          [b.id, randomUUID(), Buffer.alloc(40)],
        ],
        [
          'audit_entries',
          `INSERT INTO audit_entries (tenant_id, seq, id, at, actor_kind, action, outcome, prev_hash, hash, version)
           VALUES ($1, 99, gen_random_uuid(), now(), 'system', 'test.forged', 'success', $2, $2, 1)`,
          [b.id, Buffer.alloc(32)],
        ],
        [
          'tenant_jwt_issuers',
          "INSERT INTO tenant_jwt_issuers (tenant_id, issuer, jwks_url) VALUES ($1, 'https://evil.test/', 'https://evil.test/jwks')",
          [b.id],
        ],
        ['audit_checkpoints', 'INSERT INTO audit_checkpoints (tenant_id, seq, hash) VALUES ($1, 0, $2)', [randomUUID(), Buffer.alloc(32)]],
        ['users', "INSERT INTO users (tenant_id, email) VALUES ($1, 'evil@evil.test')", [b.id]],
        [
          'tenant_deployments',
          "INSERT INTO tenant_deployments (tenant_id, model, provider, base_url, upstream_model) VALUES ($1, 'evil', 'openai', 'https://evil.test', 'x')",
          [b.id],
        ],
        ['tenant_model_aliases', "INSERT INTO tenant_model_aliases (tenant_id, alias, model) VALUES ($1, 'evil', 'x')", [b.id]],
        ['memberships', "INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'tenant_admin')", [b.id, randomUUID()]],
        ['service_accounts', "INSERT INTO service_accounts (tenant_id, name) VALUES ($1, 'evil')", [b.id]],
        ['policies', "INSERT INTO policies (tenant_id, name, document) VALUES ($1, 'evil', '{}'::jsonb)", [b.id]],
        [
          'limit_rules',
          `INSERT INTO limit_rules (tenant_id, id, scope, metric, "window", "limit") VALUES ($1, 'evil', 'tenant', 'requests', 'minute', 1)`,
          [b.id],
        ],
        [
          'admin_keys',
          "INSERT INTO admin_keys (tenant_id, name, role, prefix, key_hash, created_by) VALUES ($1, 'x', 'tenant_admin', 'gha_x', $2, 'x')",
          [b.id, hashApiKey(uniq(), PEPPER)],
        ],
        [
          'idempotency_keys',
          "INSERT INTO idempotency_keys (tenant_id, principal, key, request_hash, status, expires_at) VALUES ($1, 'p', 'k', $2, 0, now())",
          [b.id, Buffer.alloc(32)],
        ],
        [
          'usage_events',
          `INSERT INTO usage_events (tenant_id, event_id, request_id, occurred_at, model, latency_ms, status)
           VALUES ($1, gen_random_uuid(), 'r', now(), 'm', 1, 200)`,
          [b.id],
        ],
        [
          'usage_rollups',
          "INSERT INTO usage_rollups (tenant_id, granularity, bucket_start, model, status_class) VALUES ($1, 'hour', now(), 'm', 'ok')",
          [b.id],
        ],
        [
          'alerts',
          "INSERT INTO alerts (tenant_id, id, kind, alert_key, payload) VALUES ($1, gen_random_uuid(), 'webhook.test', 'evil', '{}'::jsonb)",
          [b.id],
        ],
        [
          'alert_deliveries',
          'INSERT INTO alert_deliveries (tenant_id, id, alert_id, webhook_id) VALUES ($1, gen_random_uuid(), gen_random_uuid(), gen_random_uuid())',
          [b.id],
        ],
        [
          'anomaly_throttles',
          `INSERT INTO anomaly_throttles (tenant_id, metric, alert_id, "window", "limit") VALUES ($1, 'cost', gen_random_uuid(), 'hour', 0)`,
          [b.id],
        ],
        [
          'usage_tag_rollups',
          "INSERT INTO usage_tag_rollups (tenant_id, granularity, bucket_start, tag, model) VALUES ($1, 'hour', now(), 't', 'm')",
          [b.id],
        ],
        [
          'invoices',
          `INSERT INTO invoices (tenant_id, period, period_start, period_end, currency, pricing, lines, usage_cents, total_cents)
           VALUES ($1, '2020-01', now() - interval '1 day', now(), 'USD', '{}', '[]', 0, 0)`,
          [b.id],
        ],
        ['tenant_plan_history', 'INSERT INTO tenant_plan_history (tenant_id, plan_id) VALUES ($1, NULL)', [b.id]],
        [
          'request_logs',
          `INSERT INTO request_logs (tenant_id, id, request_id, occurred_at, model, status, latency_ms, bytes)
           VALUES ($1, gen_random_uuid(), 'evil', now(), 'm', 200, 1, 256)`,
          [b.id],
        ],
        ['request_log_usage', 'INSERT INTO request_log_usage (tenant_id, bytes) VALUES ($1, 0)', [b.id]],
      ];
      expect(attempts.map(([t]) => t).sort()).toEqual([...tables].sort());
      for (const [table, sql, params] of attempts) {
        const state = await sqlStateOf(h.store.withTenant(a.id, (tx) => tx.query(sql, params)));
        expect({ table, state }).toEqual({ table, state: INSUFFICIENT_PRIVILEGE });
      }
    });

    it("moving A's rows to tenant B fails (WITH CHECK)", async () => {
      for (const table of ['tenant_domains', 'teams', 'api_keys', 'limit_rules']) {
        const state = await sqlStateOf(
          h.store.withTenant(a.id, (tx) => tx.query(`UPDATE ${ident(table)} SET tenant_id = $1`, [b.id])),
        );
        expect({ table, state }).toEqual({ table, state: INSUFFICIENT_PRIVILEGE });
      }
      const state = await sqlStateOf(h.store.withTenant(a.id, (tx) => tx.query('UPDATE tenants SET id = $1', [randomUUID()])));
      expect(state).toBe(INSUFFICIENT_PRIVILEGE);
    });

    it("B's rows can be neither changed nor deleted while A is set", async () => {
      const changed = await h.store.withTenant(a.id, async (tx) => {
        let n = 0;
        n += (await tx.query("UPDATE teams SET name = 'pwned' WHERE tenant_id = $1", [b.id])).rowCount;
        n += (await tx.query('UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1', [b.id])).rowCount;
        n += (await tx.query("UPDATE tenants SET name = 'pwned' WHERE id = $1", [b.id])).rowCount;
        n += (await tx.query('DELETE FROM tenant_domains WHERE tenant_id = $1', [b.id])).rowCount;
        n += (await tx.query('DELETE FROM api_keys WHERE tenant_id = $1', [b.id])).rowCount;
        n += (await tx.query('UPDATE limit_rules SET "limit" = 0 WHERE tenant_id = $1', [b.id])).rowCount;
        n += (await tx.query('DELETE FROM limit_rules WHERE tenant_id = $1', [b.id])).rowCount;
        return n;
      });
      expect(changed).toBe(0);
      const intact = await h.store.withTenant(b.id, async (tx) => ({
        team: (await tx.query<{ name: string }>('SELECT name FROM teams')).rows.map((r) => r.name),
        domains: (await tx.query('SELECT domain FROM tenant_domains')).rowCount,
        keys: (await tx.query('SELECT id FROM api_keys WHERE revoked_at IS NULL')).rowCount,
        limits: (await tx.query<{ limit: string }>('SELECT "limit"::text AS "limit" FROM limit_rules')).rows.map((r) => r.limit),
      }));
      expect(intact).toEqual({ team: ['Core'], domains: 1, keys: 1, limits: ['30'] });
    });

    it('the application roles cannot name a partition directly (only its parent, under its policy)', async () => {
      const rights = await h.store.admin(async (tx) => {
        const { rows } = await tx.query<{ relname: string; app: boolean; platform: boolean }>(
          `SELECT c.relname,
                  has_table_privilege('gatehouse_app', c.oid, 'SELECT, INSERT, UPDATE, DELETE') AS app,
                  has_table_privilege('gatehouse_platform', c.oid, 'SELECT, INSERT, UPDATE, DELETE') AS platform
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND c.relispartition ORDER BY c.relname`,
        );
        return rows;
      });
      expect(rights.length).toBeGreaterThanOrEqual(2);
      for (const r of rights) expect(r).toEqual({ relname: r.relname, app: false, platform: false });
      const state = await sqlStateOf(h.store.withTenant(a.id, (tx) => tx.query('SELECT count(*) FROM usage_events_default')));
      expect(state).toBe(INSUFFICIENT_PRIVILEGE);
    });

    it('gatehouse_platform reads metadata of every tenant', async () => {
      const ids = await h.store.platform(async (tx) => (await tx.query<{ id: string }>('SELECT id FROM tenants')).rows.map((r) => r.id));
      expect(ids).toEqual(expect.arrayContaining([a.id, b.id]));
    });

    it('gatehouse_platform cannot read content or secret columns', async () => {
      for (const sql of [
        'SELECT settings FROM tenants',
        'SELECT * FROM tenants',
        'SELECT last_used_at FROM api_keys',
        'SELECT count(settings) FROM tenants',
        // Stored request logs (0018): neither content nor metadata, only which tenants hold some.
        'SELECT content FROM request_logs',
        'SELECT request_id, model FROM request_logs',
        'SELECT count(*) FROM request_logs',
        'SELECT bytes FROM request_log_usage',
      ]) {
        const state = await sqlStateOf(h.store.platform((tx) => tx.query(sql)));
        expect({ sql, state }).toEqual({ sql, state: INSUFFICIENT_PRIVILEGE });
      }
    });

    describe('the plan catalogue (a platform table without tenant_id)', () => {
      const PLATFORM_SCOPE = '00000000-0000-0000-0000-000000000000';
      const insertPlan = "INSERT INTO plans (name, weight, rules) VALUES ($1, 2, '[]'::jsonb) RETURNING id";

      it('is readable by the gateway role in any tenant, with no tenant, and by the platform role', async () => {
        const names = (rows: { name: string }[]) => rows.map((r) => r.name);
        const inA = await h.store.withTenant(a.id, async (tx) => names((await tx.query<{ name: string }>('SELECT name FROM plans')).rows));
        const none = await h.store.admin(async (tx) => {
          await tx.query('SET LOCAL ROLE gatehouse_app');
          return names((await tx.query<{ name: string }>('SELECT name FROM plans')).rows);
        });
        const platform = await h.store.platform(async (tx) => names((await tx.query<{ name: string }>('SELECT name FROM plans')).rows));
        for (const seen of [inA, none, platform]) expect(seen).toEqual(expect.arrayContaining(['free', 'standard', 'enterprise']));
      });

      it('a tenant scope cannot insert, change or delete a plan', async () => {
        expect(await sqlStateOf(h.store.withTenant(a.id, (tx) => tx.query(insertPlan, [`evil-${uniq()}`])))).toBe(INSUFFICIENT_PRIVILEGE);
        const touched = await h.store.withTenant(a.id, async (tx) => {
          let n = 0;
          n += (await tx.query("UPDATE plans SET weight = 999 WHERE name = 'free'")).rowCount;
          n += (await tx.query("UPDATE plans SET rules = '[]'::jsonb")).rowCount;
          n += (await tx.query("DELETE FROM plans WHERE name = 'enterprise'")).rowCount;
          return n;
        });
        expect(touched).toBe(0);
        const free = await h.store.platform(async (tx) => (await tx.query<{ weight: number }>("SELECT weight FROM plans WHERE name = 'free'")).rows[0]);
        expect(free).toEqual({ weight: 1 });
      });

      it('the gateway role with no tenant set cannot write plans either', async () => {
        const run = h.store.admin(async (tx) => {
          await tx.query('SET LOCAL ROLE gatehouse_app');
          return tx.query(insertPlan, [`none-${uniq()}`]);
        });
        expect(await sqlStateOf(run)).toBe(INSUFFICIENT_PRIVILEGE);
        const touched = await h.store.admin(async (tx) => {
          await tx.query('SET LOCAL ROLE gatehouse_app');
          return (await tx.query("UPDATE plans SET weight = 999 WHERE name = 'free'")).rowCount;
        });
        expect(touched).toBe(0);
      });

      it('the platform scope inserts, changes and deletes plans', async () => {
        const name = `ops-${uniq()}`;
        const done = await h.store.withTenant(PLATFORM_SCOPE, async (tx) => {
          const id = (await tx.query<{ id: string }>(insertPlan, [name])).rows[0]?.id;
          const updated = (await tx.query('UPDATE plans SET weight = 3 WHERE id = $1', [id])).rowCount;
          const deleted = (await tx.query('DELETE FROM plans WHERE id = $1', [id])).rowCount;
          return { id: typeof id, updated, deleted };
        });
        expect(done).toEqual({ id: 'string', updated: 1, deleted: 1 });
      });

      it('the platform role reads but cannot write plans', async () => {
        const state = await sqlStateOf(h.store.platform((tx) => tx.query("UPDATE plans SET weight = 5 WHERE name = 'free'")));
        expect(['25006', INSUFFICIENT_PRIVILEGE]).toContain(state);
      });
    });

    it('gatehouse_platform cannot write', async () => {
      for (const sql of ["UPDATE tenants SET name = 'x'", "INSERT INTO meta (key, value) VALUES ('k', 'v')", 'DELETE FROM api_keys']) {
        // READ ONLY transaction (25006) or no privilege (42501): either way, refused.
        const state = await sqlStateOf(h.store.platform((tx) => tx.query(sql)));
        expect(['25006', INSUFFICIENT_PRIVILEGE]).toContain(state);
      }
    });
  });
}
