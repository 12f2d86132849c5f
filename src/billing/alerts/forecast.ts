/**
 * Exhaustion forecasts: at the recent rate, when does each calendar budget run out? The rate is
 * the consumption of the last `lookbackHours` (hourly rollups, the current partial hour included)
 * divided by the time elapsed; a budget exhausts at now + remaining / rate, unless that lies past
 * the window's reset (then it does not run out this window: null). Demand still queued in the
 * scheduler is not counted (it is settled into the rollups within seconds once served).
 */
import type { UsageRollupRow } from '../../store/index.js';
import { metricValue, subjectOf, type WindowUsage } from './usage.js';

export const DEFAULT_LOOKBACK_HOURS = 6;

export interface Forecast {
  ruleId: string;
  subject: string | null;
  metric: string;
  window: 'day' | 'month';
  used: number;
  limit: number;
  /** Units per hour over the lookback. */
  ratePerHour: number;
  /** Epoch ms; null when the budget does not run out before the window resets. */
  exhaustsAt: number | null;
  resetAt: number;
  /**
   * True when the rule has one counter for every request it applies to (tenant-wide, or a fixed
   * team/key); false for "each team/key" rules, whose counters differ per caller.
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

export function forecasts(usage: readonly WindowUsage[], hourRows: readonly UsageRollupRow[], nowMs: number, lookbackHours: number = DEFAULT_LOOKBACK_HOURS): Forecast[] {
  const from = lookbackStart(nowMs, lookbackHours);
  const elapsedHours = Math.max(1 / 60, (nowMs - from) / 3_600_000);
  return usage.map((u) => {
    let recent = 0;
    for (const row of hourRows) {
      if (row.granularity !== 'hour' || row.bucketStart.getTime() < from) continue;
      if (subjectOf(u.rule, row) !== u.subject) continue;
      recent += metricValue(row, u.rule.metric);
    }
    const ratePerHour = recent / elapsedHours;
    return {
      ruleId: u.rule.id,
      subject: u.subject,
      metric: u.rule.metric,
      window: u.rule.window,
      used: u.used,
      limit: u.rule.limit,
      ratePerHour,
      exhaustsAt: exhaustionTime(u.used, u.rule.limit, ratePerHour, nowMs, u.resetAt),
      resetAt: u.resetAt,
      single: u.rule.scope === 'tenant' || u.rule.subject !== null,
    };
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
