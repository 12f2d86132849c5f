/**
 * Budget thresholds: for each cost budget (day/month rule of metric `cost`) and each threshold
 * percentage, a crossing raises one alert per (rule, counter, window, threshold). The alert key
 * carries all four, so re-evaluating the same window (on any replica) raises nothing new and the
 * next window starts afresh.
 */
import type { TenantTx } from '../../store/index.js';
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
