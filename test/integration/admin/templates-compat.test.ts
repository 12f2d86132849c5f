/**
 * The admin API's legacy tenant fields (`template`, `limits`) on top of plans and limit rules
 * (migration 0008): a template is a plan, each legacy limit a tenant override of a fixed rule id,
 * and the data plane's snapshot sees the result.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../../src/admin/context.js';
import { etagOf } from '../../../src/admin/http/etag.js';
import { createTenant, loadTenant, updateTenant } from '../../../src/admin/services/tenants.js';
import { GatewayError } from '../../../src/errors.js';
import { limitRulesRepo, type Store } from '../../../src/store/index.js';
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { loadTenancy } from '../../../src/tenancy/bootstrap.js';
import { buildSnapshot } from '../../../src/tenancy/snapshot.js';

const actor: Actor = {
  principal: { scope: 'platform', role: 'platform_admin', id: 'test', label: 'test', kind: 'cli', keyId: null },
  requestId: null,
  sourceIp: null,
};

async function problem(p: Promise<unknown>): Promise<{ code: string; param: string | null } | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    return { code: err.code, param: err.param };
  }
}

describe('legacy template and limits fields over plans and limit rules', () => {
  let store: Store;
  const id = randomUUID();
  beforeAll(async () => {
    store = await openPgliteTestStore();
  });
  afterAll(async () => store?.close());

  const own = () => store.withTenant(id, async (tx) => (await limitRulesRepo.list(tx)).map((r) => [r.id, r.limit]));

  it('creating from a template puts the tenant on that plan; only limits that differ become overrides', async () => {
    const t = await store.withTenant(id, (tx) =>
      createTenant(tx, actor, { slug: `compat-${id.slice(0, 8)}`, name: 'C', template: 'free', limits: { requests_per_minute: 120, max_concurrency: 4 } }),
    );
    expect(t.version).toBe(1);
    expect(t.plan).toEqual({ template: 'free', limits: { requests_per_minute: 120, tokens_per_day: 200_000, max_concurrency: 4, monthly_budget_cents: 0 } });
    expect(await own()).toEqual([['requests-per-minute', 120]]);
    const snapshot = buildSnapshot({ ...(await loadTenancy(store)), deployments: [] });
    expect(snapshot.tenantsById.get(id)?.limits).toMatchObject({ plan: 'free', weight: 1 });
    expect(snapshot.tenantsById.get(id)?.limits?.rules.find((r) => r.id === 'requests-per-minute')?.limit).toBe(120);
  });

  it('a limits-only change moves the ETag; money is stored in micro-units', async () => {
    const before = await store.withTenant(id, (tx) => loadTenant(tx));
    const after = await store.withTenant(id, (tx) =>
      updateTenant(tx, actor, { limits: { monthly_budget_cents: 250 } }, { any: false, tags: [etagOf(before.version)] }),
    );
    expect(after.version).toBeGreaterThan(before.version);
    expect(after.plan.limits.monthly_budget_cents).toBe(250);
    expect(await own()).toEqual([['budget-monthly', 2_500_000], ['requests-per-minute', 120]]);
  });

  it("null removes an override, but cannot remove the plan's own limit", async () => {
    const t = await store.withTenant(id, (tx) => loadTenant(tx));
    expect(await problem(store.withTenant(id, (tx) => updateTenant(tx, actor, { limits: { tokens_per_day: null } }, { any: true })))).toEqual({
      code: 'invalid_request',
      param: 'limits.tokens_per_day',
    });
    const after = await store.withTenant(id, (tx) => updateTenant(tx, actor, { limits: { monthly_budget_cents: 0 } }, { any: false, tags: [etagOf(t.version)] }));
    expect(after.plan.limits.monthly_budget_cents).toBe(0);
    expect(await own()).toEqual([['requests-per-minute', 120]]); // equal to the plan: no override
  });

  it('a new template drops the legacy overrides (re-applies the plan) and takes new ones; unknown plans are refused', async () => {
    await store.withTenant(id, (tx) =>
      limitRulesRepo.upsert(tx, { id: 'per-key', scope: 'key', subject: null, metric: 'requests', window: 'second', limit: 2, burst: null, models: null }),
    );
    const after = await store.withTenant(id, (tx) => updateTenant(tx, actor, { template: 'enterprise', limits: { tokens_per_day: 9_000 } }, { any: true }));
    expect(after.plan).toEqual({ template: 'enterprise', limits: { requests_per_minute: 30_000, tokens_per_day: 9_000, max_concurrency: 512, monthly_budget_cents: null } });
    expect(await own()).toEqual([['per-key', 2], ['tokens-per-day', 9_000]]); // rules of its own are kept
    expect(await problem(store.withTenant(id, (tx) => updateTenant(tx, actor, { template: 'platinum' }, { any: true })))).toEqual({
      code: 'invalid_request',
      param: 'template',
    });
  });
});
