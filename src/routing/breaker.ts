/**
 * A circuit breaker per deployment (DESIGN §6). Each gateway process counts the failures of the
 * traffic it sends; with Redis the state it trips to is shared by every replica
 * (shared-breakers.ts wraps this one), otherwise it is this replica's alone.
 *
 * closed ─(N consecutive failures, or failure share ≥ rate over ≥ minRequests in a window)─▶ open
 * open ─(cool-down passed)─▶ half-open: exactly one probe request at a time is let through
 * half-open ─probe succeeds─▶ closed;  ─probe fails─▶ open again with the cool-down doubled.
 *
 * One tenant's failures do not open a breaker that other tenants depend on. A tenant can cause
 * failures of its own (a generation long enough to time out, inputs the upstream chokes on), and
 * an open breaker refuses everyone. So once a deployment has served more than one tenant, it trips
 * only when the failures of the current window come from at least two of them; a deployment only
 * one tenant has used (its own, or a single-tenant install) trips as before.
 */
import type { BreakerPolicy } from './types.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

/** Numeric value of each state for the Prometheus gauge. */
export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

export interface Breaker {
  /** The state now (an open breaker whose cool-down has passed reads half-open). */
  state(): BreakerState;
  /**
   * May a request be sent now? In half-open, true for one probe until its result is recorded;
   * the caller that got true must call success() or failure() (or release() if it never sent).
   */
  tryAcquire(): boolean;
  /** Would tryAcquire() say yes now? (Reads only.) */
  available(): boolean;
  /** ms until an open breaker lets a probe through (0 when not open). */
  retryInMs(): number;
  success(): void;
  /**
   * `party`: who sent the failed request (the tenant); `shared`: the deployment has served more
   * than one party (the router knows). See the note at the top.
   */
  failure(party?: string, shared?: boolean): void;
  /** A probe that was allowed but not sent (the request went elsewhere or was cancelled). */
  release(): void;
  /**
   * Shared breakers only: a half-open breaker whose fleet-wide probe this replica may try to win.
   * Starts that claim (once) and returns it; meanwhile available() is false. Undefined: nothing to
   * claim (not half-open, already decided, or a breaker of this replica alone).
   */
  claim?(): Promise<void> | undefined;
}

/** What shared-breakers.ts needs to set a breaker to the fleet's state. */
export interface ControlledBreaker extends Breaker {
  /** Opens (or keeps open) for `ms` more (0: half-open at once), with `openMs` as the cool-down doubled after a failed probe. */
  openFor(ms: number, openMs: number): void;
  /** Closes, forgetting the failures counted so far. */
  reset(): void;
  /** The cool-down the breaker opens with next (doubles per failed probe). */
  openMs(): number;
}

export type BreakerListener = (from: BreakerState, to: BreakerState) => void;

export interface BreakerTransition {
  deploymentId: string;
  from: BreakerState;
  to: BreakerState;
}

/** The breakers of every deployment the router has seen fail (or, shared, seen another replica trip). */
export interface BreakerSet {
  /** The deployment's breaker, if it has one (none: closed). No allocation: the hot path asks. */
  find(id: string): Breaker | undefined;
  /** The deployment's breaker, made on first need. */
  get(id: string): Breaker;
  entries(): IterableIterator<[string, Breaker]>;
}

/** Breakers of this replica alone (no REDIS_URL). */
export function localBreakers(policy: BreakerPolicy, now: () => number, onChange?: (t: BreakerTransition) => void): BreakerSet {
  const breakers = new Map<string, Breaker>();
  return {
    find: (id) => breakers.get(id),
    get(id) {
      let b = breakers.get(id);
      if (b === undefined) {
        b = createBreaker(policy, now, onChange === undefined ? undefined : (from, to) => onChange({ deploymentId: id, from, to }));
        breakers.set(id, b);
      }
      return b;
    },
    entries: () => breakers.entries(),
  };
}

export function createBreaker(policy: BreakerPolicy, now: () => number, onChange?: BreakerListener): ControlledBreaker {
  let state: 'closed' | 'open' | 'half-open' = 'closed';
  let consecutive = 0;
  let windowStart = now();
  let windowRequests = 0;
  let windowFailures = 0;
  let openUntil = 0;
  let openMs = policy.openMs;
  /** Until when the current half-open probe holds the one pass; a lost probe frees it after windowMs. */
  let probeUntil = 0;
  /** The first party that failed in this window, and whether another one has too. */
  let firstFailing: string | undefined;
  let manyFailing = false;
  const sawFailing = (party: string | undefined): void => {
    if (party === undefined || manyFailing) return;
    if (firstFailing === undefined) firstFailing = party;
    else if (party !== firstFailing) manyFailing = true;
  };

  const move = (to: BreakerState): void => {
    if (to === state) return;
    const from = state;
    state = to;
    onChange?.(from, to);
  };

  const open = (): void => {
    openUntil = now() + openMs;
    probeUntil = 0;
    consecutive = 0;
    windowRequests = 0;
    windowFailures = 0;
    firstFailing = undefined;
    manyFailing = false;
    move('open');
  };

  /** Closed with a fresh window and the base cool-down: a probe that succeeded, or a reset. */
  const close = (): void => {
    probeUntil = 0;
    openMs = policy.openMs;
    consecutive = 0;
    windowRequests = 0;
    windowFailures = 0;
    firstFailing = undefined;
    manyFailing = false;
    windowStart = now();
    move('closed');
  };

  /** An open breaker turns half-open when read after its cool-down. */
  const current = (): BreakerState => {
    if (state === 'open' && now() >= openUntil) move('half-open');
    return state;
  };

  const count = (failed: boolean): void => {
    const t = now();
    if (t - windowStart >= policy.windowMs) {
      windowStart = t;
      windowRequests = 0;
      windowFailures = 0;
      firstFailing = undefined;
      manyFailing = false;
    }
    windowRequests++;
    if (failed) windowFailures++;
  };

  return {
    state: current,
    tryAcquire() {
      const s = current();
      if (s === 'closed') return true;
      const t = now();
      if (s === 'open' || t < probeUntil) return false;
      probeUntil = t + policy.windowMs;
      return true;
    },
    available() {
      const s = current();
      return s === 'closed' || (s === 'half-open' && now() >= probeUntil);
    },
    retryInMs() {
      return current() === 'open' ? Math.max(0, openUntil - now()) : 0;
    },
    success() {
      const s = current();
      if (s === 'half-open') {
        close();
        return;
      }
      if (s !== 'closed') return;
      consecutive = 0;
      count(false);
    },
    failure(party, shared = false) {
      const s = current();
      if (s === 'half-open') {
        // The probe failed: back off longer before the next one.
        openMs = Math.min(policy.maxOpenMs, openMs * 2);
        open();
        return;
      }
      if (s !== 'closed') return;
      consecutive++;
      count(true);
      sawFailing(party);
      if (shared && !manyFailing) return;
      if (consecutive >= policy.consecutiveFailures) return open();
      if (windowRequests >= policy.minRequests && windowFailures / windowRequests >= policy.failureRate) open();
    },
    release() {
      probeUntil = 0;
    },
    openFor(ms, cooldown) {
      openMs = Math.min(policy.maxOpenMs, Math.max(cooldown, 1));
      openUntil = now() + Math.max(0, ms);
      probeUntil = 0;
      consecutive = 0;
      windowRequests = 0;
      windowFailures = 0;
      firstFailing = undefined;
      manyFailing = false;
      move('open');
    },
    reset: close,
    openMs: () => openMs,
  };
}
