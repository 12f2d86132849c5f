/**
 * The in-memory limit backend (single instance, the default; also the per-instance fallback when
 * Redis is down). Check-and-reserve of all charges is one synchronous section, so concurrent
 * requests cannot overshoot. It runs on every request: no Date objects, no per-call closures,
 * one Map lookup per charge; the only allocations are the result and its states (and one lease
 * per window/concurrency charge).
 *
 * Memory is bounded: every operation sweeps a few counters (full idle buckets, windows past
 * their reset, concurrency counters with no holder are dropped: recreating them gives the same
 * answer), and `maxCounters` caps the total by evicting the oldest counter of the kind being
 * created (a last resort that forgets that counter's state; counted in `stats().evicted`).
 *
 * The keys of one request must be distinct (rule ids in the keys make them so): each charge is
 * checked against its counter's state before the request, as the Redis script does.
 */
import { CONCURRENCY_RETRY_MAX_MS, CONCURRENCY_RETRY_MIN_MS, LEVEL_EPSILON, units } from './semantics.js';
import type { Charge, ChargeState, LimitBackend, ReserveResult, WindowCounterState } from './types.js';

export interface MemoryBackendOptions {
  /** Epoch ms; injectable for tests. Default Date.now. */
  now?: () => number;
  /** Cap on counters held (buckets + windows + concurrency). Default 1,000,000. */
  maxCounters?: number;
}

export interface MemoryLimitBackend extends LimitBackend {
  readonly kind: 'memory';
  reserve(reservationId: string, charges: readonly Charge[], leaseMs: number): ReserveResult;
  settle(reservationId: string, charges: readonly Charge[], used: readonly number[]): void;
  /**
   * Raises a day/month counter's settled usage to at least `used` (creating the counter), never
   * lowers it: fail-open counters start from what Redis or the ledger last knew (failover.ts),
   * and a single instance's from the ledger after a restart.
   */
  seedWindow(key: string, used: number, resetAt: number): void;
  /** Window counters by key (expired reservations dropped first); absent keys have none. */
  peekWindows(keys: readonly string[]): Map<string, WindowCounterState>;
  stats(): { buckets: number; windows: number; concurrency: number; evicted: number };
}

interface Bucket {
  level: number;
  ts: number;
  /** From the last charge seen, so a sweep can tell a full bucket without one. */
  burst: number;
  perMs: number;
}

interface Lease {
  amount: number;
  expiry: number;
}

interface WindowCounter {
  used: number;
  pending: number;
  resetAt: number;
  leases: Map<string, Lease>;
  /** No lease expires before this (a lower bound: settles may have removed the earliest). */
  nextExpiry: number;
}

interface ConcurrencyCounter {
  leases: Map<string, number>;
  nextExpiry: number;
}

type Counter = Bucket | WindowCounter | ConcurrencyCounter;

/** A power of two (the ring index wraps with a mask). */
const SETTLED_RECENT = 4_096;
const SWEEP_EVERY = 64;
const SWEEP_BATCH = 256;

function purgeWindow(w: WindowCounter, now: number): void {
  if (now < w.nextExpiry) return;
  let next = Infinity;
  for (const [id, lease] of w.leases) {
    if (lease.expiry <= now) {
      w.leases.delete(id);
      w.pending -= lease.amount;
    } else if (lease.expiry < next) next = lease.expiry;
  }
  w.nextExpiry = next;
}

function purgeConcurrency(c: ConcurrencyCounter, now: number): void {
  if (now < c.nextExpiry) return;
  let next = Infinity;
  for (const [id, expiry] of c.leases) {
    if (expiry <= now) c.leases.delete(id);
    else if (expiry < next) next = expiry;
  }
  c.nextExpiry = next;
}

function refill(b: Bucket, now: number): number {
  if (now <= b.ts) return b.level < b.burst ? b.level : b.burst;
  const level = b.level + (now - b.ts) * b.perMs;
  return level < b.burst ? level : b.burst;
}

function concurrencyRetry(c: ConcurrencyCounter, now: number): number {
  let soonest = Infinity;
  for (const expiry of c.leases.values()) if (expiry < soonest) soonest = expiry;
  const ms = Math.ceil(soonest - now);
  return ms < CONCURRENCY_RETRY_MIN_MS ? CONCURRENCY_RETRY_MIN_MS : ms > CONCURRENCY_RETRY_MAX_MS ? CONCURRENCY_RETRY_MAX_MS : ms;
}

