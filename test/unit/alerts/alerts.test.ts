/**
 * Pure parts of alerting: webhook signatures (checked with the README's verification snippet),
 * the retry schedule, the EWMA/z-score anomaly detector on synthetic series, forecast math and
 * threshold crossings.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_DETECTOR, denseSeries, detect, ewma, HOURS_PER_WEEK } from '../../../src/billing/alerts/anomaly.js';
import { DEFAULT_BACKOFF, nominalDelayMs, retryDelayMs } from '../../../src/billing/alerts/backoff.js';
import { crossingKey, crossings } from '../../../src/billing/alerts/budgets.js';
import { createForecastCache, exhaustionTime, forecasts } from '../../../src/billing/alerts/forecast.js';
import { effectiveSettings } from '../../../src/billing/alerts/settings.js';
import { signPayload, verifySignature } from '../../../src/billing/alerts/signature.js';
import { calendarRules, windowUsage } from '../../../src/billing/alerts/usage.js';
import type { LimitRule } from '../../../src/limits/types.js';
import { calendarWindowStart } from '../../../src/limits/windows.js';
import type { UsageRollupRow } from '../../../src/store/index.js';

const HOUR = 3_600_000;

/** The verification function exactly as README.md shows it. */
function readmeVerify(): (secret: string, body: string, header: string) => boolean {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('### Alerts and webhooks'));
  const block = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (block === undefined) throw new Error('no js snippet in the README section');
  const body = block.replace(/^import .*$/m, '');
  return new Function('createHmac', 'timingSafeEqual', `${body}\nreturn verify;`)(createHmac, timingSafeEqual) as (s: string, b: string, h: string) => boolean;
}

describe('webhook signatures', () => {
  const body = JSON.stringify({ id: 'a', type: 'budget.threshold', data: { x: 1 } });
  const now = Math.floor(Date.now() / 1000);

  it('verify with the README snippet, and with verifySignature', () => {
    const header = signPayload('s3cret-value', body, now);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const verify = readmeVerify();
    expect(verify('s3cret-value', body, header)).toBe(true);
    expect(verify('other-secret', body, header)).toBe(false);
    expect(verify('s3cret-value', `${body} `, header)).toBe(false);
    expect(verify('s3cret-value', body, signPayload('s3cret-value', body, now - 3600))).toBe(false);
    expect(verifySignature('s3cret-value', body, header)).toBe(true);
    expect(verifySignature('s3cret-value', body.replace('1', '2'), header)).toBe(false);
    expect(verifySignature('s3cret-value', body, header, { nowS: now + 301 })).toBe(false);
    expect(verifySignature('s3cret-value', body, 'garbage')).toBe(false);
  });

  it('sign HMAC-SHA256 over "<t>.<body>"', () => {
    const mac = createHmac('sha256', 'k').update(`123.${body}`).digest('hex');
    expect(signPayload('k', body, 123)).toBe(`t=123,v1=${mac}`);
  });
});

describe('retry backoff', () => {
  it('doubles from the base up to the cap and stops after the last attempt', () => {
    const nominal = Array.from({ length: 7 }, (_, i) => nominalDelayMs(DEFAULT_BACKOFF, i + 1));
    expect(nominal).toEqual([30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_200_000]);
    const total = nominal.reduce((a, b) => a + b, 0);
    expect(total / 60_000).toBeGreaterThan(45);
    expect(total / 60_000).toBeLessThan(65);
    expect(retryDelayMs(DEFAULT_BACKOFF, 8)).toBeNull();
  });

  it('jitters within the upper half of the nominal delay', () => {
    expect(retryDelayMs(DEFAULT_BACKOFF, 1, () => 0)).toBe(15_000);
    expect(retryDelayMs(DEFAULT_BACKOFF, 1, () => 0.999_999)).toBe(30_000);
    for (let i = 0; i < 100; i++) {
      const d = retryDelayMs(DEFAULT_BACKOFF, 3) as number;
      expect(d).toBeGreaterThanOrEqual(60_000);
      expect(d).toBeLessThanOrEqual(120_000);
    }
  });
});

/** A deterministic noisy series: base level with a daily shape and pseudo-random noise. */
function series(hours: number, level: number, opts: { weekly?: boolean; seed?: number } = {}): number[] {
  let s = opts.seed ?? 1;
  const noise = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31 - 0.5;
  };
  return Array.from({ length: hours }, (_, h) => {
    const weekly = opts.weekly === true && h % HOURS_PER_WEEK >= 24 && h % HOURS_PER_WEEK < 30 ? 8 * level : 0;
    return Math.max(0, level + weekly + level * 0.2 * noise());
  });
}

