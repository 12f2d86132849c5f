/**
 * The ledger's figures for a tenant's day/month counters (src/billing/limit-seeds.ts) on both
 * stores, against the same figures computed here from the raw events: tenant, team and key rules
 * from the rollups; end-user rules and compute units from usage_events, compute units rounded up
 * per event at each deployment's weight as admission rounds them (fractional weights included),
 * keys at the root of their rotation chain, client errors left out of request counts, windows in
 * the tenant's zone across a month boundary.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limitSeedsFromLedger } from '../../../src/billing/limit-seeds.js';
import { counterBase, windowKey } from '../../../src/limits/admission.js';
import type { LimitRule, Metric, TenantLimits } from '../../../src/limits/types.js';
import { calendarWindow, calendarWindowStart } from '../../../src/limits/windows.js';
import { tenantsRepo, usageRepo, type Store, type UsageEventRecord } from '../../../src/store/index.js';
import { bothStores } from '../../helpers/stores.js';
import { randomEvents } from '../metering/events.js';

const ZONE = 'America/New_York';
// Events from 30 Dec, 19:00 to 2 Jan, 19:00 in New York; "now" is 2 Jan, 12:00 there: the month
// window leaves December out, the day window 1 January too.
const BASE = Date.UTC(2026, 11, 31, 0, 0, 0);
const NOW = Date.UTC(2027, 0, 2, 17, 0, 0);
const WEIGHTS = new Map([
  ['dep-1', 0.3],
  ['dep-2', 1.7],
]);
const DEPLOYMENTS = [null, 'dep-1', 'dep-2', 'tenant:own'] as const;

const factories = await bothStores();

const rule = (id: string, scope: LimitRule['scope'], metric: Metric, window: 'day' | 'month', extra: Partial<LimitRule> = {}): LimitRule => ({
  id,
  scope,
  subject: null,
  metric,
  window,
  limit: 1_000_000_000,
  burst: null,
  models: null,
  ...extra,
});

function value(e: UsageEventRecord, metric: Metric): number {
  switch (metric) {
    case 'requests':
      return !e.clientAborted && e.status >= 400 && e.status < 500 ? 0 : 1;
    case 'tokens':
      return e.inputTokens + e.outputTokens;
    case 'cost':
      return e.costMicros;
    case 'compute_units':
      // Admission's computeUnits: ⌈weight × tokens⌉ per request.
      return Math.ceil((WEIGHTS.get(e.deploymentId ?? '') ?? 1) * (e.inputTokens + e.outputTokens));
    default:
      throw new Error(`not used here: ${metric}`);
  }
}

/** What every counter should hold, computed from the events alone. */
function expected(tenantId: string, limits: TenantLimits, events: readonly UsageEventRecord[]): Map<string, number> {
  const root = (k: string | null) => (k === null ? null : (limits.keyLineage?.get(k) ?? k));
  const out = new Map<string, number>();
  for (const r of limits.rules) {
    const w = r.window as 'day' | 'month';
    const start = calendarWindowStart(NOW, ZONE, w);
    const period = calendarWindow(NOW, ZONE, w);
    for (const e of events) {
      if (e.occurredAt < start || e.occurredAt >= period.resetAt) continue;
      if (r.models !== null && !r.models.includes(e.model)) continue;
      const subject = r.scope === 'tenant' ? null : r.scope === 'team' ? e.teamId : r.scope === 'key' ? root(e.keyId) : e.endUser;
      if (r.scope !== 'tenant' && subject === null) continue;
      if (r.subject !== null && (r.scope === 'key' ? root(r.subject) : r.subject) !== subject) continue;
      const key = windowKey(counterBase(tenantId, r.id), period.id, subject);
      out.set(key, (out.get(key) ?? 0) + value(e, r.metric));
    }
  }
  for (const [k, v] of out) if (v <= 0) out.delete(k);
  return out;
}

