/**
 * The ledger's view of a tenant's day/month limit counters (DESIGN §12 "Limits under failure"):
 * Redis can lose acknowledged writes (a restart, a failover to a replica that lagged, a flush),
 * so its counters are reseeded from the usage rollups, taking the larger of the two; and the
 * local counters of a deployment that fails open start from them rather than from zero.
 *
 * The figures are those budget alerts read (src/billing/alerts/usage.ts: day rollups from the
 * window's local start), keyed like admission keys its counters (src/limits/admission.ts).
 * Limits call this through the function type alone, so src/limits never imports billing.
 *
 * What the rollups cannot give is left to Redis's own counts: `scope: user` rules (rollups carry
 * no end user) and `compute_units`. For `requests`, client-error rows are left out: they are
 * mostly refusals (a 429 from the limits themselves, a 400 from validation) that admission never
 * counted, and a quota reseeded with them would run out early; an upstream 4xx that admission
 * did count is missed instead, which errs on the tenant's side by a few requests.
 */
import { counterBase, windowKey } from '../limits/admission.js';
import type { WindowSeed } from '../limits/redis-backend.js';
import type { TenantLimits } from '../limits/types.js';
import { usageRepo, type Store } from '../store/index.js';
import { calendarRules, earliestStart, windowUsage, type CalendarRule } from './alerts/usage.js';

const DAY_MS = 86_400_000;

export interface LimitSeedDeps {
  store: Pick<Store, 'withTenant'>;
  /** The tenant's limits as enforced now (the snapshot's). */
  limitsOf(tenantId: string): TenantLimits | undefined;
  now?: () => number;
}

/** Reads one tenant's current day/month usage per counter from the rollups. */
export function limitSeedsFromLedger(deps: LimitSeedDeps): (tenantId: string) => Promise<WindowSeed[]> {
  const now = deps.now ?? Date.now;
  return async (tenantId) => {
    const limits = deps.limitsOf(tenantId);
    if (limits === undefined) return [];
    const lineage = limits.keyLineage;
    // Keys count as the first key of their rotation chain, as admission counts them.
    const root = (keyId: string | null): string | null => (keyId === null ? null : (lineage?.get(keyId) ?? keyId));
    const rules = calendarRules(limits).map((r) => (r.scope === 'key' && r.subject !== null ? { ...r, subject: root(r.subject) } : r));
    if (rules.length === 0) return [];
    const nowMs = now();
    const read = await deps.store.withTenant(tenantId, (tx) =>
      usageRepo.rollups(tx, { granularity: 'day', from: new Date(earliestStart(rules, nowMs, limits.timeZone)), to: new Date(nowMs + DAY_MS) }),
    );
    const rows = lineage === undefined ? read : read.map((row) => ({ ...row, keyId: root(row.keyId) }));
    const requestRules: CalendarRule[] = [];
    const otherRules: CalendarRule[] = [];
    for (const r of rules) (r.metric === 'requests' ? requestRules : otherRules).push(r);
    const usage = [
      ...windowUsage(otherRules, rows, nowMs, limits.timeZone),
      ...windowUsage(
        requestRules,
        rows.filter((row) => row.statusClass !== 'client_error'),
        nowMs,
        limits.timeZone,
      ),
    ];
    const seeds: WindowSeed[] = [];
    for (const u of usage) {
      if (u.used <= 0) continue;
      seeds.push({ key: windowKey(counterBase(tenantId, u.rule.id), u.periodId, u.subject), used: u.used, resetAt: u.resetAt });
    }
    return seeds;
  };
}