describe('anomaly detector (EWMA + z-score)', () => {
  const opts = { ...DEFAULT_DETECTOR, absoluteFloor: 10 };

  it('EWMA converges to a constant series with no variance', () => {
    expect(ewma([5, 5, 5, 5], 0.3)).toEqual({ mean: 5, variance: 0 });
    const { mean, variance } = ewma([0, 10, 0, 10, 0, 10, 0, 10, 0, 10, 0, 10], 0.1);
    expect(mean).toBeGreaterThan(2);
    expect(mean).toBeLessThan(8);
    expect(variance).toBeGreaterThan(5);
  });

  it('flags a spike, not ordinary noise', () => {
    const base = series(72, 100);
    expect(detect([...base, 110], opts)?.anomalous).toBe(false);
    const v = detect([...base, 400], opts);
    expect(v?.anomalous).toBe(true);
    expect(v?.z).toBeGreaterThan(4);
    expect(v?.seasonal).toBe(false);
  });

  it('one anomalous hour does not make the same flood look normal an hour later; a lasting shift is learnt', () => {
    const base = series(72, 100);
    expect(detect([...base, 1000, 1000], opts)?.anomalous).toBe(true);
    // Without clipping the first spike's deviation would inflate the variance past the threshold.
    const unclipped = ewma([...base, 1000], DEFAULT_DETECTOR.alpha);
    expect((1000 - unclipped.mean) / Math.sqrt(unclipped.variance)).toBeLessThan(DEFAULT_DETECTOR.zThreshold);
    // A new level held for a day is the pattern by then.
    const shifted = [...base, ...Array.from({ length: 24 }, () => 1000)];
    expect(detect([...shifted, 1000], opts)?.anomalous).toBe(false);
  });

  it('needs a day of history and an absolute excess above the floor', () => {
    expect(detect([...series(10, 100), 1000], opts)).toBeNull();
    // A tiny tenant: z is huge but 1 → 9 is below the floor.
    const tiny = Array.from({ length: 48 }, () => 1);
    expect(detect([...tiny, 9], opts)?.anomalous).toBe(false);
    expect(detect([...tiny, 50], opts)?.anomalous).toBe(true);
  });

  it('with two weeks of history, a weekly peak is normal and its absence of pattern is not', () => {
    const hist = series(3 * HOURS_PER_WEEK + 24, 100, { weekly: true });
    // The hour after the history is hour 24 of week 4: the weekly peak hour.
    const peakHour = hist.length;
    expect(peakHour % HOURS_PER_WEEK).toBe(24);
    const v = detect([...hist, 900], opts);
    expect(v?.seasonal).toBe(true);
    expect(v?.anomalous).toBe(false);
    // Without the seasonal model the same value would look anomalous (raw EWMA over a flat week).
    expect(detect([...hist.slice(-(HOURS_PER_WEEK - 1)), 900], { ...opts, seasonalAfterHours: 10_000 })?.anomalous).toBe(true);
    // A peak far above last week's peak is still caught.
    expect(detect([...hist, 3000], opts)?.anomalous).toBe(true);
  });

  it('densifies hourly points and drops the empty lead-in', () => {
    const from = Date.UTC(2026, 0, 1);
    const pts = [
      { bucketStart: new Date(from + 2 * HOUR), value: 3 },
      { bucketStart: new Date(from + 4 * HOUR), value: 5 },
    ];
    expect(denseSeries(pts, from, from + 6 * HOUR)).toEqual([3, 0, 5, 0]);
    expect(denseSeries([], from, from + 6 * HOUR)).toEqual([]);
  });
});

function row(p: Partial<UsageRollupRow> & { bucketStart: Date; granularity: 'hour' | 'day' }): UsageRollupRow {
  return { teamId: null, keyId: null, model: 'm', deploymentId: null, region: null, statusClass: 'ok', requests: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0, costMicros: 0, latencyMsSum: 0, ttftMsSum: 0, ttftCount: 0, cacheHits: 0, ...p };
}

