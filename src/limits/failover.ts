/**
 * Redis-or-local limits (DESIGN §4, §12). Admission asks this wrapper, never the Redis backend
 * directly. While Redis answers, every reservation goes there. When it cannot be reached
 * (LimitsUnavailableError: refused, lost, timed out), the wrapper remembers that Redis is down,
 * logs the transition once, and from then on does not try Redis on the request path: a probe
 * PINGs it in the background and brings the state back up when it answers. Meanwhile each call
 * chooses its fail mode: 'closed' refuses with `limits_unavailable` (503), 'open' reserves against
 * this instance's own memory backend, with each limit scaled to `fallbackShare` (limit ÷
 * replicas, DESIGN §12), and is counted.
 *
 * Settling goes to the backend that made the reservation: `reserve` returns `via`, and the caller
 * hands it back to `settle` (no per-reservation state here). A settle meant for Redis that cannot
 * be delivered is kept (bounded) and replayed when Redis is back; settles are idempotent per
 * reservation id, so a replay never counts twice. `settle` never rejects.
 *
 * Reservations on Redis get the lease keeper's short lease and are held by it until settled
 * (src/limits/leases.ts); local ones keep the caller's lease (a process that dies takes its
 * memory with it, so there is nothing to give back).
 *
 * What this instance counts locally while failing open is added to Redis once it answers again
 * (outage-journal.ts): the usage settled locally is summed per day/month counter, and reservations
 * still open are moved to Redis as leased holds under their own ids (their settle then goes to
 * Redis too). On the way back up, after the settle replay, the journal's batches are shipped, one
 * script call per tenant batch whose id Redis remembers, so a batch is added once whether its reply
 * was lost, the outage came back before it was acknowledged, or it is retried. While Redis is up
 * nothing is recorded: a local reservation only ever happens while it is down.
 *
 * Fail open must not grant a day's quota afresh: the local counters would start from zero. So
 * the wrapper remembers, per day/month counter, how much of it Redis last reported taken (from
 * every reservation's `remaining`), and seeds the local counter with this instance's share of
 * that the first time the counter is used locally. A counter this instance never saw from Redis
 * (it started during the outage) is seeded from the ledger (usage rollups), once per tenant and
 * outage; the first local reservation of a tenant waits for that read, at most `ledgerWaitMs`.
 */
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import type { LeaseKeeper } from './leases.js';
import { createOutageJournal, type MergeBatch, type MigratedReservation } from './outage-journal.js';
import type { WindowSeed } from './redis-backend.js';
import { tenantOfKey } from './start-seeds.js';
import type { Charge, FailMode, LimitBackend, ReserveResult, WindowCounterState } from './types.js';
import { LimitsUnavailableError } from './unavailable.js';

export type LimitsState = 'up' | 'down';
/** Which backend holds a reservation. */
export type Via = 'primary' | 'fallback';
export type FailoverReserveResult = ReserveResult & { readonly via: Via };

/** A shared backend that can be probed (the Redis backend). */
export interface ProbedBackend extends LimitBackend {
  ping(): Promise<void>;
  peekWindows?(keys: readonly string[]): Promise<ReadonlyMap<string, WindowCounterState>>;
  /** The Redis run id as last read, without a round trip ('' unknown). */
  lastRunId?(): string;
  /**
   * Adds a batch of what was counted locally during an outage, once per batch id. Absent: local
   * usage is not written back (nothing is recorded).
   */
  mergeOutage?(batch: MergeBatch): Promise<number>;
}

/** A local backend whose day/month counters can be seeded (the memory backend). */
export interface SeedableBackend extends LimitBackend {
  /** Raises the window counter `key` to at least `used` (creating it), never lowers it. */
  seedWindow(key: string, used: number, resetAt: number): void;
}

