/**
 * Prices requests by the price book (DESIGN §13 "Price versions"). The platform's deployments are
 * configuration objects shared by every snapshot; this module is the one writer of their
 * `prices` and `priceVersion` after start-up, setting both in one synchronous step, so a usage
 * event (which reads both in one synchronous function) always names the version its cost came
 * from. Versions take effect at their `effective_from` on this replica (a timer), and versions
 * added elsewhere are picked up by re-reading the book every `refreshMs` (the admin API refreshes
 * its own replica at once). Nothing here runs per request.
 *
 * Rule (the same as billingRepo.priceAt): the newest version with effective_from <= now among the
 * deployment's own rows and its model's (deployment_id NULL); on the same instant, its own row.
 * A deployment without any version keeps its configured prices and records no version.
 */
import type { Logger } from '../observability/logger.js';
import type { Deployment, Prices } from '../providers/types.js';
import { billingRepo, type PriceBookEntry, type Store } from '../store/index.js';

/** Longest single timer (setTimeout overflows past 2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The version in force for `d` at `atMs`; `versions` sorted by effective_from ascending. */
export function versionInForce(versions: readonly PriceBookEntry[], d: Pick<Deployment, 'id' | 'model'>, atMs: number): PriceBookEntry | undefined {
  let best: PriceBookEntry | undefined;
  for (const v of versions) {
    if (v.effectiveFrom.getTime() > atMs) break;
    if (v.model !== d.model || (v.deploymentId !== null && v.deploymentId !== d.id)) continue;
    const later = best === undefined || v.effectiveFrom.getTime() > best.effectiveFrom.getTime();
    const ownOnTie = best !== undefined && v.effectiveFrom.getTime() === best.effectiveFrom.getTime() && v.deploymentId !== null;
    if (later || ownOnTie) best = v;
  }
  return best;
}

export function pricesOf(v: PriceBookEntry): Prices {
  return {
    inputPerMTok: v.inputPerMTokMicros,
    outputPerMTok: v.outputPerMTokMicros,
    cachedInputPerMTok: v.cachedPerMTokMicros,
    perRequest: v.perRequestMicros,
  };
}

/**
 * Sets each deployment's prices and version to those in force at `atMs`; returns how many
 * deployments changed, and when the next known version takes effect (null: none ahead).
 */
export function applyVersions(deployments: readonly Deployment[], versions: readonly PriceBookEntry[], atMs: number): { changed: number; nextAtMs: number | null } {
  let changed = 0;
  for (const d of deployments) {
    const v = versionInForce(versions, d, atMs);
    if (v === undefined || v.id === d.priceVersion) continue;
    // One synchronous step: no request can see the new prices with the old version.
    d.prices = pricesOf(v);
    d.priceVersion = v.id;
    changed++;
  }
  const next = versions.find((v) => v.effectiveFrom.getTime() > atMs);
  return { changed, nextAtMs: next === undefined ? null : next.effectiveFrom.getTime() };
}

export interface PriceFollower {
  /** Re-reads the price book and applies what is in force now. */
  refresh(): Promise<void>;
  close(): void;
}

export interface PriceFollowerOptions {
  store: Pick<Store, 'platform'>;
  /** The platform's deployments (mutated in place, see the header). */
  deployments: readonly Deployment[];
  refreshMs: number;
  logger?: Pick<Logger, 'info' | 'warn'>;
  now?: () => number;
}

/** Reads the book once (a failure is logged: configured prices stay), then follows it. */
export async function startPriceFollower(opts: PriceFollowerOptions): Promise<PriceFollower> {
  const now = opts.now ?? Date.now;
  const models = [...new Set(opts.deployments.map((d) => d.model))];
  let versions: PriceBookEntry[] = [];
  let poll: NodeJS.Timeout | undefined;
  let next: NodeJS.Timeout | undefined;
  let closed = false;
  // The book's first reading only adopts the versions in force (the deployments come with none):
  // nothing new to announce at every start. Later changes are new versions.
  let adopted = false;

  function apply(): void {
    if (closed) return;
    const r = applyVersions(opts.deployments, versions, now());
    if (r.changed > 0 && adopted) opts.logger?.info({ deployments: r.changed }, 'billing: deployment prices follow a new price-book version');
    adopted = true;
    if (next !== undefined) clearTimeout(next);
    next = undefined;
    if (r.nextAtMs !== null) {
      next = setTimeout(apply, Math.min(MAX_TIMER_MS, Math.max(0, r.nextAtMs - now())));
      next.unref();
    }
  }

  async function refresh(): Promise<void> {
    if (models.length === 0) return;
    versions = await opts.store.platform((tx) => billingRepo.versionsOf(tx, models));
    apply();
  }

  try {
    await refresh();
  } catch (err) {
    opts.logger?.warn({ err }, 'billing: reading the price book failed; configured prices apply until it is read');
  }
  if (opts.refreshMs > 0) {
    poll = setInterval(() => {
      refresh().catch((err: unknown) => opts.logger?.warn({ err }, 'billing: re-reading the price book failed'));
    }, opts.refreshMs);
    poll.unref();
  }
  return {
    refresh,
    close() {
      closed = true;
      if (poll !== undefined) clearInterval(poll);
      if (next !== undefined) clearTimeout(next);
    },
  };
}
