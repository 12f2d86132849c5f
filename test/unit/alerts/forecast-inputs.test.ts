/**
 * What forecasts add to the rollups (forecast.ts): the limit counter's reservations and settled
 * usage, end-user rules from the counters and the lookback's raw events, and compute units
 * priced at the serving deployment's weight. Counter keys are exactly the ones admission charges.
 */
import { describe, expect, it } from 'vitest';
import { counterKeyOf, forecasts, userForecasts, withCounters, type Forecast } from '../../../src/billing/alerts/forecast.js';
import { forecastRules, windowUsage, type CalendarRule } from '../../../src/billing/alerts/usage.js';
import { calendarCounterKey, planCharges, type Subjects } from '../../../src/limits/admission.js';
import { calendarWindow, calendarWindowStart } from '../../../src/limits/windows.js';
import type { LimitRule, TenantLimits } from '../../../src/limits/types.js';
import type { EndUserTotals, UsageRollupRow } from '../../../src/store/index.js';

const HOUR = 3_600_000;
const T = '0b8f4a52-0000-4000-8000-000000000001';
const NOW = Date.UTC(2026, 11, 7, 12, 30);

const rule = (over: Partial<LimitRule> & Pick<LimitRule, 'id'>): CalendarRule =>
  ({ scope: 'tenant', subject: null, metric: 'requests', window: 'day', limit: 100, burst: null, models: null, ...over }) as CalendarRule;

function row(p: Partial<UsageRollupRow> & { bucketStart: Date; granularity: 'hour' | 'day' }): UsageRollupRow {
  return { teamId: null, keyId: null, model: 'm', deploymentId: null, region: null, statusClass: 'ok', requests: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0, costMicros: 0, latencyMsSum: 0, ttftMsSum: 0, ttftCount: 0, cacheHits: 0, ...p };
}

const totals = (endUser: string, p: Partial<EndUserTotals> = {}): EndUserTotals => ({
  endUser, model: 'm', deploymentId: null, requests: 0, inputTokens: 0, outputTokens: 0, costMicros: 0, ...p,
});

describe('counter keys', () => {
  it('are the keys admission charges, for tenant, key and user rules', () => {
    const limits: TenantLimits = { plan: null, weight: 1, timeZone: 'Europe/Berlin', budgetAction: 'reject', rules: [] };
    const s: Subjects = { tenantId: T, teamId: 'team-1', keyId: 'key-1', userId: 'alice', model: 'm' };
    const estimate = { inputTokens: 1, outputTokens: 1, costMicros: 1, computeUnits: 2 };
    const period = calendarWindow(NOW, 'Europe/Berlin', 'month').id;
    for (const [r, subject] of [
      [rule({ id: 'tenant-month', window: 'month' }), '-'],
      [rule({ id: 'key-month', window: 'month', scope: 'key' }), 'key-1'],
      [rule({ id: 'user-month', window: 'month', scope: 'user' }), 'alice'],
    ] as const) {
      const [planned] = planCharges(limits, [{ rule: r, subject }], s, estimate, NOW);
      expect(planned?.charge.key).toBe(calendarCounterKey(T, r.id, period, subject));
      expect(counterKeyOf(T, { ruleId: r.id, periodId: period, subject: subject === '-' ? null : subject })).toBe(planned?.charge.key);
    }
  });
});

describe('forecast rules', () => {
  it('cover compute units and end-user rules besides the budgets; never rates', () => {
    const rules = forecastRules({
      rules: [
        rule({ id: 'cu', metric: 'compute_units' }),
        rule({ id: 'user', scope: 'user' }),
        rule({ id: 'rpm', window: 'minute' }),
        rule({ id: 'conc', metric: 'concurrency', window: null }),
      ],
    });
    expect(rules.map((r) => r.id)).toEqual(['cu', 'user']);
  });
});