export interface FailoverOptions {
  primary: ProbedBackend;
  fallback: SeedableBackend;
  /** Keeps the leases of reservations on the primary alive; absent: the caller's lease, no renewal. */
  leases?: LeaseKeeper;
  /** One tenant's day/month usage from the ledger, for counters Redis was never seen to report. */
  ledger?: (tenantId: string) => Promise<readonly WindowSeed[]>;
  /** How long the first local reservation of a tenant waits for its ledger read. Default 1,000 ms. */
  ledgerWaitMs?: number;
  /** Day/month counters whose last Redis figure is remembered; the oldest are forgotten. Default 100,000. */
  maxRemembered?: number;
  onStateChange?: (state: LimitsState) => void;
  logger?: Logger;
  /** How often a down primary is probed. Default 1,000 ms. */
  probeIntervalMs?: number;
  /**
   * Share of every limit the fallback enforces, in (0, 1]: 1 ÷ replicas. Default 1. A function is
   * read at each local reservation (the live replica count, last known before Redis went away).
   */
  fallbackShare?: number | (() => number);
  /** Settles for the primary kept while it is down; the oldest are dropped beyond. Default 10,000. */
  maxPendingSettles?: number;
  /**
   * Counters with local usage not yet written back, and open local reservations, each kept at
   * most (outage-journal.ts). Default 100,000.
   */
  maxOutageEntries?: number;
}

export interface FailoverStats {
  state: LimitsState;
  /** Reservations served by the local fallback (fail open). */
  fallbackReservations: number;
  /** Requests refused because the primary was down (fail closed). */
  unavailableRejections: number;
  /** Primary calls on the request path that failed as unreachable. */
  failures: number;
  /** Settles that failed for another reason (a bug), or were dropped from a full replay queue. */
  settleFailures: number;
  droppedSettles: number;
  replayedSettles: number;
  pendingSettles: number;
  /** Local day/month counters seeded from Redis's last figures, and tenants seeded from the ledger. */
  seededFromRedis: number;
  seededFromLedger: number;
  /** Batches of fail-open usage added to Redis after an outage; waiting to be; failed for another reason. */
  mergedBatches: number;
  pendingMerges: number;
  mergeFailures: number;
  /** Fail-open usage or reservations forgotten because the journal was full (never written back). */
  droppedOutageUsage: number;
}

export interface FailoverLimits {
  reserve(reservationId: string, charges: readonly Charge[], leaseMs: number, failMode: FailMode): Promise<FailoverReserveResult>;
  settle(via: Via, reservationId: string, charges: readonly Charge[], used: readonly number[]): Promise<void>;
  state(): LimitsState;
  stats(): FailoverStats;
  /**
   * The shared counters while the primary is up; null while it is down (the local fallback's
   * counters are this replica's share only, not the fleet's).
   */
  peekWindows(keys: readonly string[]): Promise<ReadonlyMap<string, WindowCounterState> | null>;
  /** Stops probing and closes both backends. */
  close(): Promise<void>;
}

interface PendingSettle {
  id: string;
  charges: readonly Charge[];
  used: readonly number[];
}

function share(limit: number, fraction: number): number {
  return limit > 0 ? Math.max(1, Math.floor(limit * fraction)) : 0;
}

