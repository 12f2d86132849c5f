/**
 * Limits in the hot-path snapshot: each tenant's plan and overrides composed, kept fresh by the
 * refresher. Two replicas (two stores, two refreshers, one PostgreSQL database) must each see a
 * change to a tenant's limit rule, and a change to a PLAN (every tenant on it), within a second,
 * without a full reload. The same runs on PGlite with two refreshers in one process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LimitRule } from '../../../src/limits/types.js';
import { limitRulesRepo, openStore, plansRepo, tenantsRepo, upsertTenantBySlug, type Store } from '../../../src/store/index.js';
import { createPostgresTestDatabase, openPgliteTestStore, type PostgresTestDatabase } from '../../../src/store/testing.js';
import { loadTenancy } from '../../../src/tenancy/bootstrap.js';
import { createConfigRefresh, type ConfigRefresh } from '../../../src/tenancy/refresh.js';
import { buildSnapshot, createRegistry, type Registry } from '../../../src/tenancy/snapshot.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';
import { captureLogs, waitFor } from './helpers.js';

const PLATFORM_SCOPE = '00000000-0000-0000-0000-000000000000';
const WITHIN_MS = 1_000;
const available = await postgresAvailable();

const rule = (id: string, limit: number, over: Partial<LimitRule> = {}): LimitRule => ({
  id, scope: 'tenant', subject: null, metric: 'requests', window: 'minute', limit, burst: null, models: null, ...over,
});

interface Replica {
  registry: Registry;
  refresh: ConfigRefresh;
  fullLoads: () => number;
}

async function replica(store: Store): Promise<Replica> {
  let loads = 0;
  const load = async () => {
    loads += 1;
    return loadTenancy(store);
  };
  const registry = createRegistry(buildSnapshot({ ...(await loadTenancy(store)), deployments: [] }));
  const refresh = createConfigRefresh({ store, registry, deployments: [], logger: captureLogs().logger, fullReloadMs: 0, load });
  await refresh.start();
  await waitFor('the start-up reload', () => refresh.stats().reloads >= 1);
  return { registry, refresh, fullLoads: () => loads };
}

const limitsOf = (r: Replica, tenantId: string) => r.registry.current.tenantsById.get(tenantId)?.limits;

function limitsSuite(label: string, open: () => Promise<{ writer: Store; stores: [Store, Store]; close(): Promise<void> }>): void {
  describe(`limits in the snapshot [${label}]`, () => {
    let env: Awaited<ReturnType<typeof open>>;
    let one: Replica;
    let two: Replica;
    let planId: string;
    let onPlan: string[];
    let other: string;
    let bare: string;
    const planName = `team-plan-${Math.random().toString(36).slice(2, 8)}`;
    const timings: Record<string, number | undefined> = {};

    beforeAll(async () => {
      env = await open();
      const created = await env.writer.withTenant(PLATFORM_SCOPE, (tx) =>
        plansRepo.create(tx, { name: planName, weight: 5, budgetAction: 'clamp', rules: [rule('rpm', 100), rule('conc', 8, { metric: 'concurrency', window: null })] }),
      );
      if (!created.ok) throw new Error('plan');
      planId = created.plan.id;
      onPlan = [];
      for (const n of [1, 2]) {
        const { tenant } = await upsertTenantBySlug(env.writer, { slug: `${planName}-t${n}`, name: `T${n}`, planId, timeZone: 'Asia/Tokyo' });
        onPlan.push(tenant.id);
      }
      const free = await env.writer.platform((tx) => plansRepo.getByName(tx, 'free'));
      other = (await upsertTenantBySlug(env.writer, { slug: `${planName}-other`, name: 'Other', planId: free?.id ?? null })).tenant.id;
      bare = (await upsertTenantBySlug(env.writer, { slug: `${planName}-bare`, name: 'Bare' })).tenant.id;
      // Tenant 1 raises the plan's rate and adds a per-key rule of its own.
      await env.writer.withTenant(onPlan[0] as string, (tx) =>
        limitRulesRepo.replaceAll(tx, [rule('rpm', 150), rule('per-key', 10, { scope: 'key', burst: 20 })]),
      );
      one = await replica(env.stores[0]);
      two = await replica(env.stores[1]);
    });
    afterAll(async () => {
      await one?.refresh.stop();
      await two?.refresh.stop();
      await env?.close();
      console.info(`limits propagation [${label}] (ms): ${JSON.stringify(timings)}`);
    });

    it('every tenant carries its composed limits; a tenant without plan or rules has empty ones', () => {
      for (const r of [one, two]) {
        expect(limitsOf(r, onPlan[0] as string)).toEqual({
          plan: planName,
          weight: 5,
          rules: [rule('rpm', 150), rule('conc', 8, { metric: 'concurrency', window: null }), rule('per-key', 10, { scope: 'key', burst: 20 })],
          timeZone: 'Asia/Tokyo',
          budgetAction: 'clamp',
        });
        expect(limitsOf(r, onPlan[1] as string)?.rules).toEqual([rule('rpm', 100), rule('conc', 8, { metric: 'concurrency', window: null })]);
        expect(limitsOf(r, other)).toMatchObject({ plan: 'free', weight: 1, budgetAction: 'reject' });
        expect(limitsOf(r, bare)).toEqual({ plan: null, weight: 1, rules: [], timeZone: 'UTC', budgetAction: 'reject' });
      }
    });

    it("a change to one tenant's limit rule reaches both replicas within a second, without a full reload", async () => {
      const before = [one.fullLoads(), two.fullLoads()];
      await env.writer.withTenant(onPlan[1] as string, (tx) => limitRulesRepo.upsert(tx, rule('rpm', 42)));
      const seen = (r: Replica) => limitsOf(r, onPlan[1] as string)?.rules.find((x) => x.id === 'rpm')?.limit === 42;
      // Both clocks start at the commit.
      [timings.ruleOne, timings.ruleTwo] = await Promise.all([
        waitFor('replica one to see the rule', () => seen(one), 5_000, 5),
        waitFor('replica two to see the rule', () => seen(two), 5_000, 5),
      ]);
      expect(Math.max(timings.ruleOne ?? Infinity, timings.ruleTwo ?? Infinity)).toBeLessThan(WITHIN_MS);
      expect([one.fullLoads(), two.fullLoads()]).toEqual(before);
      expect(limitsOf(one, onPlan[0] as string)?.rules[0]).toEqual(rule('rpm', 150)); // the other tenant keeps its own
    });

    it('a change to a PLAN reaches every tenant on it on both replicas within a second, without a full reload', async () => {
      const before = [one.fullLoads(), two.fullLoads()];
      const patched = [one.refresh.stats().patches, two.refresh.stats().patches];
      const updated = await env.writer.withTenant(PLATFORM_SCOPE, (tx) =>
        plansRepo.update(tx, planId, { weight: 7, rules: [rule('rpm', 100), rule('conc', 3, { metric: 'concurrency', window: null }), rule('tpd', 9, { metric: 'tokens', window: 'day' })] }),
      );
      expect(updated.ok).toBe(true);
      const seen = (r: Replica) =>
        onPlan.every((id) => limitsOf(r, id)?.weight === 7 && limitsOf(r, id)?.rules.some((x) => x.id === 'tpd'));
      [timings.planOne, timings.planTwo] = await Promise.all([
        waitFor('replica one to apply the plan to its tenants', () => seen(one), 5_000, 5),
        waitFor('replica two to apply the plan to its tenants', () => seen(two), 5_000, 5),
      ]);
      expect(Math.max(timings.planOne ?? Infinity, timings.planTwo ?? Infinity)).toBeLessThan(WITHIN_MS);
      expect([one.fullLoads(), two.fullLoads()]).toEqual(before);
      expect(one.refresh.stats().patches).toBeGreaterThan(patched[0] as number);
      for (const r of [one, two]) {
        // Overrides still win over the new plan; a tenant on another plan is untouched.
        expect(limitsOf(r, onPlan[0] as string)?.rules.map((x) => [x.id, x.limit])).toEqual([['rpm', 150], ['conc', 3], ['tpd', 9], ['per-key', 10]]);
        expect(limitsOf(r, onPlan[1] as string)?.rules.map((x) => [x.id, x.limit])).toEqual([['rpm', 42], ['conc', 3], ['tpd', 9]]);
        expect(limitsOf(r, other)?.plan).toBe('free');
      }
    });

    it('a tenant moved to a plan created after start gets it; its budget action overrides the plan', async () => {
      const created = await env.writer.withTenant(PLATFORM_SCOPE, (tx) => plansRepo.create(tx, { name: `${planName}-new`, weight: 2, rules: [rule('rps', 1, { window: 'second' })] }));
      if (!created.ok) throw new Error('plan');
      await env.writer.withTenant(bare, (tx) => tenantsRepo.update(tx, { planId: created.plan.id, budgetAction: 'clamp' }));
      const seen = (r: Replica) => limitsOf(r, bare)?.plan === `${planName}-new` && limitsOf(r, bare)?.budgetAction === 'clamp';
      await waitFor('both replicas to see the move', () => seen(one) && seen(two), 5_000, 5);
      expect(limitsOf(two, bare)).toEqual({ plan: `${planName}-new`, weight: 2, rules: [rule('rps', 1, { window: 'second' })], timeZone: 'UTC', budgetAction: 'clamp' });
    });

    it("reloadPlans() resolves once this replica's snapshot has the plan change (read-your-writes for the admin API)", async () => {
      await one.refresh.settled();
      await env.writer.withTenant(PLATFORM_SCOPE, (tx) => plansRepo.update(tx, planId, { budgetAction: 'reject' }));
      await one.refresh.reloadPlans();
      expect(limitsOf(one, onPlan[1] as string)?.budgetAction).toBe('reject');
    });
  });
}

limitsSuite('PGlite, two refreshers in one process', async () => {
  const store = await openPgliteTestStore();
  return { writer: store, stores: [store, store], close: () => store.close() };
});

if (available) {
  limitsSuite('PostgreSQL, two replicas', async () => {
    const db: PostgresTestDatabase = await createPostgresTestDatabase(POSTGRES_URL);
    const writer = await openStore({ databaseUrl: db.url, poolSize: 2 });
    await writer.migrate();
    const a = await openStore({ databaseUrl: db.url, poolSize: 2 });
    const b = await openStore({ databaseUrl: db.url, poolSize: 2 });
    return {
      writer,
      stores: [a, b],
      async close() {
        await a.close();
        await b.close();
        await db.drop(writer);
      },
    };
  });
}
