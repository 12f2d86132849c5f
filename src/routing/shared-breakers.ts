/**
 * Circuit breakers shared by every replica (DESIGN §13), when Redis is configured. Each replica
 * still counts the failures of its own traffic (breaker.ts); what is shared is the state a breaker
 * trips to: open with its open-until time, then half-open with exactly one probe in the fleet.
 *
 * - A replica that trips a breaker opens it locally at once and writes the trip to the fleet
 *   (`BreakerFleet.trip`); a trip already live there wins, and the replica adopts its time.
 * - Every replica reads the fleet's breakers every `syncMs` (500 ms: one small read, off the
 *   request path) and adopts them, so a trip anywhere is seen everywhere within a second.
 * - When the cool-down is over, a replica that wants the deployment claims the fleet's one probe
 *   (`claimProbe`, a lease of `windowMs`); only the winner lets one request through. Its outcome
 *   closes the breaker fleet-wide (only while it still holds the lease) or re-opens it with the
 *   cool-down doubled. A lease won but not used within a second is given back for others.
 * - The fleet unreachable (any call fails): logged once, and every breaker acts as this replica's
 *   own (breaker.ts semantics, local probes) until a read succeeds again; then the breakers this
 *   replica opened meanwhile are written to the fleet before its state is adopted.
 *
 * Nothing here runs per request except what a breaker that is not closed needs: reads of local
 * fields, and in half-open one claim per replica and probe.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { type Breaker, type BreakerSet, type BreakerState, type BreakerTransition, type ControlledBreaker, createBreaker } from './breaker.js';
import type { BreakerPolicy } from './types.js';

/** A breaker as the fleet holds it: open (remainingMs > 0) or past its cool-down (≤ 0, half-open). */
export interface FleetEntry {
  remainingMs: number;
  /** The cool-down it opened with (doubles after a failed probe). */
  openMs: number;
}

export type ProbeClaim =
  /** This replica holds the probe lease. */
  | { kind: 'won' }
  /** Another replica holds it, for this long at most. */
  | { kind: 'held'; remainingMs: number }
  /** Not half-open any more: open again (another replica tripped it) ... */
  | { kind: 'open'; remainingMs: number; openMs: number }
  /** ... or closed (a probe elsewhere succeeded). */
  | { kind: 'closed' };

/** Where the shared state lives (redis-breakers.ts); times are relative, so replica clocks do not matter. */
export interface BreakerFleet {
  /** Opens `id` for `durationMs` unless it is open already; returns the entry in force and whether it is this call's. */
  trip(id: string, durationMs: number, openMs: number): Promise<FleetEntry & { ours: boolean }>;
  /** Closes `id` if `token` still holds its probe lease; false when it does not (the fleet moved on). */
  recover(id: string, token: string): Promise<boolean>;
  claimProbe(id: string, token: string, leaseMs: number): Promise<ProbeClaim>;
  releaseProbe(id: string, token: string): Promise<void>;
  /** Every breaker that is not closed. */
  read(): Promise<Map<string, FleetEntry>>;
  /** Resolves true once connected, false if that did not happen within `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean>;
  quit(): Promise<void>;
}

export interface SharedBreakersOptions {
  policy: BreakerPolicy;
  fleet: BreakerFleet;
  now?: () => number;
  onChange?: (t: BreakerTransition) => void;
  logger?: Pick<Logger, 'warn' | 'info'>;
  /** How often the fleet's state is read. Default 500 ms. */
  syncMs?: number;
}

export interface SharedBreakerSet extends BreakerSet {
  /** Waits for the connection (at most `connectTimeoutMs`), reads the fleet once, and starts the sync timer. */
  start(connectTimeoutMs?: number): Promise<void>;
  /** Reads the fleet and adopts its state now (the timer does this every syncMs). */
  sync(): Promise<void>;
  /** 'down': the fleet is unreachable and every breaker is this replica's own. */
  fleetState(): 'up' | 'down';
  close(): Promise<void>;
}

/** A won probe lease not used within this long is given back, so a replica with traffic can win it. */
const OFFER_MS = 1000;
/** Open-until times closer than this are the same (the fleet's and ours differ by a round trip). */
const SKEW_MS = 250;

type Probe = 'none' | 'claiming' | 'offered' | 'taken' | 'elsewhere';

interface Fleetside {
  up(): boolean;
  /** Runs a fleet write: counted (so no read taken meanwhile is applied), and a failure marks the fleet down. */
  write<T>(op: () => Promise<T>): Promise<T>;
  readonly fleet: BreakerFleet;
  readonly now: () => number;
  readonly leaseMs: number;
}

