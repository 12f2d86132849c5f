/**
 * The alert job against seeded usage (through the metering repo's ingest, so the rollups are the
 * real ones), on PGlite and PostgreSQL: budget threshold crossings raise once per threshold and
 * window, the tenant's thresholds setting applies, forecasts fill the cache, a spike raises an
 * anomaly, and the outbox gets the deliveries.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlertJob, evaluateTenant } from '../../../src/billing/alerts/job.js';
import { createForecastCache } from '../../../src/billing/alerts/forecast.js';
import { tenantSealer } from '../../../src/crypto/envelope.js';
import { processKeyring } from '../../../src/crypto/process-keyring.js';
import type { LimitRule, TenantLimits } from '../../../src/limits/types.js';
import { alertsRepo, tenantsRepo, usageRepo, webhooksRepo, type Store, type UsageEventRecord } from '../../../src/store/index.js';
import { bothStores } from '../../helpers/stores.js';

const sealer = tenantSealer(processKeyring(Buffer.alloc(32, 7), []));
const HOUR = 3_600_000;

function event(tenantId: string, at: number, costMicros: number, extra: Partial<UsageEventRecord> = {}): UsageEventRecord {
  return {
    tenantId,
    eventId: randomUUID(),
    requestId: randomUUID(),
    occurredAt: at,
    teamId: null,
    keyId: null,
    endUser: null,
    tags: [],
    model: 'gpt-4o-mini',
    deploymentId: null,
    provider: 'mock',
    region: null,
    inputTokens: 10,
    outputTokens: 10,
    cachedTokens: 0,
    costMicros,
    priceVersion: null,
    latencyMs: 5,
    ttftMs: null,
    status: 200,
    streamed: false,
    clientAborted: false,
    usageEstimated: false,
    cacheHit: false,
    ...extra,
  };
}

const monthly = (limit: number): LimitRule => ({ id: 'monthly-spend', scope: 'tenant', subject: null, metric: 'cost', window: 'month', limit, burst: null, models: null });
const limitsOf = (rules: LimitRule[], timeZone = 'Europe/Berlin'): TenantLimits => ({ plan: null, weight: 1, rules, timeZone, budgetAction: 'reject' });

const flavours = await bothStores();

for (const f of flavours) {
  describe.skipIf(f.skip)(`alert evaluation [${f.label}]`, () => {
    let store: Store;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ store, close } = await f.open());
    });
    afterAll(async () => close?.());

    async function tenantWithHook(timeZone = 'Europe/Berlin'): Promise<string> {
      const id = randomUUID();
      await store.withTenant(id, (tx) => tenantsRepo.insert(tx, { slug: `t-${id.slice(0, 8)}`, name: 'T', timeZone }));
      await store.withTenant(id, (tx) => webhooksRepo.create(tx, sealer, { url: 'http://127.0.0.1:9/hook', events: ['budget.threshold', 'usage.anomaly'], secret: 'whsec-0123456789abcdef' }));
      return id;
    }

    it('raises each threshold crossing once per window, from the rollups', async () => {
      const tenant = await tenantWithHook();
      const now = Date.now();
      const limits = limitsOf([monthly(10_000_000)]);
      await store.withTenant(tenant, (tx) => usageRepo.ingest(tx, [event(tenant, now - 60_000, 4_000_000), event(tenant, now - 30_000, 4_500_000)]));
      const first = await store.withTenant(tenant, (tx) => evaluateTenant(tx, { id: tenant, limits }, now));
      // 85 % of the budget: 50 and 80, and (unless the month ends within the hour) the forecast
      // that the rest runs out before the month does.
      const forecastAlerts = first.forecasts.filter((fc) => fc.exhaustsAt !== null && fc.exhaustsAt > now).length;
      expect(first.raised).toBe(2 + forecastAlerts);
      const again = await store.withTenant(tenant, (tx) => evaluateTenant(tx, { id: tenant, limits }, now));
      expect(again.raised).toBe(0);
      await store.withTenant(tenant, (tx) => usageRepo.ingest(tx, [event(tenant, now - 10_000, 2_000_000)]));
      const third = await store.withTenant(tenant, (tx) => evaluateTenant(tx, { id: tenant, limits }, now));
      expect(third.raised).toBe(1);
      const alerts = (await store.withTenant(tenant, (tx) => alertsRepo.list(tx, { limit: 10 }))).filter((a) => a.kind === 'budget.threshold');
      expect(alerts.map((a) => a.payload.threshold_percent).sort()).toEqual([100, 50, 80]);
      expect(alerts.every((a) => a.kind === 'budget.threshold' && a.deliveries.pending === 1)).toBe(true);
      expect(alerts[0]?.payload).toMatchObject({ rule_id: 'monthly-spend', metric: 'cost', window: 'month', used: 10_500_000, limit: 10_000_000 });
    });

    it("uses the tenant's thresholds setting and ignores other tenants' usage", async () => {
      const tenant = await tenantWithHook();
      const other = await tenantWithHook();
      const now = Date.now();
      await store.withTenant(tenant, (tx) => alertsRepo.setSettings(tx, { budgetThresholds: [25] }));
      await store.withTenant(other, (tx) => usageRepo.ingest(tx, [event(other, now - 1000, 9_000_000)]));
      await store.withTenant(tenant, (tx) => usageRepo.ingest(tx, [event(tenant, now - 1000, 3_000_000)]));
      const r = await store.withTenant(tenant, (tx) => evaluateTenant(tx, { id: tenant, limits: limitsOf([monthly(10_000_000)]) }, now));
      expect(r.raised).toBeGreaterThanOrEqual(1);
      const [a, ...more] = (await store.withTenant(tenant, (tx) => alertsRepo.list(tx, { limit: 10 }))).filter((x) => x.kind === 'budget.threshold');
      expect(more).toEqual([]);
      expect(a?.payload).toMatchObject({ threshold_percent: 25, used: 3_000_000 });
    });

    it('raises a forecast-exhaustion alert once per window for a cost budget that runs out before it resets', async () => {
      const tenant = await tenantWithHook('UTC');
      await store.withTenant(tenant, (tx) => webhooksRepo.create(tx, sealer, { url: 'http://127.0.0.1:9/forecasts', events: ['budget.forecast'], secret: 'whsec-0123456789abcdef' }));
      const now = Math.floor(Date.now() / 86_400_000) * 86_400_000 + 12 * HOUR + 30 * 60_000;
      const daily = (limit: number): LimitRule => ({ id: 'daily-spend', scope: 'tenant', subject: null, metric: 'cost', window: 'day', limit, burst: null, models: null });
      // 13 × 1.0 (currency units, in micros) over the 6.5 h since 06:00: 2 an hour.
      const events = Array.from({ length: 13 }, (_, i) => event(tenant, now - 6 * HOUR + i * 30 * 60_000 - 1, 1_000_000));
      await store.withTenant(tenant, (tx) => usageRepo.ingest(tx, events));
      // A budget of 100 lasts past midnight: no forecast alert (13 % used: no threshold either).
      const roomy = await store.withTenant(tenant, (tx) => evaluateTenant(tx, { id: tenant, limits: limitsOf([daily(100_000_000)], 'UTC') }, now));
      expect(roomy.raised).toBe(0);
      // A budget of 20 runs out 3.5 h from now (7 left at 2 an hour), before midnight.
      const tight = limitsOf([daily(20_000_000)], 'UTC');
      const first = await store.withTenant(tenant, (tx) => evaluateTenant(tx, { id: tenant, limits: tight }, now));
      expect(first.raised).toBe(2); // the 50 % threshold, and the forecast
      const again = await store.withTenant(tenant, (tx) => evaluateTenant(tx, { id: tenant, limits: tight }, now + 60_000));
      expect(again.raised).toBe(0); // one forecast alert per window, however the estimate moves
      const forecastAlerts = (await store.withTenant(tenant, (tx) => alertsRepo.list(tx, { limit: 10 }))).filter((a) => a.kind === 'budget.forecast');
      expect(forecastAlerts).toHaveLength(1);
      expect(forecastAlerts[0]?.payload).toMatchObject({
        rule_id: 'daily-spend',
        metric: 'cost',
        window: 'day',
        used: 13_000_000,
        limit: 20_000_000,
        exhausts_at: new Date(now + 3.5 * HOUR).toISOString(),
      });
      // Delivered to the webhook subscribed to forecasts (not to the one for thresholds and anomalies).
      expect(forecastAlerts[0]?.deliveries.pending).toBe(1);
    });

    it('forecasts exhaustion into the cache the data plane reads', async () => {
      const tenant = await tenantWithHook('UTC');
      // Mid-day, so the day window has room left after the lookback.
      const now = Math.floor(Date.now() / 86_400_000) * 86_400_000 + 12 * HOUR + 30 * 60_000;
      const daily: LimitRule = { id: 'daily-requests', scope: 'tenant', subject: null, metric: 'requests', window: 'day', limit: 20, burst: null, models: null };
      const events = Array.from({ length: 13 }, (_, i) => event(tenant, now - 6 * HOUR + i * 30 * 60_000 - 1, 0));
      await store.withTenant(tenant, (tx) => usageRepo.ingest(tx, events));
      const cache = createForecastCache();
      const job = createAlertJob({ store, tenants: () => [{ id: tenant, limits: limitsOf([daily], 'UTC') }], cache, intervalMs: 1000, now: () => now });
      await job.runOnce();
      // 13 requests over the 6.5 h since 06:00: 2 an hour; 7 left → 3.5 h.
      expect(cache.exhaustsAt(tenant, 'daily-requests')).toBe(new Date(now + 3.5 * HOUR).toISOString());
      const r = await store.withTenant(tenant, (tx) => evaluateTenant(tx, { id: tenant, limits: limitsOf([daily], 'UTC') }, now));
      const fc = r.forecasts[0];
      expect(fc).toMatchObject({ ruleId: 'daily-requests', used: 13, limit: 20 });
      expect(fc?.ratePerHour).toBeCloseTo(2, 5);
      expect(fc?.exhaustsAt).toBe(now + 3.5 * HOUR);
      // A budget that lasts past the window's reset does not run out: nothing cached.
      const roomy = await store.withTenant(tenant, (tx) => evaluateTenant(tx, { id: tenant, limits: limitsOf([{ ...daily, limit: 100 }], 'UTC') }, now));
      expect(roomy.forecasts[0]?.exhaustsAt).toBeNull();
    });

    it('a round opens no transaction for a tenant with no calendar budget once its hour is judged and swept', async () => {
      const idle = await tenantWithHook();
      const budgeted = await tenantWithHook();
      const opened: string[] = [];
      const counting: Pick<Store, 'withTenant'> = {
        withTenant: (id, fn) => {
          opened.push(id);
          return store.withTenant(id, fn);
        },
      };
      const hour = Math.floor(Date.now() / HOUR) * HOUR;
      let clock = hour + 10 * 60_000; // past the settling delay: the first round judges and sweeps
      const tenants = [{ id: idle, limits: limitsOf([]) }, { id: budgeted, limits: limitsOf([monthly(10_000_000)]) }];
      const job = createAlertJob({ store: counting, tenants: () => tenants, cache: createForecastCache(), intervalMs: 1000, now: () => clock });
      await job.runOnce();
      expect(opened.sort()).toEqual([idle, budgeted].sort());
      opened.length = 0;
      clock += 60_000;
      await job.runOnce();
      expect(opened).toEqual([budgeted]); // its budget is measured every round
      opened.length = 0;
      clock = hour + HOUR + 10 * 60_000; // the next hour to judge, and an hour since the sweep
      await job.runOnce();
      expect(opened.sort()).toEqual([idle, budgeted].sort());
    });

    it('raises an anomaly for a spike far above the recent pattern, once', async () => {
      const tenant = await tenantWithHook();
      const lastHourStart = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
      const events: UsageEventRecord[] = [];
      for (let h = 48; h >= 1; h--) {
        const per = h === 1 ? 400 : 10 + (h % 3);
        for (let i = 0; i < per; i++) events.push(event(tenant, lastHourStart - (h - 1) * HOUR + i * 1000, 1000));
      }
      await store.withTenant(tenant, (tx) => usageRepo.ingest(tx, events));
      const now = lastHourStart + HOUR + 60_000;
      // The job judges an hour once, a few minutes after it ended (its last events have landed).
      let clock = now;
      const job = createAlertJob({ store, tenants: () => [{ id: tenant }], cache: createForecastCache(), intervalMs: 1000, now: () => clock });
      expect(await job.runOnce()).toBe(0);
      clock = lastHourStart + HOUR + 6 * 60_000;
      expect(await job.runOnce()).toBe(1); // requests (cost stays under its floor)
      const [a] = await store.withTenant(tenant, (tx) => alertsRepo.list(tx, { limit: 10 }));
      expect(a).toMatchObject({ kind: 'usage.anomaly', payload: { metric: 'requests_per_hour', value: 400, seasonal: false } });
      expect((await store.withTenant(tenant, (tx) => evaluateTenant(tx, { id: tenant }, now))).raised).toBe(0);
    });
  });
}
