/**
 * Bounded tenant label cardinality for Prometheus (DESIGN §3: metric series are per tenant, but
 * a fleet of thousands of tenants must not become thousands of series per metric). The top N
 * tenants by recent traffic keep their slug as the `tenant` label; every other tenant is
 * aggregated as `other`.
 *
 * The set is recomputed periodically from an exponentially decayed request count (each period
 * halves the previous score), so a tenant rises with sustained traffic and falls when it stops.
 * Until the set is full, a tenant seen for the first time joins at once (small fleets are fully
 * labelled from the first request).
 *
 * Effect on counters when a tenant leaves the top set: its labelled series are removed from the
 * registry (memory stays bounded) and its later traffic counts in `other`. Per-tenant `rate()`
 * simply ends; `sum without (tenant)` stays correct. When it rejoins, its series start again from
 * zero, which Prometheus reads as a counter reset (rate() handles that).
 */

export const OTHER = 'other';

/** The `n` ids with the highest score; ties broken by id so the answer is deterministic. */
export function topTenants(scores: ReadonlyMap<string, number>, n: number): Set<string> {
  if (n <= 0) return new Set();
  const ranked = [...scores].filter(([, s]) => s > 0).sort(([a, sa], [b, sb]) => sb - sa || (a < b ? -1 : a > b ? 1 : 0));
  return new Set(ranked.slice(0, n).map(([id]) => id));
}

/** The label a top tenant carries: its slug, unless the slug is the aggregate's own name. */
export function tenantLabel(slug: string, tenantId: string): string {
  return slug === OTHER ? tenantId : slug;
}

export interface TenantLabels {
  /** Counts one request of `tenantId`; true when it is labelled by name. */
  count(tenantId: string): boolean;
  isTop(tenantId: string): boolean;
  /** Recomputes the top set; returns the ids that left it and those that joined. */
  recompute(): { left: string[]; joined: string[] };
  readonly size: number;
}

export function createTenantLabels(top: number): TenantLabels {
  let set = new Set<string>();
  /** Requests since the last recompute. */
  const recent = new Map<string, number>();
  /** Decayed score up to the last recompute. */
  let scores = new Map<string, number>();
  return {
    count(tenantId) {
      recent.set(tenantId, (recent.get(tenantId) ?? 0) + 1);
      if (set.has(tenantId)) return true;
      if (set.size < top) {
        set.add(tenantId);
        return true;
      }
      return false;
    },
    isTop: (tenantId) => set.has(tenantId),
    recompute() {
      const next = new Map<string, number>();
      for (const [id, s] of scores) {
        const decayed = s / 2;
        // Forget tenants whose score has faded away: the map stays as small as the active fleet.
        if (decayed >= 0.5) next.set(id, decayed);
      }
      for (const [id, n] of recent) next.set(id, (next.get(id) ?? 0) + n);
      recent.clear();
      scores = next;
      const chosen = topTenants(scores, top);
      const left = [...set].filter((id) => !chosen.has(id));
      const joined = [...chosen].filter((id) => !set.has(id));
      set = chosen;
      return { left, joined };
    },
    get size() {
      return set.size;
    },
  };
}