export function createMemoryBackend(opts: MemoryBackendOptions = {}): MemoryLimitBackend {
  const clock = opts.now ?? Date.now;
  const maxCounters = opts.maxCounters ?? 1_000_000;
  const buckets = new Map<string, Bucket>();
  const windows = new Map<string, WindowCounter>();
  const concurrency = new Map<string, ConcurrencyCounter>();
  let evicted = 0;

  // The last SETTLED_RECENT settled ids (a Set plus a ring that says which to forget). A repeat
  // settle comes from a double call moments later; remembering ids for seconds instead (as the
  // Redis backend does) made every request ~5x dearer here: the set outgrows the CPU caches and
  // the ids it keeps alive get promoted and collected by the old-generation GC.
  const settled = new Set<string>();
  const settledRing = new Array<string | undefined>(SETTLED_RECENT);
  let settledAt = 0;

  // Scratch for the two passes of one reserve (synchronous, so one set per backend suffices).
  const slots: Counter[] = [];
  const values: number[] = [];

  let ops = 0;
  let bucketSweep: Iterator<[string, Bucket]> | undefined;
  let windowSweep: Iterator<[string, WindowCounter]> | undefined;
  let concurrencySweep: Iterator<[string, ConcurrencyCounter]> | undefined;

  function makeRoom(map: Map<string, unknown>): void {
    if (buckets.size + windows.size + concurrency.size < maxCounters) return;
    const victim = map.size > 0 ? map : buckets.size > 0 ? buckets : windows.size > 0 ? windows : concurrency;
    const oldest = victim.keys().next();
    if (oldest.done !== true) {
      victim.delete(oldest.value);
      evicted++;
    }
  }

  function bucketFor(c: Extract<Charge, { kind: 'bucket' }>, now: number): Bucket {
    let b = buckets.get(c.key);
    const perMs = c.periodMs > 0 ? c.limit / c.periodMs : 0;
    if (b === undefined) {
      makeRoom(buckets);
      b = { level: c.burst, ts: now, burst: c.burst, perMs };
      buckets.set(c.key, b);
    } else {
      b.burst = c.burst;
      b.perMs = perMs;
    }
    return b;
  }

  function windowFor(c: Extract<Charge, { kind: 'window' }>): WindowCounter {
    let w = windows.get(c.key);
    if (w === undefined) {
      makeRoom(windows);
      w = { used: 0, pending: 0, resetAt: c.resetAt, leases: new Map(), nextExpiry: Infinity };
      windows.set(c.key, w);
    } else if (c.resetAt > w.resetAt) w.resetAt = c.resetAt;
    return w;
  }

  function concurrencyFor(key: string): ConcurrencyCounter {
    let c = concurrency.get(key);
    if (c === undefined) {
      makeRoom(concurrency);
      c = { leases: new Map(), nextExpiry: Infinity };
      concurrency.set(key, c);
    }
    return c;
  }

  function sweep(now: number): void {
    bucketSweep ??= buckets.entries();
    for (let i = 0; i < SWEEP_BATCH; i++) {
      const r = bucketSweep.next();
      if (r.done === true) {
        bucketSweep = undefined;
        break;
      }
      const [key, b] = r.value;
      if (refill(b, now) >= b.burst) buckets.delete(key);
    }
    windowSweep ??= windows.entries();
    for (let i = 0; i < SWEEP_BATCH; i++) {
      const r = windowSweep.next();
      if (r.done === true) {
        windowSweep = undefined;
        break;
      }
      const [key, w] = r.value;
      if (now >= w.resetAt) {
        purgeWindow(w, now);
        if (w.leases.size === 0) windows.delete(key);
      }
    }
    concurrencySweep ??= concurrency.entries();
    for (let i = 0; i < SWEEP_BATCH; i++) {
      const r = concurrencySweep.next();
      if (r.done === true) {
        concurrencySweep = undefined;
        break;
      }
      const [key, c] = r.value;
      purgeConcurrency(c, now);
      if (c.leases.size === 0) concurrency.delete(key);
    }
  }

  function tick(now: number): void {
    if (++ops >= SWEEP_EVERY) {
      ops = 0;
      sweep(now);
    }
  }

  function reserve(reservationId: string, charges: readonly Charge[], leaseMs: number): ReserveResult {
    const now = clock();
    tick(now);
    const n = charges.length;
    let failed = -1;
    let retryAfterMs = 0;

    // Pass 1: check every charge against its counter, reserving nothing.
    for (let i = 0; i < n; i++) {
      const c = charges[i] as Charge;
      const amount = units(c.amount);
      let ok: boolean;
      let retry = 0;
      if (c.kind === 'bucket') {
        const b = bucketFor(c, now);
        const level = refill(b, now);
        slots[i] = b;
        values[i] = level;
        ok = c.limit > 0 && amount <= c.burst && level + LEVEL_EPSILON >= amount;
        if (!ok) {
          const period = c.periodMs > 0 ? c.periodMs : 1;
          if (c.limit <= 0) retry = period;
          else if (amount > c.burst) {
            const toFull = Math.ceil(((c.burst - level) * c.periodMs) / c.limit);
            retry = toFull > 0 ? toFull : period;
          } else retry = Math.ceil(((amount - level) * c.periodMs) / c.limit);
        }
      } else if (c.kind === 'window') {
        const w = windowFor(c);
        purgeWindow(w, now);
        const taken = w.used + w.pending;
        slots[i] = w;
        values[i] = taken;
        // Limit 0 refuses anything that counts; a zero amount (a free model on a zero budget) passes.
        ok = taken + amount <= c.limit;
        if (!ok) retry = Math.ceil(c.resetAt - now);
      } else {
        const k = concurrencyFor(c.key);
        purgeConcurrency(k, now);
        slots[i] = k;
        values[i] = k.leases.size;
        ok = c.limit > 0 && k.leases.size < c.limit;
        if (!ok) retry = concurrencyRetry(k, now);
      }
      if (!ok) {
        if (failed < 0) failed = i;
        if (retry > retryAfterMs) retryAfterMs = retry;
      }
    }

    // Pass 2: reserve (only when every charge passed) and report states.
    const take = failed < 0;
    const expiry = now + (leaseMs > 1 ? leaseMs : 1);
    const states = new Array<ChargeState>(n);
    for (let i = 0; i < n; i++) {
      const c = charges[i] as Charge;
      const amount = take ? units(c.amount) : 0;
      const value = values[i] as number;
      let remaining: number;
      let resetMs: number;
      if (c.kind === 'bucket') {
        const b = slots[i] as Bucket;
        const level = value - amount;
        if (take) {
          b.level = level;
          if (now > b.ts) b.ts = now;
        }
        remaining = Math.floor(level + LEVEL_EPSILON);
        resetMs = c.limit > 0 ? Math.ceil(((c.burst - level) * c.periodMs) / c.limit) : 0;
      } else if (c.kind === 'window') {
        if (take) {
          const w = slots[i] as WindowCounter;
          const prior = w.leases.get(reservationId);
          if (prior !== undefined) w.pending -= prior.amount;
          w.leases.set(reservationId, { amount, expiry });
          w.pending += amount;
          if (expiry < w.nextExpiry) w.nextExpiry = expiry;
        }
        remaining = c.limit - value - amount;
        resetMs = Math.ceil(c.resetAt - now);
      } else {
        if (take) {
          const k = slots[i] as ConcurrencyCounter;
          k.leases.set(reservationId, expiry);
          if (expiry < k.nextExpiry) k.nextExpiry = expiry;
        }
        remaining = c.limit - value - (take ? 1 : 0);
        resetMs = 0;
      }
      states[i] = { remaining: remaining > 0 ? remaining : 0, resetMs: resetMs > 0 ? resetMs : 0 };
    }
    if (take) return { ok: true, states };
    return { ok: false, failed, states, retryAfterMs: retryAfterMs > 1 ? retryAfterMs : 1 };
  }

  function settle(reservationId: string, charges: readonly Charge[], used: readonly number[]): void {
    const now = clock();
    tick(now);
    if (settled.has(reservationId)) return;
    const forget = settledRing[settledAt];
    if (forget !== undefined) settled.delete(forget);
    settledRing[settledAt] = reservationId;
    settledAt = (settledAt + 1) & (SETTLED_RECENT - 1);
    settled.add(reservationId);

    for (let i = 0; i < charges.length; i++) {
      const c = charges[i] as Charge;
      const actual = units(used[i] ?? 0);
      if (c.kind === 'bucket') {
        if (c.limit <= 0) continue;
        const diff = units(c.amount) - actual;
        if (diff === 0) continue;
        let b = buckets.get(c.key);
        // A missing bucket is full: a refund changes nothing, a debit recreates it.
        if (b === undefined && diff > 0) continue;
        b ??= bucketFor(c, now);
        const level = refill(b, now) + diff;
        b.level = level < c.burst ? level : c.burst;
        if (now > b.ts) b.ts = now;
      } else if (c.kind === 'window') {
        const w = windowFor(c);
        const lease = w.leases.get(reservationId);
        if (lease !== undefined) {
          w.leases.delete(reservationId);
          w.pending -= lease.amount;
        }
        w.used += actual;
      } else {
        concurrency.get(c.key)?.leases.delete(reservationId);
      }
    }
  }

  function seedWindow(key: string, used: number, resetAt: number): void {
    if (resetAt <= clock()) return;
    const w = windowFor({ kind: 'window', key, limit: 0, resetAt, amount: 0 });
    const u = units(used);
    if (u > w.used) w.used = u;
  }

  function peekWindows(keys: readonly string[]): Map<string, WindowCounterState> {
    const now = clock();
    const out = new Map<string, WindowCounterState>();
    for (const key of keys) {
      const w = windows.get(key);
      if (w === undefined) continue;
      purgeWindow(w, now);
      out.set(key, { used: w.used, pending: w.pending });
    }
    return out;
  }

  return {
    kind: 'memory',
    reserve,
    settle,
    seedWindow,
    peekWindows,
    stats: () => ({ buckets: buckets.size, windows: windows.size, concurrency: concurrency.size, evicted }),
    close: async () => {
      buckets.clear();
      windows.clear();
      concurrency.clear();
      settled.clear();
      settledRing.fill(undefined);
    },
  };
}
