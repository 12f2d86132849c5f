/**
 * Exhaustion forecasts: at the recent rate, when does each calendar budget run out? The rate is
 * the consumption of the last `lookbackHours` (hourly rollups, the current partial hour included)
 * divided by the time elapsed; a budget exhausts at now + remaining / rate, unless that lies past
 * the window's reset (then it does not run out this window: null).
 *
 * What is counted as used, and what is estimated:
 * - tenant, team and key rules: the day rollups since the window start, or the limit counter's
 *   settled usage when that is larger (the rollups trail it by the metering ship delay; the
 *   counter can lose usage to a Redis restart or, in memory, a gateway restart);
 * - plus `reserved`: what the counter holds for requests admitted but not settled, in flight or
 *   queued in the scheduler (a queued request is admitted before it waits, so its reservation is
 *   there). Reservations are worst cases (max_tokens), so this errs early. Read from the shared
 *   counters (Redis: every replica's; memory: this process's), and not at all while Redis is down;
 * - end-user rules: the rollups have no end user, so used is the counter alone, and the rate is
 *   the raw events of the lookback (the busiest 1,000 user/model/deployment groups). Without
 *   readable counters they are left out;
 * - compute units: tokens × the serving deployment's weight, summed per rollup row (admission
 *   rounds up per request, so the counter can be up to one unit per request higher).
 */
import { calendarCounterKey } from '../../limits/admission.js';
import type { WindowCounterState } from '../../limits/types.js';
import type { EndUserTotals, UsageRollupRow } from '../../store/index.js';
import { calendarWindow, calendarWindowStart } from '../../limits/windows.js';
import { metricValue, modelMatches, subjectOf, type CalendarRule, type WeightOf, type WindowUsage } from './usage.js';

export const DEFAULT_LOOKBACK_HOURS = 6;

export interface Forecast {
  ruleId: string;
  subject: string | null;
  metric: string;
  window: 'day' | 'month';
  /** The counter's window ('2026-12-07' or '2026-12'), as in its key. */
  periodId: string;
  /** Settled usage this window (see above for where it comes from). */
  used: number;
  /** Held by reservations of requests in flight or queued; 0 when the counters cannot be read. */
  reserved: number;
  limit: number;
  /** Units per hour over the lookback. */
  ratePerHour: number;
  /** Epoch ms; null when the budget does not run out before the window resets. */
  exhaustsAt: number | null;
  resetAt: number;
  /**
   * True when the rule has one counter for every request it applies to (tenant-wide, or a fixed
   * team/key/user); false for "each team/key/user" rules, whose counters differ per caller.
   */
  single: boolean;
}

/** When `remaining` runs out at `ratePerHour` from `nowMs`, if before `resetAt`. */
export function exhaustionTime(used: number, limit: number, ratePerHour: number, nowMs: number, resetAt: number): number | null {
  if (used >= limit) return nowMs;
  if (!(ratePerHour > 0)) return null;
  const at = nowMs + ((limit - used) / ratePerHour) * 3_600_000;
  return at < resetAt ? Math.ceil(at) : null;
}

/** Start of the lookback: whole hours, so hourly buckets are counted whole. */
export function lookbackStart(nowMs: number, hours: number = DEFAULT_LOOKBACK_HOURS): number {
  return Math.floor(nowMs / 3_600_000) * 3_600_000 - hours * 3_600_000;
}

function elapsedHours(nowMs: number, lookbackHours: number): number {
  return Math.max(1 / 60, (nowMs - lookbackStart(nowMs, lookbackHours)) / 3_600_000);
}

function forecastOf(u: WindowUsage, ratePerHour: number, nowMs: number): Forecast {
  return {
    ruleId: u.rule.id,
    subject: u.subject,
    metric: u.rule.metric,
    window: u.rule.window,
    periodId: u.periodId,
    used: u.used,
    reserved: 0,
    limit: u.rule.limit,
    ratePerHour,
    exhaustsAt: exhaustionTime(u.used, u.rule.limit, ratePerHour, nowMs, u.resetAt),
    resetAt: u.resetAt,
    single: u.rule.scope === 'tenant' || u.rule.subject !== null,
  };
}

export function forecasts(
  usage: readonly WindowUsage[],
  hourRows: readonly UsageRollupRow[],
  nowMs: number,
  lookbackHours: number = DEFAULT_LOOKBACK_HOURS,
  weightOf?: WeightOf,
): Forecast[] {
  const from = lookbackStart(nowMs, lookbackHours);
  const hours = elapsedHours(nowMs, lookbackHours);
  return usage.map((u) => {
    let recent = 0;
    for (const row of hourRows) {
      if (row.granularity !== 'hour' || row.bucketStart.getTime() < from) continue;
      if (subjectOf(u.rule, row) !== u.subject) continue;
      recent += metricValue(row, u.rule.metric, weightOf);
    }
    return forecastOf(u, recent / hours, nowMs);
  });
}