/** The fallback's charges: every limit (and burst) scaled to this instance's share. */
function localCharges(charges: readonly Charge[], fraction: number): readonly Charge[] {
  if (fraction >= 1) return charges;
  return charges.map((c): Charge => {
    if (c.kind === 'bucket') return { ...c, limit: share(c.limit, fraction), burst: share(c.burst, fraction) };
    return { ...c, limit: share(c.limit, fraction) };
  });
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const RESOLVED = Promise.resolve();

/** A journal batch on its way to Redis. */
interface Shipment {
  batch: MergeBatch;
  /** Resolves once Redis applied it (or it failed for good). */
  applied: Promise<void>;
  done: () => void;
  inFlight: boolean;
}

export function createFailoverBackend(opts: FailoverOptions): FailoverLimits {
  const { primary, fallback, logger } = opts;
  const probeIntervalMs = opts.probeIntervalMs ?? 1_000;
  const shareOpt = opts.fallbackShare ?? 1;
  const validShare = (f: number): boolean => f > 0 && f <= 1;
  if (typeof shareOpt === 'number' && !validShare(shareOpt)) throw new Error('limits: fallbackShare must be in (0, 1]');
  /**
   * This instance's share now. The live replica count comes from the same Redis, so it stays
   * at its last reading for the whole outage; an answer out of range keeps the last valid one.
   */
  let lastShare = typeof shareOpt === 'number' ? shareOpt : 1;
  const shareNow = (): number => {
    if (typeof shareOpt === 'number') return shareOpt;
    const f = shareOpt();
    if (validShare(f)) lastShare = f;
    return lastShare;
  };
  const maxPending = opts.maxPendingSettles ?? 10_000;
  const leases = opts.leases;
  const ledger = opts.ledger;
  const ledgerWaitMs = opts.ledgerWaitMs ?? 1_000;
  const maxRemembered = opts.maxRemembered ?? 100_000;
  /** Window counter key → units Redis last reported taken (settled + pending). */
  const lastSeen = new Map<string, number>();
  /** Local usage to write back to Redis; only when the primary can take it. */
  const journal =
    primary.mergeOutage === undefined
      ? undefined
      : createOutageJournal({
          ...(leases !== undefined ? { holdLeaseMs: leases.leaseMs } : {}),
          ...(opts.maxOutageEntries !== undefined ? { maxEntries: opts.maxOutageEntries } : {}),
        });
  /** Batches taken from the journal and not yet acknowledged by Redis, oldest first. */
  const unmerged: Shipment[] = [];
  /** The Redis run id last seen before the current (or last) outage. */
  let outageRun = '';
  let flushTimer: NodeJS.Timeout | undefined;
  /** Tenants whose ledger figures were applied (or asked for) during this outage. */
  const ledgerSeeded = new Map<string, Promise<void>>();

  let state: LimitsState = 'up';
  let probe: NodeJS.Timeout | undefined;
  let probing = false;
  let closed = false;
  let pending: PendingSettle[] = [];
  const counts = {
    fallbackReservations: 0,
    unavailableRejections: 0,
    failures: 0,
    settleFailures: 0,
    droppedSettles: 0,
    replayedSettles: 0,
    seededFromRedis: 0,
    seededFromLedger: 0,
    mergedBatches: 0,
    mergeFailures: 0,
  };

  function notify(next: LimitsState): void {
    try {
      opts.onStateChange?.(next);
    } catch (err) {
      logger?.error({ err: message(err) }, 'limits: state change listener failed');
    }
  }

  function markDown(err: unknown): void {
    counts.failures++;
    if (state === 'down' || closed) return;
    state = 'down';
    outageRun = primary.lastRunId?.() ?? '';
    logger?.warn({ err: message(err) }, 'limits: Redis unreachable; using the configured fail mode until it answers again');
    notify('down');
    probe = setInterval(runProbe, probeIntervalMs);
    probe.unref();
  }

  function markUp(): void {
    if (state === 'up' || closed) return;
    state = 'up';
    clearInterval(probe);
    probe = undefined;
    logger?.info({ replaying: pending.length }, 'limits: Redis reachable again');
    notify('up');
    // The next outage reads the ledger afresh: Redis's figures moved meanwhile.
    ledgerSeeded.clear();
    const replay = pending;
    pending = [];
    for (const p of replay) {
      void deliver(p).then((ok) => {
        if (ok) counts.replayedSettles++;
      });
    }
    flush();
  }

  /** Ships what the journal holds, and batches not acknowledged yet; only while up. */
  function flush(): void {
    clearTimeout(flushTimer);
    flushTimer = undefined;
    if (journal === undefined || state !== 'up' || closed) return;
    if (journal.pending()) {
      for (const batch of journal.take(outageRun)) {
        let done!: () => void;
        const applied = new Promise<void>((resolve) => (done = resolve));
        unmerged.push({ batch, applied, done, inFlight: false });
      }
    }
    for (const s of unmerged) if (!s.inFlight) ship(s);
  }

  /** A flush soon: local usage recorded while up (a request admitted locally just before recovery). */
  function flushSoon(): void {
    if (flushTimer !== undefined || state !== 'up' || closed) return;
    flushTimer = setTimeout(flush, 50);
    flushTimer.unref();
  }

  function ship(s: Shipment): void {
    s.inFlight = true;
    const finish = () => {
      const at = unmerged.indexOf(s);
      if (at !== -1) unmerged.splice(at, 1);
      s.done();
    };
    Promise.resolve()
      .then(() => (primary.mergeOutage as NonNullable<typeof primary.mergeOutage>)(s.batch))
      .then(
        (applied) => {
          counts.mergedBatches++;
          const now = Date.now();
          for (const r of s.batch.holds) leases?.hold(r.id, r.charges, r.deadline - now);
          logger?.debug({ batch: s.batch.id, rows: s.batch.rows.length, applied }, 'limits: usage counted locally during the outage added to Redis');
          finish();
        },
        (err: unknown) => {
          s.inFlight = false;
          if (err instanceof LimitsUnavailableError) {
            markDown(err); // kept: shipped again (same id, applied once) when Redis is back
            return;
          }
          counts.mergeFailures++;
          logger?.error({ err: message(err), batch: s.batch.id }, 'limits: adding usage counted during the outage to Redis failed');
          finish();
        },
      );
  }

  /** Settles a reservation moved to Redis, there, once the batch that moved it was applied. */
  function settleMigrated(batch: MergeBatch, r: MigratedReservation, used: readonly number[]): void {
    const p: PendingSettle = { id: r.id, charges: r.charges, used: r.positions.map((i) => used[i] ?? 0) };
    const send = () => {
      leases?.release(r.id);
      if (state === 'down') keep(p);
      else void deliver(p);
    };
    const s = unmerged.find((x) => x.batch === batch);
    if (s === undefined) send();
    else void s.applied.then(send);
  }

  function runProbe(): void {
    if (probing) return;
    probing = true;
    primary.ping().then(
      () => {
        probing = false;
        markUp();
      },
      () => {
        probing = false;
      },
    );
  }

  function keep(p: PendingSettle): void {
    if (pending.length >= maxPending) {
      pending.shift();
      counts.droppedSettles++;
    }
    pending.push(p);
  }

  /** Sends one settle to the primary; true when delivered. Never rejects. */
  function deliver(p: PendingSettle): Promise<boolean> {
    return Promise.resolve()
      .then(() => primary.settle(p.id, p.charges, p.used))
      .then(
        () => true,
        (err: unknown) => {
          if (err instanceof LimitsUnavailableError) {
            markDown(err);
            keep(p);
          } else {
            counts.settleFailures++;
            logger?.error({ err: message(err) }, 'limits: settling a reservation failed');
          }
          return false;
        },
      );
  }

  /** What Redis says is taken of each day/month counter, kept for a later fail-open. */
  function remember(charges: readonly Charge[], result: ReserveResult): void {
    for (let i = 0; i < charges.length; i++) {
      const c = charges[i] as Charge;
      if (c.kind !== 'window') continue;
      const state = result.states[i];
      if (state === undefined) continue;
      // remaining is after this reservation when admitted, before it when refused; 0 means full.
      const taken = Math.max(0, c.limit - state.remaining);
      if (!lastSeen.has(c.key) && lastSeen.size >= maxRemembered) {
        const oldest = lastSeen.keys().next();
        if (oldest.done !== true) lastSeen.delete(oldest.value);
      }
      lastSeen.set(c.key, taken);
    }
  }

  /** Applies one tenant's ledger figures to the local counters, once per outage; never rejects. */
  function seedFromLedger(tenantId: string): Promise<void> {
    let seeding = ledgerSeeded.get(tenantId);
    if (seeding === undefined) {
      seeding = Promise.resolve()
        .then(() => (ledger as NonNullable<typeof ledger>)(tenantId))
        .then(
          (entries) => {
            for (const e of entries) fallback.seedWindow(e.key, Math.ceil(e.used * shareNow()), e.resetAt);
            counts.seededFromLedger++;
          },
          (err: unknown) => logger?.warn({ err: message(err), tenant: tenantId }, 'limits: reading the ledger to seed local counters failed'),
        );
      ledgerSeeded.set(tenantId, seeding);
    }
    return seeding;
  }

  /** Seeds the local day/month counters this reservation uses before their first local use. */
  async function seedLocal(charges: readonly Charge[]): Promise<void> {
    let unseenTenant: string | undefined;
    for (const c of charges) {
      if (c.kind !== 'window') continue;
      const seen = lastSeen.get(c.key);
      if (seen !== undefined) {
        // This instance's share of what the whole fleet had taken, like its share of the limit.
        fallback.seedWindow(c.key, Math.ceil(seen * shareNow()), c.resetAt);
        lastSeen.delete(c.key);
        counts.seededFromRedis++;
      } else if (ledger !== undefined) {
        unseenTenant ??= tenantOfKey(c.key);
      }
    }
    if (unseenTenant === undefined) return;
    const seeding = seedFromLedger(unseenTenant);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([seeding, new Promise<void>((resolve) => (timer = setTimeout(resolve, ledgerWaitMs)))]);
    clearTimeout(timer);
  }

  async function reserve(
    reservationId: string,
    charges: readonly Charge[],
    leaseMs: number,
    failMode: FailMode,
  ): Promise<FailoverReserveResult> {
    if (state === 'up') {
      try {
        const result = await primary.reserve(reservationId, charges, leases === undefined ? leaseMs : Math.min(leaseMs, leases.leaseMs));
        remember(charges, result);
        if (result.ok) leases?.hold(reservationId, charges, leaseMs);
        return { ...result, via: 'primary' };
      } catch (err) {
        if (!(err instanceof LimitsUnavailableError)) throw err;
        markDown(err);
      }
    }
    if (failMode === 'closed') {
      counts.unavailableRejections++;
      throw new GatewayError('limits_unavailable', 'Rate limits cannot be checked right now; retry shortly.', {
        headers: { 'retry-after': '1' },
      });
    }
    counts.fallbackReservations++;
    await seedLocal(charges);
    const result = await fallback.reserve(reservationId, localCharges(charges, shareNow()), leaseMs);
    if (result.ok && journal !== undefined) {
      journal.admitted(reservationId, charges, Date.now() + leaseMs);
      flushSoon(); // Redis came back while this one waited for its seed
    }
    return { ...result, via: 'fallback' };
  }

  function settle(via: Via, reservationId: string, charges: readonly Charge[], used: readonly number[]): Promise<void> {
    if (via === 'primary') {
      leases?.release(reservationId);
      const p = { id: reservationId, charges, used };
      if (state === 'down') {
        keep(p);
        return RESOLVED;
      }
      return deliver(p).then(() => undefined);
    }
    if (journal !== undefined) {
      const outcome = journal.settled(reservationId, used);
      if (outcome.kind === 'recorded') flushSoon();
      else if (outcome.kind === 'migrated') settleMigrated(outcome.batch, outcome.reservation, used);
    }
    try {
      return Promise.resolve(fallback.settle(reservationId, localCharges(charges, shareNow()), used)).catch((err: unknown) => {
        counts.settleFailures++;
        logger?.error({ err: message(err) }, 'limits: settling a local reservation failed');
      });
    } catch (err) {
      counts.settleFailures++;
      logger?.error({ err: message(err) }, 'limits: settling a local reservation failed');
      return RESOLVED;
    }
  }

  async function peekWindows(keys: readonly string[]): Promise<ReadonlyMap<string, WindowCounterState> | null> {
    if (state !== 'up' || primary.peekWindows === undefined) return null;
    try {
      return await primary.peekWindows(keys);
    } catch (err) {
      if (!(err instanceof LimitsUnavailableError)) throw err;
      markDown(err);
      return null;
    }
  }

  return {
    reserve,
    settle,
    peekWindows,
    state: () => state,
    stats: () => ({
      state,
      ...counts,
      pendingSettles: pending.length,
      pendingMerges: unmerged.length,
      droppedOutageUsage: journal?.stats().dropped ?? 0,
    }),
    async close() {
      closed = true;
      clearInterval(probe);
      probe = undefined;
      clearTimeout(flushTimer);
      if (unmerged.length > 0 || journal?.pending() === true) {
        logger?.warn({ batches: unmerged.length }, 'limits: closing with usage counted during an outage not yet added to Redis');
      }
      leases?.close();
      await Promise.all([primary.close(), fallback.close()]);
    },
  };
}