class SharedBreaker implements Breaker {
  private probe: Probe = 'none';
  private token: string | undefined;
  /** offered / taken: when the lease ends; elsewhere: when to ask the fleet again. */
  private until = 0;
  private claiming: Promise<void> | undefined;

  constructor(
    private readonly id: string,
    private readonly core: ControlledBreaker,
    private readonly side: Fleetside,
  ) {}

  state(): BreakerState {
    return this.core.state();
  }

  /** Half-open with the fleet reachable: the probe is the fleet's, not ours to take freely. */
  private fleetProbe(): boolean {
    return this.side.up() && this.core.state() === 'half-open';
  }

  private offered(): boolean {
    return this.probe === 'offered' && this.side.now() < this.until;
  }

  available(): boolean {
    return this.fleetProbe() ? this.offered() : this.core.available();
  }

  tryAcquire(): boolean {
    if (!this.fleetProbe()) return this.core.tryAcquire();
    if (!this.offered()) return false;
    this.probe = 'taken';
    return true;
  }

  retryInMs(): number {
    // Half-open and waiting for the fleet's probe: about a second (a probe answers at headers).
    return this.fleetProbe() ? OFFER_MS : this.core.retryInMs();
  }

  claim(): Promise<void> | undefined {
    if (!this.fleetProbe()) return undefined;
    const now = this.side.now();
    if (this.probe === 'claiming') return this.claiming;
    if (this.probe === 'taken' || ((this.probe === 'offered' || this.probe === 'elsewhere') && now < this.until)) return undefined;
    const token = randomBytes(9).toString('base64url');
    this.probe = 'claiming';
    const { fleet, leaseMs } = this.side;
    this.claiming = this.side
      .write(() => fleet.claimProbe(this.id, token, leaseMs))
      .then(
        (r) => this.claimed(r, token),
        () => {
          // The fleet is down now: the local breaker's own probe applies.
          if (this.probe === 'claiming') this.probe = 'none';
        },
      )
      .finally(() => {
        this.claiming = undefined;
      });
    return this.claiming;
  }

  private claimed(r: ProbeClaim, token: string): void {
    if (this.probe !== 'claiming') return; // the fleet's state was adopted meanwhile
    const now = this.side.now();
    switch (r.kind) {
      case 'won':
        this.probe = 'offered';
        this.token = token;
        this.until = now + this.side.leaseMs;
        this.expireOffer(token);
        return;
      case 'held':
        // Asked again within a second at most: a lease given back unused frees the probe early.
        this.probe = 'elsewhere';
        this.until = now + Math.min(r.remainingMs, OFFER_MS);
        return;
      case 'open':
        this.probe = 'none';
        this.core.openFor(r.remainingMs, r.openMs);
        return;
      case 'closed':
        this.probe = 'none';
        this.core.reset();
        return;
    }
  }

  /** Gives an unused won lease back after OFFER_MS (this replica may have no more traffic for it). */
  private expireOffer(token: string): void {
    setTimeout(() => {
      if (this.probe !== 'offered' || this.token !== token) return;
      this.probe = 'none';
      this.token = undefined;
      const { fleet } = this.side;
      this.side.write(() => fleet.releaseProbe(this.id, token)).catch(() => undefined);
    }, OFFER_MS).unref();
  }

  success(): void {
    // Half-open, only the fleet's probe speaks: a request sent before the trip does not close it.
    if (this.fleetProbe() && this.probe !== 'taken') return;
    const was = this.core.state();
    this.core.success();
    if (was !== 'half-open') return;
    // Our probe answered: the deployment is healthy for the whole fleet.
    const token = this.probe === 'taken' || this.probe === 'offered' ? this.token : undefined;
    this.probe = 'none';
    this.token = undefined;
    if (token === undefined) return; // a local probe while the fleet was down: the next read decides
    const { fleet } = this.side;
    this.side.write(() => fleet.recover(this.id, token)).catch(() => undefined);
  }

  failure(party?: string, shared?: boolean): void {
    // Likewise its failure: another replica's probe may be out, and the trip would cut its lease.
    if (this.fleetProbe() && this.probe !== 'taken') return;
    const was = this.core.state();
    this.core.failure(party, shared);
    // Tripped here (closed → open by count, or a failed probe, whose cool-down the core doubled).
    if (was !== 'open' && this.core.state() === 'open') {
      this.probe = 'none';
      this.token = undefined;
      this.publish();
    }
  }