describe('forecast math', () => {
  it('exhaustion = now + remaining / rate, unless past the reset', () => {
    const now = Date.UTC(2026, 11, 7, 12);
    expect(exhaustionTime(50, 100, 10, now, now + 24 * HOUR)).toBe(now + 5 * HOUR);
    expect(exhaustionTime(50, 100, 1, now, now + 24 * HOUR)).toBeNull();
    expect(exhaustionTime(50, 100, 0, now, now + 24 * HOUR)).toBeNull();
    expect(exhaustionTime(120, 100, 0, now, now + 24 * HOUR)).toBe(now);
  });

  it('rates per counter over the lookback, per team for "each team" rules', () => {
    const now = Date.UTC(2026, 11, 7, 12, 30);
    const rule: LimitRule = { id: 'team-day', scope: 'team', subject: null, metric: 'requests', window: 'day', limit: 100, burst: null, models: ['gpt-*'] };
    const rules = calendarRules({ rules: [rule, { ...rule, id: 'rpm', window: 'minute' }] });
    expect(rules.map((r) => r.id)).toEqual(['team-day']);
    const day = calendarWindowStart(now, 'UTC', 'day');
    const dayRows = [
      row({ granularity: 'day', bucketStart: new Date(day), teamId: 'a', model: 'gpt-4o', requests: 60 }),
      row({ granularity: 'day', bucketStart: new Date(day), teamId: 'b', model: 'gpt-4o', requests: 10 }),
      row({ granularity: 'day', bucketStart: new Date(day), teamId: 'a', model: 'claude', requests: 500 }),
      row({ granularity: 'day', bucketStart: new Date(day - 24 * HOUR), teamId: 'a', model: 'gpt-4o', requests: 500 }),
    ];
    const usage = windowUsage(rules, dayRows, now, 'UTC');
    expect(usage.map((u) => [u.subject, u.used])).toEqual([
      ['a', 60],
      ['b', 10],
    ]);
    const hourRows = [row({ granularity: 'hour', bucketStart: new Date(now - 2 * HOUR), teamId: 'a', model: 'gpt-4o', requests: 13 })];
    const [fa, fb] = forecasts(usage, hourRows, now);
    expect(fa?.ratePerHour).toBeCloseTo(2, 5); // 13 over 6.5 h
    expect(fa?.exhaustsAt).toBeNull(); // 40 left at 2/h: 20 h, past midnight
    const [tight] = forecasts([{ ...(usage[0] as (typeof usage)[number]), rule: { ...rule, window: 'day', limit: 70 } }], hourRows, now);
    expect(tight?.exhaustsAt).toBe(now + 5 * HOUR); // 10 left at 2/h
    expect(fb?.ratePerHour).toBe(0);
    // "Each team" forecasts are not served in the header (they differ per caller).
    const cache = createForecastCache();
    cache.set('t', [{ ...(fa as NonNullable<typeof fa>), exhaustsAt: now + HOUR }]);
    expect(cache.exhaustsAt('t', 'team-day')).toBeUndefined();
    cache.set('t', [{ ...(fa as NonNullable<typeof fa>), exhaustsAt: now + HOUR, single: true }]);
    expect(cache.exhaustsAt('t', 'team-day')).toBe(new Date(now + HOUR).toISOString());
    cache.retain(new Set(['other']));
    expect(cache.exhaustsAt('t', 'team-day')).toBeUndefined();
  });
});

describe('budget threshold crossings', () => {
  const rule = { id: 'm', scope: 'tenant', subject: null, metric: 'cost', window: 'month', limit: 1_000_000, burst: null, models: null } as const;
  const u = (used: number) => ({ rule, subject: null, periodId: '2026-12', windowStart: 0, resetAt: 1, used });

  it('crosses each threshold at used ≥ threshold% of the limit; keys name rule, counter, window and threshold', () => {
    expect(crossings([u(499_999)], [50, 80, 100])).toHaveLength(0);
    const cs = crossings([u(800_000)], [50, 80, 100]);
    expect(cs.map((c) => c.thresholdPercent)).toEqual([50, 80]);
    expect(crossingKey(cs[0] as (typeof cs)[number])).toBe('budget:m:*:2026-12:50');
    expect(crossings([{ ...u(5), rule: { ...rule, limit: 0 } }], [50])).toHaveLength(0);
    expect(crossings([{ ...u(900_000), rule: { ...rule, metric: 'requests' } }], [50])).toHaveLength(0);
  });

  it('settings fall back to defaults and sort thresholds', () => {
    const defaults = { anomalyAction: 'notify', throttleFraction: 1, retentionDays: null };
    expect(effectiveSettings(undefined)).toEqual({ budgetThresholds: [50, 80, 100], ...defaults });
    expect(effectiveSettings({ budgetThresholds: [90, 10] })).toEqual({ budgetThresholds: [10, 90], ...defaults });
    expect(effectiveSettings({ budgetThresholds: 'junk' }).budgetThresholds).toEqual([50, 80, 100]);
    expect(effectiveSettings({ anomalyAction: 'throttle', anomalyThrottleFraction: 0.5, retentionDays: 7 })).toMatchObject({
      anomalyAction: 'throttle',
      throttleFraction: 0.5,
      retentionDays: 7,
    });
    // A fraction above 1 would not be a throttle: the whole object is unreadable, so defaults apply.
    expect(effectiveSettings({ anomalyAction: 'throttle', anomalyThrottleFraction: 2 })).toMatchObject({ anomalyAction: 'notify', throttleFraction: 1 });
  });

  it('calendar window starts at local midnight / the first of the month', () => {
    const now = Date.UTC(2026, 11, 7, 3); // 04:00 in Berlin
    expect(calendarWindowStart(now, 'Europe/Berlin', 'day')).toBe(Date.UTC(2026, 11, 6, 23));
    expect(calendarWindowStart(now, 'Europe/Berlin', 'month')).toBe(Date.UTC(2026, 10, 30, 23));
    expect(calendarWindowStart(now, 'America/New_York', 'day')).toBe(Date.UTC(2026, 11, 6, 5));
  });
});
