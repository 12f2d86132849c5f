/**
 * Forecasts with the limits backend's counters, against a real store and the real limit service
 * (in memory, and on Redis when it runs): requests admitted but not settled (in flight or queued)
 * are counted as reserved and bring the exhaustion forward; an end-user rule is forecast from its
 * counter and the lookback's raw events; the admission stage's own reservations are what is read.
 * With Redis unreachable the counters are unknown: end-user forecasts are left out, the rest stay.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantForecasts } from '../../../src/billing/alerts/job.js';
import { forecastRules } from '../../../src/billing/alerts/usage.js';
import { applicableRules, planCharges, type Subjects } from '../../../src/limits/admission.js';
import { createLimitService, type LimitService } from '../../../src/limits/service.js';
import type { LimitRule, TenantLimits } from '../../../src/limits/types.js';
import { createLogger } from '../../../src/observability/logger.js';
import { tenantsRepo, usageRepo, type Store, type UsageEventRecord } from '../../../src/store/index.js';
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { REDIS_URL, redisAvailable } from '../../helpers/services.js';

const HOUR = 3_600_000;
const redis = await redisAvailable();

function event(tenantId: string, at: number, endUser: string | null): UsageEventRecord {
  return {
    tenantId, eventId: randomUUID(), requestId: randomUUID(), occurredAt: at, teamId: null, keyId: null, endUser, tags: [], model: 'gpt-4o-mini',
    deploymentId: null, provider: 'mock', region: null, inputTokens: 10, outputTokens: 10, cachedTokens: 0, costMicros: 100, priceVersion: null,
    latencyMs: 5, ttftMs: null, status: 200, streamed: false, clientAborted: false, usageEstimated: false, cacheHit: false,
  };
}

const backends = [
  { label: 'memory', skip: false, open: () => createLimitService({ logger: createLogger('silent') }) },
  { label: 'Redis', skip: !redis, open: () => createLimitService({ logger: createLogger('silent'), redisUrl: REDIS_URL }) },
];

for (const b of backends) {
  describe.skipIf(b.skip)(`forecasts read the limit counters [${b.label}]`, () => {
    let store: Store;
    let limits: LimitService;
    beforeAll(async () => {
      store = await openPgliteTestStore();
      limits = b.open();
    });
    afterAll(async () => {
      await limits?.close();
      await store?.close();
    });

    it('reservations of unfinished requests, and an end-user rule from its counter', async () => {
      const tenant = randomUUID();
      await store.withTenant(tenant, (tx) => tenantsRepo.insert(tx, { slug: `f-${tenant.slice(0, 8)}`, name: 'F', timeZone: 'UTC' }));
      // Mid-day UTC, so the day has room after the lookback.
      const now = Math.floor(Date.now() / 86_400_000) * 86_400_000 + 12 * HOUR + 30 * 60_000;
      const rules: LimitRule[] = [
        { id: 'daily', scope: 'tenant', subject: null, metric: 'requests', window: 'day', limit: 40, burst: null, models: null },
        { id: 'alice-daily', scope: 'user', subject: 'alice', metric: 'requests', window: 'day', limit: 30, burst: null, models: null },
      ];
      const tl: TenantLimits = { plan: null, weight: 1, rules, timeZone: 'UTC', budgetAction: 'reject' };
      // 13 finished requests in the lookback (2 an hour), all alice's.
      await store.withTenant(tenant, (tx) => usageRepo.ingest(tx, Array.from({ length: 13 }, (_, i) => event(tenant, now - 6 * HOUR + i * 30 * 60_000 - 1, 'alice'))));

      const forecast = (withCounters: boolean) =>
        store.withTenant(tenant, (tx) => tenantForecasts(tx, forecastRules(tl), 'UTC', now, 6, withCounters ? { counters: limits } : {}));
      const before = await forecast(false);
      expect(before.forecasts.map((f) => f.ruleId)).toEqual(['daily']); // no counters: no end-user forecast
      // 27 left at 2/h is 13.5 h: past midnight, so it does not run out today.
    expect(before.forecasts[0]).toMatchObject({ used: 13, reserved: 0, exhaustsAt: null });

      // What admission would do for alice: 13 settled on her counters, then 7 requests admitted and unfinished.
      const s: Subjects = { tenantId: tenant, teamId: null, keyId: 'k', userId: 'alice', model: 'gpt-4o-mini' };
      const estimate = { inputTokens: 10, outputTokens: 10, costMicros: 100, computeUnits: 20 };
      const planned = planCharges(tl, applicableRules(tl, s), s, estimate, now);
      for (let i = 0; i < 13; i++) {
        const id = randomUUID();
        const charges = planned.map((p) => p.charge);
        expect((await limits.reserve(id, charges, 60_000, 'closed')).ok).toBe(true);
        limits.settle(id, charges, charges.map(() => 1), undefined);
      }
      for (let i = 0; i < 7; i++) expect((await limits.reserve(randomUUID(), planned.map((p) => p.charge), 60_000, 'closed')).ok).toBe(true);
      await new Promise((r) => setTimeout(r, 50)); // Redis settles are not awaited by admission either

      const live = await forecast(true);
      const daily = live.forecasts.find((f) => f.ruleId === 'daily');
      const alice = live.forecasts.find((f) => f.ruleId === 'alice-daily');
      // 13 used + 7 reserved of 40, at 2/h: 10 h.
      expect(daily).toMatchObject({ used: 13, reserved: 7, exhaustsAt: now + 10 * HOUR });
      // 13 + 7 of 30 at 2/h: 5 h; the rate from her raw events, the usage from her counter.
      expect(alice).toMatchObject({ subject: 'alice', used: 13, reserved: 7, exhaustsAt: now + 5 * HOUR, single: true });
      expect(alice?.ratePerHour).toBeCloseTo(2, 5);
    });
  });
}

describe('forecasts while Redis is unreachable', () => {
  it('leave out what rests on the counters alone and keep the rollup forecasts', async () => {
    const store = await openPgliteTestStore();
    const limits = createLimitService({ logger: createLogger('silent'), redisUrl: 'redis://127.0.0.1:1' });
    try {
      const tenant = randomUUID();
      await store.withTenant(tenant, (tx) => tenantsRepo.insert(tx, { slug: `d-${tenant.slice(0, 8)}`, name: 'D', timeZone: 'UTC' }));
      const rules: LimitRule[] = [
        { id: 'daily', scope: 'tenant', subject: null, metric: 'requests', window: 'day', limit: 40, burst: null, models: null },
        { id: 'alice-daily', scope: 'user', subject: 'alice', metric: 'requests', window: 'day', limit: 30, burst: null, models: null },
      ];
      const tl: TenantLimits = { plan: null, weight: 1, rules, timeZone: 'UTC', budgetAction: 'reject' };
      const r = await store.withTenant(tenant, (tx) => tenantForecasts(tx, forecastRules(tl), 'UTC', Date.now(), 6, { counters: limits }));
      expect(r.forecasts.map((f) => [f.ruleId, f.reserved])).toEqual([['daily', 0]]);
    } finally {
      await limits.close();
      await store.close();
    }
  });
});