describe('compute units from the rollups', () => {
  it('are tokens times the weight of the deployment that served', () => {
    const r = rule({ id: 'cu-day', metric: 'compute_units', limit: 3000 });
    const day = calendarWindowStart(NOW, 'UTC', 'day');
    const weightOf = (id: string | null) => (id === 'big' ? 4 : 1);
    const dayRows = [
      row({ granularity: 'day', bucketStart: new Date(day), deploymentId: 'big', inputTokens: 100, outputTokens: 50 }),
      row({ granularity: 'day', bucketStart: new Date(day), deploymentId: 'small', inputTokens: 100, outputTokens: 50 }),
    ];
    const usage = windowUsage([r], dayRows, NOW, 'UTC', weightOf);
    expect(usage.map((u) => u.used)).toEqual([4 * 150 + 150]);
    const hourRows = [row({ granularity: 'hour', bucketStart: new Date(NOW - HOUR), deploymentId: 'big', inputTokens: 650, outputTokens: 0 })];
    const [f] = forecasts(usage, hourRows, NOW, 6, weightOf);
    expect(f?.ratePerHour).toBeCloseTo(400, 5); // 2,600 units over 6.5 h
    expect(f?.exhaustsAt).toBe(NOW + Math.ceil(((3000 - 750) / 400) * HOUR));
  });
});

describe('the limit counters', () => {
  const base: Forecast = {
    ruleId: 'daily', subject: null, metric: 'requests', window: 'day', periodId: '2026-12-07', used: 40, reserved: 0, limit: 100, ratePerHour: 10,
    exhaustsAt: NOW + 6 * HOUR, resetAt: NOW + 11.5 * HOUR, single: true,
  };
  const key = counterKeyOf(T, base);

  it('add the reservations of requests in flight or queued, which bring the exhaustion forward', () => {
    const [f] = withCounters(T, [base], new Map([[key, { used: 40, pending: 20 }]]), () => false, NOW);
    expect(f).toMatchObject({ used: 40, reserved: 20, exhaustsAt: NOW + 4 * HOUR });
  });

  it('take the settled usage the rollups do not have yet (ship delay), and never less than the rollups', () => {
    expect(withCounters(T, [base], new Map([[key, { used: 70, pending: 0 }]]), () => false, NOW)[0]).toMatchObject({ used: 70, exhaustsAt: NOW + 3 * HOUR });
    expect(withCounters(T, [base], new Map([[key, { used: 5, pending: 0 }]]), () => false, NOW)[0]).toMatchObject({ used: 40, exhaustsAt: NOW + 6 * HOUR });
  });

  it('unreadable (Redis down): rollup forecasts stay as they were, counter-only ones are left out', () => {
    const user = { ...base, ruleId: 'per-user', subject: 'alice' };
    expect(withCounters(T, [base, user], null, (f) => f.ruleId === 'per-user', NOW)).toEqual([base]);
  });
});

describe('end-user rules', () => {
  it('one forecast per fixed user, or per user seen in the lookback; the rate from the raw events', () => {
    const fixed = rule({ id: 'alice-day', scope: 'user', subject: 'alice', limit: 50 });
    const each = rule({ id: 'each-user', scope: 'user', models: ['gpt-*'], metric: 'cost', limit: 1_000_000 });
    const recent = [
      totals('alice', { model: 'gpt-4o', requests: 13, costMicros: 650_000 }),
      totals('bob', { model: 'gpt-4o', requests: 1, costMicros: 65_000 }),
      totals('bob', { model: 'claude', requests: 99, costMicros: 9_900_000 }),
    ];
    const fs = userForecasts([fixed, each], recent, NOW, 'UTC');
    expect(fs.map((f) => [f.ruleId, f.subject, f.used, f.single])).toEqual([
      ['alice-day', 'alice', 0, true],
      ['each-user', 'alice', 0, false],
      ['each-user', 'bob', 0, false],
    ]);
    expect(fs[0]?.ratePerHour).toBeCloseTo(2, 5); // 13 requests over 6.5 h
    expect(fs[2]?.ratePerHour).toBeCloseTo(10_000, 5); // bob's gpt-* spend only
    // The counter says how much is used: alice has 44 of 50 settled and 2 reserved, at 2/h: 2 h.
    const live = new Map([[counterKeyOf(T, fs[0] as Forecast), { used: 44, pending: 2 }]]);
    const [alice] = withCounters(T, fs, live, (f) => f.ruleId !== 'x', NOW);
    expect(alice).toMatchObject({ used: 44, reserved: 2, exhaustsAt: NOW + 2 * HOUR });
  });
});
