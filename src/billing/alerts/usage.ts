/**
 * How much of each calendar budget (day/month limit rule) is used, from the usage rollups.
 * Day rollups start at the tenant's local midnight (metering), so a window's usage is the sum of
 * the day buckets from the window's start. Rollups carry team and key but no end user: rules of
 * scope 'user' are measured elsewhere (forecast.ts, from the limit counters and raw events).
 * Compute units are not in the rollups either: they are recomputed from each row's tokens and
 * its deployment's weight (`weightOf`), which misses only admission's rounding up per request.
 */
import { calendarWindow, calendarWindowStart } from '../../limits/windows.js';
import type { LimitRule, Metric, TenantLimits } from '../../limits/types.js';
import type { UsageRollupRow } from '../../store/index.js';

/** Metrics whose day/month rules are budgets this module measures. */
export const BUDGET_METRICS: ReadonlySet<Metric> = new Set<Metric>(['cost', 'tokens', 'input_tokens', 'output_tokens', 'requests']);
/** Metrics whose day/month rules are forecast: the budgets and compute units. */
export const FORECAST_METRICS: ReadonlySet<Metric> = new Set<Metric>([...BUDGET_METRICS, 'compute_units']);

/** Compute-unit weight of a deployment as the rollups and events name it (its id); 1 when unknown. */
export type WeightOf = (deploymentId: string | null) => number;
const UNIT_WEIGHT: WeightOf = () => 1;

export interface CalendarRule extends LimitRule {
  window: 'day' | 'month';
}

export interface WindowUsage {
  rule: CalendarRule;
  /** The team or key the counter is for; null for tenant-wide rules. */
  subject: string | null;
  /** '2026-12-07' or '2026-12'. */
  periodId: string;
  windowStart: number;
  resetAt: number;
  used: number;
}

export function calendarRules(limits: Pick<TenantLimits, 'rules'>, metrics: ReadonlySet<Metric> = BUDGET_METRICS): CalendarRule[] {
  return limits.rules.filter(
    (r): r is CalendarRule => (r.window === 'day' || r.window === 'month') && metrics.has(r.metric) && r.scope !== 'user',
  );
}

/** The day/month rules forecasts cover: budgets and compute units, of every scope (end users too). */
export function forecastRules(limits: Pick<TenantLimits, 'rules'>): CalendarRule[] {
  return limits.rules.filter((r): r is CalendarRule => (r.window === 'day' || r.window === 'month') && FORECAST_METRICS.has(r.metric));
}

/** A rollup row, or an event total (which carries no deployment: its compute units come summed). */
type Measured = Pick<UsageRollupRow, 'requests' | 'inputTokens' | 'outputTokens' | 'costMicros'> & { deploymentId?: string | null };

export function metricValue(row: Measured, metric: Metric, weightOf: WeightOf = UNIT_WEIGHT): number {
  switch (metric) {
    case 'cost':
      return row.costMicros;
    case 'tokens':
      return row.inputTokens + row.outputTokens;
    case 'input_tokens':
      return row.inputTokens;
    case 'output_tokens':
      return row.outputTokens;
    case 'requests':
      return row.requests;
    case 'compute_units':
      return weightOf(row.deploymentId ?? null) * (row.inputTokens + row.outputTokens);
    default:
      return 0;
  }
}

export function modelMatches(models: readonly string[] | null, model: string): boolean {
  if (models === null) return true;
  return models.some((m) => (m.endsWith('*') ? model.startsWith(m.slice(0, -1)) : m === model));
}

/**
 * The counter a usage row counts towards under `rule`; undefined when it does not count. Rollup
 * rows carry no end user (`endUser` absent), so they never count towards an end-user rule.
 */
export function subjectOf(
  rule: LimitRule,
  row: Pick<UsageRollupRow, 'teamId' | 'keyId' | 'model'> & { endUser?: string | null },
): string | null | undefined {
  if (!modelMatches(rule.models, row.model)) return undefined;
  if (rule.scope === 'tenant') return null;
  const id = rule.scope === 'team' ? row.teamId : rule.scope === 'key' ? row.keyId : (row.endUser ?? null);
  if (id === null) return undefined;
  if (rule.subject !== null && rule.subject !== id) return undefined;
  return id;
}

/** The earliest window start among the rules (what to read rollups from). */
export function earliestStart(rules: readonly CalendarRule[], nowMs: number, timeZone: string): number {
  let start = nowMs;
  for (const r of rules) start = Math.min(start, calendarWindowStart(nowMs, timeZone, r.window));
  return start;
}

/**
 * Usage of every counter of every rule in its current window, from day rollups covering at least
 * the earliest window start. A rule with a fixed subject and no usage yet still gets a row (0).
 */
export function windowUsage(
  rules: readonly CalendarRule[],
  dayRows: readonly UsageRollupRow[],
  nowMs: number,
  timeZone: string,
  weightOf: WeightOf = UNIT_WEIGHT,
): WindowUsage[] {
  const out: WindowUsage[] = [];
  for (const rule of rules) {
    if (rule.scope === 'user') continue; // no end user in the rollups
    const windowStart = calendarWindowStart(nowMs, timeZone, rule.window);
    const period = calendarWindow(nowMs, timeZone, rule.window);
    const used = new Map<string | null, number>();
    if (rule.scope === 'tenant') used.set(null, 0);
    else if (rule.subject !== null) used.set(rule.subject, 0);
    for (const row of dayRows) {
      if (row.granularity !== 'day' || row.bucketStart.getTime() < windowStart || row.bucketStart.getTime() >= period.resetAt) continue;
      const s = subjectOf(rule, row);
      if (s === undefined) continue;
      used.set(s, (used.get(s) ?? 0) + metricValue(row, rule.metric, weightOf));
    }
    for (const [subject, u] of used) out.push({ rule, subject, periodId: period.id, windowStart, resetAt: period.resetAt, used: Math.ceil(u) });
  }
  return out;
}