/**
 * Forecasts of end-user rules from the lookback's raw events: one per fixed subject, or per user
 * seen in the lookback for "each user" rules. `used` starts at 0: the counter fills it in
 * (withCounters), and a forecast without a counter reading is not made at all.
 */
export function userForecasts(
  rules: readonly CalendarRule[],
  recent: readonly EndUserTotals[],
  nowMs: number,
  timeZone: string,
  lookbackHours: number = DEFAULT_LOOKBACK_HOURS,
  weightOf?: WeightOf,
): Forecast[] {
  const hours = elapsedHours(nowMs, lookbackHours);
  const out: Forecast[] = [];
  for (const rule of rules) {
    if (rule.scope !== 'user') continue;
    const period = calendarWindow(nowMs, timeZone, rule.window);
    const windowStart = calendarWindowStart(nowMs, timeZone, rule.window);
    const byUser = new Map<string, number>();
    if (rule.subject !== null) byUser.set(rule.subject, 0);
    for (const row of recent) {
      if (!modelMatches(rule.models, row.model) || (rule.subject !== null && rule.subject !== row.endUser)) continue;
      byUser.set(row.endUser, (byUser.get(row.endUser) ?? 0) + metricValue(row, rule.metric, weightOf));
    }
    for (const [subject, sum] of byUser) {
      out.push(forecastOf({ rule, subject, periodId: period.id, windowStart, resetAt: period.resetAt, used: 0 }, sum / hours, nowMs));
    }
  }
  return out;
}

/** The counter key of a forecast's rule and subject (the key admission charges). */
export function counterKeyOf(tenantId: string, f: Pick<Forecast, 'ruleId' | 'periodId' | 'subject'>): string {
  return calendarCounterKey(tenantId, f.ruleId, f.periodId, f.subject ?? '-');
}

/**
 * Each forecast with its counter applied: used = max(measured, counter's settled usage), plus
 * the counter's reservations, and the exhaustion time again from there. `counters` null: not
 * readable (Redis down, no limits service); forecasts that rest on the counter alone are dropped.
 */
export function withCounters(
  tenantId: string,
  fs: readonly Forecast[],
  counters: ReadonlyMap<string, WindowCounterState> | null,
  counterOnly: (f: Forecast) => boolean,
  nowMs: number,
): Forecast[] {
  if (counters === null) return fs.filter((f) => !counterOnly(f));
  return fs.map((f) => {
    const c = counters.get(counterKeyOf(tenantId, f));
    if (c === undefined) return f;
    const used = Math.max(f.used, c.used);
    const reserved = c.pending;
    return { ...f, used, reserved, exhaustsAt: exhaustionTime(used + reserved, f.limit, f.ratePerHour, nowMs, f.resetAt) };
  });
}

/**
 * What the data plane reads: per tenant, when each rule with a single counter runs out, as an ISO
 * string by rule id. "Each team/key" rules are left out: the header would otherwise tell one
 * caller another's forecast. Replaced per tenant by the periodic job; a Map lookup per request.
 */
export interface ForecastCache {
  /** The ISO time the tenant's rule `ruleId` runs out, if it is forecast to this window. */
  exhaustsAt(tenantId: string, ruleId: string): string | undefined;
  set(tenantId: string, fs: readonly Forecast[]): void;
  delete(tenantId: string): void;
  /** Drops every tenant not in `ids` (deleted tenants leave no entry behind). */
  retain(ids: ReadonlySet<string>): void;
}

export function createForecastCache(): ForecastCache {
  const byTenant = new Map<string, Map<string, string>>();
  return {
    exhaustsAt: (tenantId, ruleId) => byTenant.get(tenantId)?.get(ruleId),
    set(tenantId, fs) {
      const earliest = new Map<string, number>();
      for (const f of fs) {
        if (f.exhaustsAt === null || !f.single) continue;
        const prev = earliest.get(f.ruleId);
        if (prev === undefined || f.exhaustsAt < prev) earliest.set(f.ruleId, f.exhaustsAt);
      }
      if (earliest.size === 0) byTenant.delete(tenantId);
      else byTenant.set(tenantId, new Map([...earliest].map(([id, t]) => [id, new Date(t).toISOString()])));
    },
    delete: (tenantId) => void byTenant.delete(tenantId),
    retain(ids) {
      for (const id of byTenant.keys()) if (!ids.has(id)) byTenant.delete(id);
    },
  };
}
