/**
 * Load-balancing strategies: which of a model's usable deployments takes the next attempt.
 * Each works on the candidates it is given (already filtered by region, breaker and what this
 * request has tried), so residency and resilience never depend on the strategy.
 *
 * - weighted: smooth weighted round-robin (nginx's) by `routingWeight`: an even interleaving,
 *   never bursts of one deployment, and plain round-robin when the weights are equal.
 * - least-busy: fewest requests in flight from this replica; ties rotate.
 * - lowest-latency: lowest EWMA of time to the upstream's response headers. A deployment without
 *   a sample is tried first, and a share `explore` of picks goes to a random other one, so a
 *   deployment that was slow (or just recovered) is measured again and can win traffic back.
 */
import type { Deployment } from '../providers/types.js';
import type { Strategy } from './types.js';

/** What the router knows of a deployment at this replica. */
export interface DeploymentStats {
  inFlight: number;
  /** EWMA of ms to response headers; undefined before the first sample. */
  latencyMs: number | undefined;
  /** Smooth weighted round-robin state. */
  current: number;
}

export const EWMA_ALPHA = 0.3;
export const EXPLORE = 0.1;

export function newStats(): DeploymentStats {
  return { inFlight: 0, latencyMs: undefined, current: 0 };
}

export function observeLatency(stats: DeploymentStats, ms: number): void {
  stats.latencyMs = stats.latencyMs === undefined ? ms : stats.latencyMs + EWMA_ALPHA * (ms - stats.latencyMs);
}

export function routingWeightOf(d: Deployment): number {
  return d.routingWeight ?? 1;
}

export type StatsOf = (d: Deployment) => DeploymentStats;

/** Smooth weighted round-robin over `usable` (non-empty). */
export function pickWeighted(usable: readonly Deployment[], statsOf: StatsOf): Deployment {
  let total = 0;
  let best: Deployment | undefined;
  let bestStats: DeploymentStats | undefined;
  for (const d of usable) {
    const s = statsOf(d);
    const w = routingWeightOf(d);
    s.current += w;
    total += w;
    if (bestStats === undefined || s.current > bestStats.current) {
      best = d;
      bestStats = s;
    }
  }
  (bestStats as DeploymentStats).current -= total;
  return best as Deployment;
}

/** Fewest in flight; `turn` rotates the starting point so equal loads share the traffic. */
export function pickLeastBusy(usable: readonly Deployment[], statsOf: StatsOf, turn: number): Deployment {
  const n = usable.length;
  let best = usable[turn % n] as Deployment;
  let least = statsOf(best).inFlight;
  for (let i = 1; i < n; i++) {
    const d = usable[(turn + i) % n] as Deployment;
    const f = statsOf(d).inFlight;
    if (f < least) {
      best = d;
      least = f;
    }
  }
  return best;
}

/** Lowest EWMA latency, unmeasured first, with exploration; `random` in [0, 1). */
export function pickLowestLatency(usable: readonly Deployment[], statsOf: StatsOf, random: () => number): Deployment {
  if (usable.length > 1 && random() < EXPLORE) return usable[Math.floor(random() * usable.length)] as Deployment;
  let best = usable[0] as Deployment;
  let bestMs = statsOf(best).latencyMs;
  for (let i = 1; i < usable.length && bestMs !== undefined; i++) {
    const d = usable[i] as Deployment;
    const ms = statsOf(d).latencyMs;
    if (ms === undefined || ms < bestMs) {
      best = d;
      bestMs = ms;
    }
  }
  return best;
}

export function pickBy(strategy: Strategy, usable: readonly Deployment[], statsOf: StatsOf, turn: number, random: () => number): Deployment {
  if (usable.length === 1) return usable[0] as Deployment;
  switch (strategy) {
    case 'weighted':
      return pickWeighted(usable, statsOf);
    case 'least-busy':
      return pickLeastBusy(usable, statsOf, turn);
    case 'lowest-latency':
      return pickLowestLatency(usable, statsOf, random);
  }
}
