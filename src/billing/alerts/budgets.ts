/**
 * Budget thresholds: for each cost budget (day/month rule of metric `cost`) and each threshold
 * percentage, a crossing raises one alert per (rule, counter, window, threshold). The alert key
 * carries all four, so re-evaluating the same window (on any replica) raises nothing new and the
 * next window starts afresh.
 */
import type { TenantTx } from '../../store/index.js';
import type { Forecast } from './forecast.js';
import { raiseAlert } from './raise.js';
import type { WindowUsage } from './usage.js';

export interface Crossing {
  usage: WindowUsage;
  thresholdPercent: number;
}

/** Thresholds `usage` has reached (used ≥ threshold% of limit); none for a zero limit. */
export function crossings(usage: readonly WindowUsage[], thresholds: readonly number[]): Crossing[] {
  const out: Crossing[] = [];
  for (const u of usage) {
    if (u.rule.metric !== 'cost' || u.rule.limit <= 0) continue;
    for (const t of thresholds) {
      // Integer arithmetic: micros × 100 stays exact far past any real budget.
      if (u.used * 100 >= t * u.rule.limit) out.push({ usage: u, thresholdPercent: t });
    }
  }
  return out;
}

export function crossingKey(c: Crossing): string {
  return `budget:${c.usage.rule.id}:${c.usage.subject ?? '*'}:${c.usage.periodId}:${c.thresholdPercent}`;
}

/** Raises the alerts of `cs` not raised before; returns how many were new. */
export async function raiseCrossings(tx: TenantTx, cs: readonly Crossing[]): Promise<number> {
  let n = 0;
  for (const c of cs) {
    const u = c.usage;
    const alert = await raiseAlert(tx, 'budget.threshold', crossingKey(c), {
      rule_id: u.rule.id,
      scope: u.rule.scope,
      subject: u.subject,
      metric: u.rule.metric,
      window: u.rule.window,
      period: u.periodId,
      threshold_percent: c.thresholdPercent,
      used: u.used,
      limit: u.rule.limit,
      window_start: new Date(u.windowStart).toISOString(),
      window_resets_at: new Date(u.resetAt).toISOString(),
    });
    if (alert !== null) n++;
  }
  return n;
}

/**
 * Forecast exhaustion ("at this rate the monthly budget runs out on the 19th", DESIGN §5): a cost
 * budget not yet spent whose forecast runs out before its window resets. One alert per (rule,
 * counter, window), like a threshold: a forecast that moves within the window raises nothing new
 * (the data plane's `x-gatehouse-budget-exhausts-at` header carries the current estimate).
 */
export function exhaustionForecasts(fs: readonly Forecast[], nowMs: number): Forecast[] {
  return fs.filter((f) => f.metric === 'cost' && f.limit > 0 && f.exhaustsAt !== null && f.exhaustsAt > nowMs && f.used + f.reserved < f.limit);
}

export function forecastKey(f: Forecast): string {
  return `forecast:${f.ruleId}:${f.subject ?? '*'}:${f.periodId}`;
}

/** Raises the forecast alerts of `fs` not raised before in their window; returns how many were new. */
export async function raiseForecasts(tx: TenantTx, fs: readonly Forecast[]): Promise<number> {
  let n = 0;
  for (const f of fs) {
    if (f.exhaustsAt === null) continue;
    const alert = await raiseAlert(tx, 'budget.forecast', forecastKey(f), {
      rule_id: f.ruleId,
      subject: f.subject,
      metric: f.metric,
      window: f.window,
      period: f.periodId,
      used: f.used,
      reserved: f.reserved,
      limit: f.limit,
      rate_per_hour: f.ratePerHour,
      exhausts_at: new Date(f.exhaustsAt).toISOString(),
      window_resets_at: new Date(f.resetAt).toISOString(),
    });
    if (alert !== null) n++;
  }
  return n;
}