for (const f of factories) {
  describe.skipIf(f.skip)(`limit seeds from the ledger [${f.label}]`, () => {
    let store: Store;
    let close: () => Promise<void>;
    const tenant = randomUUID();
    let events: UsageEventRecord[];

    beforeAll(async () => {
      ({ store, close } = await f.open());
      await store.withTenant(tenant, (tx) => tenantsRepo.insert(tx, { slug: `s-${tenant.slice(0, 8)}`, name: 'S', timeZone: ZONE }));
      events = randomEvents(tenant, 600, 7, BASE).map((e, i) => ({ ...e, deploymentId: DEPLOYMENTS[i % DEPLOYMENTS.length] ?? null }));
      await store.withTenant(tenant, (tx) => usageRepo.ingest(tx, events));
    });
    afterAll(async () => close?.());

    it('every counter holds the sum of its events: rollup rules, end users, compute units, rotated keys', async () => {
      const keys = [...new Set(events.map((e) => e.keyId).filter((k): k is string => k !== null))];
      const teams = [...new Set(events.map((e) => e.teamId).filter((t): t is string => t !== null))];
      expect(keys.length).toBeGreaterThanOrEqual(3);
      const [k1, k2, k3] = keys as [string, string, string];
      const limits: TenantLimits = {
        plan: null,
        weight: 1,
        timeZone: ZONE,
        budgetAction: 'reject',
        keyLineage: new Map([[k2, k1]]), // k2 was made by rotating k1: one counter for both
        rules: [
          // From the rollups.
          rule('requests-day', 'tenant', 'requests', 'day'),
          rule('cost-month', 'tenant', 'cost', 'month'),
          rule('key-tokens-day', 'key', 'tokens', 'day'),
          // From the events: end users...
          rule('user-requests-day', 'user', 'requests', 'day'),
          rule('user-tokens-month', 'user', 'tokens', 'month', { subject: 'user-1' }),
          rule('user-cost-day-mini', 'user', 'cost', 'day', { models: ['gpt-4o-mini'] }),
          // ...and compute units of every scope.
          rule('units-day', 'tenant', 'compute_units', 'day'),
          rule('units-month', 'tenant', 'compute_units', 'month'),
          rule('team-units-month', 'team', 'compute_units', 'month', { subject: teams[0] ?? null }),
          rule('key-units-day', 'key', 'compute_units', 'day'),
          rule('rotated-key-units-day', 'key', 'compute_units', 'day', { subject: k2 }),
          rule('user-units-day', 'user', 'compute_units', 'day'),
          // Not a calendar rule: never seeded.
          { ...rule('rpm', 'tenant', 'requests', 'day'), window: 'minute' },
          { ...rule('conc', 'tenant', 'concurrency', 'day'), window: null },
        ],
      };
      const seeds = await limitSeedsFromLedger({ store, weights: WEIGHTS, limitsOf: () => limits, now: () => NOW })(tenant);
      const got = new Map(seeds.map((s) => [s.key, s.used]));
      expect(got.size).toBe(seeds.length); // one seed per counter
      const want = expected(tenant, { ...limits, rules: limits.rules.filter((r) => r.window === 'day' || r.window === 'month') }, events);
      expect(got).toEqual(want);

      // The test means something: each kind of counter is there, with usage, and weights and
      // lineage changed figures.
      const period = calendarWindow(NOW, ZONE, 'day');
      const dayKey = (id: string, subject: string | null) => windowKey(counterBase(tenant, id), period.id, subject);
      for (const id of ['requests-day', 'units-day']) expect(got.get(dayKey(id, null))).toBeGreaterThan(0);
      expect([...got.keys()].filter((k) => k.includes(':user-requests-day:')).length).toBe(3);
      expect(got.has(dayKey('key-units-day', k2))).toBe(false); // counted under k1
      expect(got.get(dayKey('rotated-key-units-day', k1))).toBe(got.get(dayKey('key-units-day', k1)));
      expect(got.get(dayKey('key-units-day', k3))).toBeGreaterThan(0);
      const today = events.filter((e) => e.occurredAt >= calendarWindowStart(NOW, ZONE, 'day') && e.occurredAt < period.resetAt);
      const unweighted = today.reduce((a, e) => a + e.inputTokens + e.outputTokens, 0);
      expect(got.get(dayKey('units-day', null))).not.toBe(unweighted);
      const thisMonth = events.filter((e) => e.occurredAt >= calendarWindowStart(NOW, ZONE, 'month'));
      expect(thisMonth.length).toBeGreaterThan(today.length);
      expect(thisMonth.length).toBeLessThan(events.length);
      expect(got.get(dayKey('units-day', null))).toBeLessThan(got.get(windowKey(counterBase(tenant, 'units-month'), calendarWindow(NOW, ZONE, 'month').id, null)) as number);
      for (const s of seeds) expect(s.resetAt).toBe(calendarWindow(NOW, ZONE, s.key.includes('-month:') ? 'month' : 'day').resetAt);
    });

    it('a tenant without calendar rules reads nothing; only end-user rules read only events with an end user', async () => {
      const none: TenantLimits = { plan: null, weight: 1, timeZone: ZONE, budgetAction: 'reject', rules: [] };
      const failing: Pick<Store, 'withTenant'> = { withTenant: () => Promise.reject(new Error('no read expected')) };
      expect(await limitSeedsFromLedger({ store: failing, limitsOf: () => none, now: () => NOW })(tenant)).toEqual([]);
      expect(await limitSeedsFromLedger({ store: failing, limitsOf: () => undefined, now: () => NOW })(tenant)).toEqual([]);

      const users: TenantLimits = { ...none, rules: [rule('user-tokens-day', 'user', 'tokens', 'day')] };
      const seeds = await limitSeedsFromLedger({ store, limitsOf: () => users, now: () => NOW })(tenant);
      expect(new Map(seeds.map((s) => [s.key, s.used]))).toEqual(expected(tenant, users, events));
    });
  });
}