  release(): void {
    if (this.probe === 'taken' && this.token !== undefined) {
      // The probe pass went unused (the request went elsewhere or was cancelled): offer it again.
      this.probe = 'offered';
      this.expireOffer(this.token);
      return;
    }
    this.core.release();
  }

  /** Writes this replica's trip to the fleet; a trip already live there wins. */
  publish(): void {
    const durationMs = this.core.retryInMs();
    if (durationMs <= 0) return;
    const { fleet } = this.side;
    this.side
      .write(() => fleet.trip(this.id, durationMs, this.core.openMs()))
      .then(
        (entry) => {
          if (!entry.ours && this.core.state() === 'open') this.core.openFor(entry.remainingMs, entry.openMs);
        },
        () => undefined,
      );
  }

  /** Adopts the fleet's state of this breaker (undefined: closed there). */
  adopt(entry: FleetEntry | undefined): void {
    const s = this.core.state();
    if (entry === undefined) {
      if (s !== 'closed') this.core.reset();
      this.probe = 'none';
      this.token = undefined;
      return;
    }
    if (entry.remainingMs > 0) {
      if (s !== 'open' || Math.abs(this.core.retryInMs() - entry.remainingMs) > SKEW_MS) {
        this.core.openFor(entry.remainingMs, entry.openMs);
        this.probe = 'none';
        this.token = undefined;
      }
      return;
    }
    // Past its cool-down fleet-wide, no probe has closed it yet: half-open here too.
    if (s !== 'half-open') {
      this.core.openFor(0, entry.openMs);
      this.probe = 'none';
      this.token = undefined;
    }
  }

  isOpen(): boolean {
    return this.core.state() === 'open';
  }
}

export function createSharedBreakers(opts: SharedBreakersOptions): SharedBreakerSet {
  const { policy, fleet, logger } = opts;
  const now = opts.now ?? Date.now;
  const syncMs = opts.syncMs ?? 500;
  const breakers = new Map<string, SharedBreaker>();
  let up = true;
  let writes = 0;
  let writeEpoch = 0;
  let syncing = false;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const down = (err: unknown): void => {
    if (!up) return;
    up = false;
    logger?.warn({ err }, 'circuit breakers: the shared store (Redis) is unreachable; each replica keeps its own breakers until it answers');
  };

  const side: Fleetside = {
    up: () => up,
    fleet,
    now,
    leaseMs: policy.windowMs,
    write<T>(op: () => Promise<T>): Promise<T> {
      writes++;
      let p: Promise<T>;
      try {
        p = op();
      } catch (err) {
        p = Promise.reject(err);
      }
      return p.then(
        (v) => {
          writes--;
          writeEpoch++;
          return v;
        },
        (err: unknown) => {
          writes--;
          writeEpoch++;
          down(err);
          throw err;
        },
      );
    },
  };

  const get = (id: string): SharedBreaker => {
    let b = breakers.get(id);
    if (b === undefined) {
      const listener = opts.onChange;
      const core = createBreaker(policy, now, listener === undefined ? undefined : (from, to) => listener({ deploymentId: id, from, to }));
      b = new SharedBreaker(id, core, side);
      breakers.set(id, b);
    }
    return b;
  };

  async function sync(): Promise<void> {
    if (syncing || closed) return;
    syncing = true;
    try {
      // A read that overlaps one of this replica's writes may predate it: skipped, read again next time.
      if (writes > 0) return;
      const epoch = writeEpoch;
      let entries: Map<string, FleetEntry>;
      try {
        entries = await fleet.read();
      } catch (err) {
        down(err);
        return;
      }
      if (!up) {
        up = true;
        logger?.info('circuit breakers: the shared store (Redis) answers again; breakers are shared');
        // What this replica tripped while alone goes to the fleet first; the next read adopts the whole.
        for (const b of breakers.values()) if (b.isOpen()) b.publish();
        return;
      }
      if (writes > 0 || writeEpoch !== epoch) return;
      for (const [id, b] of breakers) b.adopt(entries.get(id));
      for (const [id, entry] of entries) if (!breakers.has(id)) get(id).adopt(entry);
    } finally {
      syncing = false;
    }
  }

  return {
    find: (id) => breakers.get(id),
    get,
    entries: () => breakers.entries(),
    async start(connectTimeoutMs = 1000) {
      if (!(await fleet.ready(connectTimeoutMs))) down(new Error(`no connection within ${connectTimeoutMs} ms`));
      await sync();
      timer = setInterval(() => void sync(), syncMs);
      timer.unref();
    },
    sync,
    fleetState: () => (up ? 'up' : 'down'),
    async close() {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      await fleet.quit();
    },
  };
}
