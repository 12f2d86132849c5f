/**
 * The router's state for one gateway process: per-deployment statistics (in flight, latency,
 * round-robin position) and circuit breakers, and the per-model policies. Picking a deployment
 * is synchronous and allocation-light. Statistics are per replica; breakers too, unless a shared
 * set is handed in (shared-breakers.ts, DESIGN §13).
 */
import type { Deployment } from '../providers/types.js';
import { type DeploymentStats, newStats, observeLatency, pickBy } from './balancer.js';
import { type BreakerSet, type BreakerState, type BreakerTransition, localBreakers } from './breaker.js';
import { DEFAULT_ROUTING, type ModelPolicy, type RoutingConfig, policyOf } from './types.js';

export type { BreakerTransition } from './breaker.js';

export type Pick =
  | { deployment: Deployment; unavailableMs?: undefined; claiming?: undefined }
  /**
   * No candidate may be sent to: the earliest breaker lets a probe through in `unavailableMs`.
   * `claiming`: shared breakers whose fleet-wide probe this replica is trying to win; once it
   * settles, a new pick may get the probe (the caller may wait for it: one Redis round trip).
   */
  | { deployment: undefined; unavailableMs: number; claiming?: Promise<void> };

export interface RouterOptions {
  config?: RoutingConfig;
  now?: () => number;
  random?: () => number;
  /** Told once per breaker state change (logs); for the replica's own breakers. */
  onBreakerChange?: (t: BreakerTransition) => void;
  /** Breakers shared with other replicas (shared-breakers.ts); default: this replica's own. */
  breakers?: BreakerSet;
}

export interface Router {
  readonly config: RoutingConfig;
  policy(model: string): ModelPolicy;
  fallbacksOf(model: string): readonly string[];
  /**
   * Chooses among `candidates` by the model's strategy, skipping open breakers and the ids in
   * `exclude`. A half-open deployment's probe pass is taken for the pick.
   */
  pick(model: string, candidates: readonly Deployment[], exclude?: ReadonlySet<string>): Pick;
  /** An attempt on `d` starts / its response is over (least-busy counts these). */
  begin(d: Deployment): void;
  end(d: Deployment): void;
  /** The upstream answered (any status the client may get): closes a probe, feeds the latency. */
  /** `party`: the tenant that sent the request (breaker.ts: one tenant's failures trip no shared breaker). */
  succeeded(d: Deployment, headersMs: number, party?: string): void;
  /** A retryable upstream failure (5xx, timeout, connect error). */
  failed(d: Deployment, elapsedMs: number, party?: string): void;
  /** A pick that was never sent (gives back a half-open probe pass). */
  unused(d: Deployment): void;
  breakerState(deploymentId: string): BreakerState;
  breakerStates(): { deploymentId: string; state: BreakerState }[];
  stats(deploymentId: string): Readonly<DeploymentStats> | undefined;
}

const NO_EXCLUDE: ReadonlySet<string> = new Set();

export function createRouter(opts: RouterOptions = {}): Router {
  const config = opts.config ?? DEFAULT_ROUTING;
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const stats = new Map<string, DeploymentStats>();
  const breakers = opts.breakers ?? localBreakers(config.breaker, now, opts.onBreakerChange);
  let turn = 0;

  /** The first tenant each deployment served, and whether it has served another since (breaker.ts). */
  const parties = new Map<string, { first: string; shared: boolean }>();
  /** Notes that `party` sent a request to the deployment; says whether the deployment is shared. */
  const served = (id: string, party: string | undefined): boolean => {
    const p = parties.get(id);
    if (p === undefined) {
      if (party !== undefined) parties.set(id, { first: party, shared: false });
      return false;
    }
    if (!p.shared && party !== undefined && party !== p.first) p.shared = true;
    return p.shared;
  };
  const statsOf = (d: Deployment): DeploymentStats => {
    let s = stats.get(d.id);
    if (s === undefined) stats.set(d.id, (s = newStats()));
    return s;
  };

  return {
    config,
    policy: (model) => policyOf(config, model),
    fallbacksOf: (model) => config.fallbacks.get(model) ?? [],
    pick(model, candidates, exclude = NO_EXCLUDE) {
      // The common case (no breaker ever opened, nothing excluded) filters nothing and allocates nothing.
      let usable: readonly Deployment[] = candidates;
      let soonest = Infinity;
      let claims: Promise<void>[] | undefined;
      for (let i = 0; i < candidates.length; i++) {
        const d = candidates[i] as Deployment;
        const b = breakers.find(d.id);
        if (!exclude.has(d.id) && (b === undefined || b.available())) continue;
        // First unusable one: copy the usable ones and keep filtering.
        const list: Deployment[] = candidates.slice(0, i);
        for (let j = i; j < candidates.length; j++) {
          const c = candidates[j] as Deployment;
          if (exclude.has(c.id)) continue;
          const cb = breakers.find(c.id);
          if (cb === undefined || cb.available()) list.push(c);
          else {
            soonest = Math.min(soonest, Math.max(cb.retryInMs(), 1));
            // A half-open shared breaker: try for the fleet's one probe (also while others serve,
            // or the deployment would never be probed again); this pick goes on without it.
            const claim = cb.claim?.();
            if (claim !== undefined) (claims ??= []).push(claim);
          }
        }
        usable = list;
        break;
      }
      if (usable.length === 0) {
        const unavailableMs = soonest === Infinity ? 0 : soonest;
        if (claims === undefined) return { deployment: undefined, unavailableMs };
        return { deployment: undefined, unavailableMs, claiming: Promise.all(claims).then(() => undefined) };
      }
      turn = (turn + 1) % 1_000_000;
      const d = pickBy(policyOf(config, model).strategy, usable, statsOf, turn, random);
      breakers.find(d.id)?.tryAcquire();
      return { deployment: d };
    },
    begin(d) {
      statsOf(d).inFlight++;
    },
    end(d) {
      const s = statsOf(d);
      if (s.inFlight > 0) s.inFlight--;
    },
    succeeded(d, headersMs, party) {
      observeLatency(statsOf(d), headersMs);
      served(d.id, party);
      breakers.find(d.id)?.success();
    },
    failed(d, elapsedMs, party) {
      // A failure counts as slow for lowest-latency, so traffic moves away until it is measured again.
      const s = statsOf(d);
      observeLatency(s, Math.max(elapsedMs, (s.latencyMs ?? 0) * 2));
      breakers.get(d.id).failure(party, served(d.id, party));
    },
    unused(d) {
      breakers.find(d.id)?.release();
    },
    breakerState: (id) => breakers.find(id)?.state() ?? 'closed',
    breakerStates: () => [...breakers.entries()].map(([deploymentId, b]) => ({ deploymentId, state: b.state() })),
    stats: (id) => stats.get(id),
  };
}
