/**
 * The ledger's view of a tenant's day/month limit counters (DESIGN §12 "Limits under failure"):
 * Redis can lose acknowledged writes (a restart, a failover to a replica that lagged, a flush),
 * so its counters are reseeded from the ledger, taking the larger of the two; the local counters
 * of a deployment that fails open start from it rather than from zero; and so do a single
 * instance's in-memory counters after a restart (src/limits/start-seeds.ts).
 *
 * Tenant, team and key rules of the budget metrics read the figures budget alerts read
 * (src/billing/alerts/usage.ts: day rollups from the window's local start). Two kinds of rule
 * the rollups cannot measure read the raw events of the window instead (usage_events, one
 * aggregate bounded by tenant and time): `scope: user` rules (rollups carry no end user) and
 * `compute_units` of every scope (admission rounds each request's units up, so only per-event
 * sums match its counters; the weights are the deployments' `weight`, as admission's).
 * Counters are keyed like admission keys them (src/limits/admission.ts). Limits call this
 * through the function type alone, so src/limits never imports billing.
 *
 * For `requests`, client-error rows are left out: they are mostly refusals (a 429 from the
 * limits themselves, a 400 from validation) that admission never counted, and a quota reseeded
 * with them would run out early; an upstream 4xx that admission did count is missed instead,
 * which errs on the tenant's side by a few requests.
 */
import { counterBase, windowKey } from '../limits/admission.js';
import type { WindowSeed } from '../limits/redis-backend.js';
import type { TenantLimits } from '../limits/types.js';
import { calendarWindow, calendarWindowStart } from '../limits/windows.js';
import { usageRepo, type Store, type UsageWindowRow } from '../store/index.js';
import { calendarRules, earliestStart, FORECAST_METRICS, metricValue, subjectOf, windowUsage, type CalendarRule } from './alerts/usage.js';

const DAY_MS = 86_400_000;

export interface LimitSeedDeps {
  store: Pick<Store, 'withTenant'>;
  /** The tenant's limits as enforced now (the snapshot's). */
  limitsOf(tenantId: string): TenantLimits | undefined;
  /** Compute-unit weight per deployment id, as admission prices compute units; others weigh 1. */
  weights?: ReadonlyMap<string, number>;
  now?: () => number;
}

/** Day/month rules only the raw events can measure: end-user rules, and compute units. */
export function eventRules(limits: Pick<TenantLimits, 'rules'>): CalendarRule[] {
  return limits.rules.filter(
    (r): r is CalendarRule =>
      (r.window === 'day' || r.window === 'month') && FORECAST_METRICS.has(r.metric) && (r.scope === 'user' || r.metric === 'compute_units'),
  );
}

/** Compute units come summed per event (admission's rounding); every other metric as rollups measure it. */
function eventValue(row: UsageWindowRow, rule: CalendarRule): number {
  return rule.metric === 'compute_units' ? row.computeUnits : metricValue(row, rule.metric);
}

/** Usage per counter of `rules` from the window's event rows (a day rule counts the `inDay` rows only). */
function eventSeeds(tenantId: string, rules: readonly CalendarRule[], rows: readonly UsageWindowRow[], nowMs: number, timeZone: string): WindowSeed[] {
  const seeds: WindowSeed[] = [];
  for (const rule of rules) {
    const period = calendarWindow(nowMs, timeZone, rule.window);
    const used = new Map<string | null, number>();
    for (const row of rows) {
      if (rule.window === 'day' && !row.inDay) continue;
      const s = subjectOf(rule, row);
      if (s === undefined) continue;
      used.set(s, (used.get(s) ?? 0) + eventValue(row, rule));
    }
    const base = counterBase(tenantId, rule.id);
    for (const [subject, u] of used) if (u > 0) seeds.push({ key: windowKey(base, period.id, subject), used: u, resetAt: period.resetAt });
  }
  return seeds;
}

/** Reads one tenant's current day/month usage per counter from the ledger (one tenant transaction). */
export function limitSeedsFromLedger(deps: LimitSeedDeps): (tenantId: string) => Promise<WindowSeed[]> {
  const now = deps.now ?? Date.now;
  const weights = deps.weights ?? new Map<string, number>();
  return async (tenantId) => {
    const limits = deps.limitsOf(tenantId);
    if (limits === undefined) return [];
    const lineage = limits.keyLineage;
    // Keys count as the first key of their rotation chain, as admission counts them.
    const root = (keyId: string | null): string | null => (keyId === null ? null : (lineage?.get(keyId) ?? keyId));
    const atRoot = <R extends CalendarRule>(r: R): R => (r.scope === 'key' && r.subject !== null ? { ...r, subject: root(r.subject) } : r);
    const rules = calendarRules(limits).map(atRoot);
    const fromEvents = eventRules(limits).map(atRoot);
    if (rules.length === 0 && fromEvents.length === 0) return [];
    const nowMs = now();
    const tz = limits.timeZone;
    const { read, events } = await deps.store.withTenant(tenantId, async (tx) => {
      const read = rules.length === 0 ? [] : await usageRepo.rollups(tx, { granularity: 'day', from: new Date(earliestStart(rules, nowMs, tz)), to: new Date(nowMs + DAY_MS) });
      if (fromEvents.length === 0) return { read, events: [] };
      const day = calendarWindow(nowMs, tz, 'day');
      const anyMonth = fromEvents.some((r) => r.window === 'month');
      const events = await usageRepo.windowTotals(tx, {
        from: new Date(calendarWindowStart(nowMs, tz, anyMonth ? 'month' : 'day')),
        to: new Date(anyMonth ? calendarWindow(nowMs, tz, 'month').resetAt : day.resetAt),
        dayFrom: new Date(calendarWindowStart(nowMs, tz, 'day')),
        dayTo: new Date(day.resetAt),
        byEndUser: fromEvents.some((r) => r.scope === 'user'),
        endUsersOnly: fromEvents.every((r) => r.scope === 'user'),
        weights,
      });
      return { read, events };
    });
    const rows = lineage === undefined ? read : read.map((row) => ({ ...row, keyId: root(row.keyId) }));
    const requestRules: CalendarRule[] = [];
    const otherRules: CalendarRule[] = [];
    for (const r of rules) (r.metric === 'requests' ? requestRules : otherRules).push(r);
    const usage = [
      ...windowUsage(otherRules, rows, nowMs, tz),
      ...windowUsage(
        requestRules,
        rows.filter((row) => row.statusClass !== 'client_error'),
        nowMs,
        tz,
      ),
    ];
    const seeds: WindowSeed[] = [];
    for (const u of usage) {
      if (u.used <= 0) continue;
      seeds.push({ key: windowKey(counterBase(tenantId, u.rule.id), u.periodId, u.subject), used: u.used, resetAt: u.resetAt });
    }
    const eventRows = lineage === undefined ? events : events.map((row) => ({ ...row, keyId: root(row.keyId) }));
    seeds.push(...eventSeeds(tenantId, fromEvents, eventRows, nowMs, tz));
    return seeds;
  };
}
