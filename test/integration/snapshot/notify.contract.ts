/**
 * Migration 0002's change notifications, run against every store implementation: what each
 * change to the snapshot's tables announces, what stays silent, and that nothing secret is in
 * a payload. Every change here runs as gatehouse_app under row-level security (withTenant), as
 * the gateway's own writes will.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  apiKeysRepo,
  domainsRepo,
  keyUsageRepo,
  limitRulesRepo,
  plansRepo,
  teamsRepo,
  tenantsRepo,
  upsertTenantBySlug,
  type Store,
} from '../../../src/store/index.js';
import type { LimitRule } from '../../../src/limits/types.js';
import { parseConfigChange } from '../../../src/store/notify.js';
import { createKey, hear, type Heard } from './helpers.js';

export interface StoreUnderTest {
  store: Store;
  close(): Promise<void>;
}

const TABLES = ['anomaly_throttles', 'api_keys', 'limit_rules', 'plans', 'provider_credentials', 'teams', 'tenant_deployments', 'tenant_domains', 'tenant_jwt_issuers', 'tenant_model_aliases', 'tenants'];
const PLATFORM_SCOPE = '00000000-0000-0000-0000-000000000000';

export function notifyContract(label: string, open: () => Promise<StoreUnderTest>): void {
  describe(`configuration notifications [${label}]`, () => {
    let h: StoreUnderTest;
    let heard: Heard;
    let tenantId: string;
    const slug = `notify-${Math.random().toString(36).slice(2, 8)}`;

    beforeAll(async () => {
      h = await open();
      heard = await hear(h.store);
      tenantId = (await upsertTenantBySlug(h.store, { slug, name: 'Notify', settings: { canary: 'SETTINGS-CANARY' } })).tenant.id;
    });
    afterAll(async () => {
      await heard?.stop();
      await h?.close();
    });
    beforeEach(async () => {
      await heard.sync();
      heard.payloads.length = 0;
    });

    /** What the work announced, in order, once delivered. */
    async function announced(work: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
      await work();
      await heard.sync();
      return heard.changes();
    }

    it('every insert, update and delete names its table, tenant and operation, once per statement', async () => {
      expect(await announced(() => h.store.withTenant(tenantId, (tx) => teamsRepo.upsert(tx, { slug: 'core', name: 'Core' })))).toEqual([
        { op: 'insert', table: 'teams', tenant_id: tenantId },
      ]);
      heard.payloads.length = 0;
      expect(await announced(() => h.store.withTenant(tenantId, (tx) => domainsRepo.add(tx, `${slug}.example.com`)))).toEqual([
        { op: 'insert', table: 'tenant_domains', tenant_id: tenantId },
      ]);
      heard.payloads.length = 0;
      expect(await announced(() => h.store.withTenant(tenantId, (tx) => tenantsRepo.update(tx, { status: 'suspended' })))).toEqual([
        { op: 'update', table: 'tenants', tenant_id: tenantId },
      ]);
      heard.payloads.length = 0;
      expect(await announced(() => h.store.withTenant(tenantId, (tx) => domainsRepo.remove(tx, `${slug}.example.com`)))).toEqual([
        { op: 'delete', table: 'tenant_domains', tenant_id: tenantId },
      ]);
    });

    it('a key insert and revoke are announced without any key material in the payload', async () => {
      const { id, key } = await createKey(h.store, tenantId, 'announced key');
      await h.store.withTenant(tenantId, (tx) => apiKeysRepo.revoke(tx, id));
      await heard.sync();
      expect(heard.changes()).toEqual([
        { op: 'insert', table: 'api_keys', tenant_id: tenantId },
        { op: 'update', table: 'api_keys', tenant_id: tenantId },
      ]);
      const stored = await h.store.withTenant(tenantId, (tx) => apiKeysRepo.get(tx, id));
      const all = heard.payloads.join('\n');
      for (const secretish of [key, key.slice(0, 12), stored?.hash.toString('hex') ?? 'missing', 'announced key', id, 'SETTINGS-CANARY']) {
        expect(all).not.toContain(secretish);
      }
      for (const p of heard.payloads.filter((x) => !x.startsWith('marker:'))) {
        const raw = JSON.parse(p) as Record<string, unknown>;
        expect(Object.keys(raw).sort()).toEqual(['op', 'table', 'tenant_id']);
        expect(parseConfigChange(p)).toEqual({ op: raw.op, table: raw.table, tenantId: raw.tenant_id });
      }
    });

    it('stays silent for last_used_at writes, updates that change nothing, and rolled-back work', async () => {
      const { id } = await createKey(h.store, tenantId, 'quiet key');
      await h.store.withTenant(tenantId, (tx) => apiKeysRepo.revoke(tx, id));
      await heard.sync(); // the insert's and revoke's own notifications, delivered before clearing
      heard.payloads.length = 0;
      const touched = await h.store.withTenant(tenantId, (tx) => keyUsageRepo.touch(tx, [{ keyId: id, at: Date.now() }]));
      expect(touched).toBe(1);
      await h.store.withTenant(tenantId, (tx) => apiKeysRepo.revoke(tx, id)); // already revoked: same values
      await h.store.withTenant(tenantId, (tx) => tenantsRepo.update(tx, {})); // only updated_at moves
      await h.store
        .withTenant(tenantId, async (tx) => {
          await teamsRepo.upsert(tx, { slug: 'never', name: 'Never' });
          throw new Error('roll back');
        })
        .catch(() => {});
      await heard.sync();
      expect(heard.changes()).toEqual([]);
    });

    it('a statement touching many rows sends one notification per tenant', async () => {
      const other = (await upsertTenantBySlug(h.store, { slug: `${slug}-b`, name: 'Other' })).tenant.id;
      await heard.sync();
      heard.payloads.length = 0;
      await h.store.admin((tx) =>
        tx.query('UPDATE tenants SET name = name || $1 WHERE id = ANY($2::uuid[])', ['!', [tenantId, other]]),
      );
      await heard.sync();
      expect(heard.changes().map((c) => c.tenant_id).sort()).toEqual([tenantId, other].sort());
    });

    it('each snapshot table has the four triggers, on a SECURITY INVOKER function; no SECURITY DEFINER anywhere', async () => {
      const catalog = await h.store.admin(async (tx) => {
        const triggers = await tx.query<{ table: string; n: number }>(
          `SELECT c.relname AS table, count(*)::int AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE NOT t.tgisinternal AND t.tgname LIKE 'gatehouse\\_notify\\_%' GROUP BY c.relname ORDER BY c.relname`,
        );
        const definers = await tx.query<{ proname: string }>(
          `SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE p.prosecdef AND n.nspname = current_schema()`,
        );
        return { triggers: triggers.rows, definers: definers.rows };
      });
      expect(catalog.triggers).toEqual(TABLES.map((table) => ({ table, n: 4 })));
      expect(catalog.definers).toEqual([]);
    });

    it("a tenant's limit rules and plan assignment name the tenant; rewriting a rule unchanged is silent", async () => {
      const r: LimitRule = { id: 'rpm', scope: 'tenant', subject: null, metric: 'requests', window: 'minute', limit: 5, burst: null, models: null };
      expect(await announced(() => h.store.withTenant(tenantId, (tx) => limitRulesRepo.upsert(tx, r)))).toEqual([
        { op: 'insert', table: 'limit_rules', tenant_id: tenantId },
      ]);
      heard.payloads.length = 0;
      expect(await announced(() => h.store.withTenant(tenantId, (tx) => limitRulesRepo.upsert(tx, r)))).toEqual([]);
      expect(await announced(() => h.store.withTenant(tenantId, (tx) => limitRulesRepo.upsert(tx, { ...r, limit: 6 })))).toEqual([
        { op: 'update', table: 'limit_rules', tenant_id: tenantId },
      ]);
      heard.payloads.length = 0;
      expect(await announced(() => h.store.withTenant(tenantId, (tx) => limitRulesRepo.remove(tx, 'rpm')))).toEqual([
        { op: 'delete', table: 'limit_rules', tenant_id: tenantId },
      ]);
      heard.payloads.length = 0;
      const free = await h.store.withTenant(tenantId, (tx) => plansRepo.getByName(tx, 'free'));
      expect(await announced(() => h.store.withTenant(tenantId, (tx) => tenantsRepo.update(tx, { planId: free?.id ?? null })))).toEqual([
        { op: 'update', table: 'tenants', tenant_id: tenantId },
      ]);
      heard.payloads.length = 0;
      expect(await announced(() => h.store.withTenant(tenantId, (tx) => tenantsRepo.update(tx, { budgetAction: 'clamp' })))).toEqual([
        { op: 'update', table: 'tenants', tenant_id: tenantId },
      ]);
    });

    it('a plan names no tenant: one notification per changing statement, nothing of the plan in it', async () => {
      const name = `canary-plan-${slug}`;
      const created = await h.store.withTenant(PLATFORM_SCOPE, (tx) => plansRepo.create(tx, { name, description: 'PLAN-CANARY', weight: 2, rules: [] }));
      if (!created.ok) throw new Error('plan not created');
      await heard.sync();
      expect(heard.changes()).toEqual([{ op: 'insert', table: 'plans', tenant_id: null }]);
      heard.payloads.length = 0;
      const id = created.plan.id;
      expect(await announced(() => h.store.withTenant(PLATFORM_SCOPE, (tx) => plansRepo.update(tx, id, { weight: 2 })))).toEqual([]);
      expect(await announced(() => h.store.withTenant(PLATFORM_SCOPE, (tx) => plansRepo.update(tx, id, { weight: 3 })))).toEqual([
        { op: 'update', table: 'plans', tenant_id: null },
      ]);
      heard.payloads.length = 0;
      expect(await announced(() => h.store.withTenant(PLATFORM_SCOPE, (tx) => tx.query('DELETE FROM plans WHERE id = $1', ['00000000-0000-4000-8000-000000000000'])))).toEqual([]);
      expect(await announced(() => h.store.withTenant(PLATFORM_SCOPE, (tx) => plansRepo.remove(tx, id)))).toEqual([
        { op: 'delete', table: 'plans', tenant_id: null },
      ]);
      const all = heard.payloads.join('\n');
      for (const secretish of [name, 'PLAN-CANARY', id]) expect(all).not.toContain(secretish);
    });

    it('TRUNCATE (owner only) announces "everything" with a null tenant', async () => {
      await h.store.admin((tx) => tx.query('TRUNCATE tenant_domains'));
      await heard.sync();
      expect(heard.changes()).toEqual([{ op: 'truncate', table: 'tenant_domains', tenant_id: null }]);
    });
  });
}
