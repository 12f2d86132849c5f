/**
 * Keeps the leases of this process's live reservations on the shared backend (Redis) alive
 * (DESIGN §4: "reservations expire if an instance dies"). Reservations are made with a short
 * lease (30 s by default) instead of one longer than any request could last, and a heartbeat
 * extends every live one in a single round trip per interval, whatever their number: a stream
 * that runs for ten minutes keeps its concurrency slot, and the slots of a process that was
 * killed come back within one lease rather than after the longest request timeout.
 *
 * The heartbeat runs every third of a lease, so two missed beats (a stalled event loop, a slow
 * Redis) still leave the lease in force. A reservation is renewed at most until its own deadline
 * (the longest a request may take, plus a margin): one never settled through a bug is not held
 * forever. Renewal failures are counted, never thrown: while Redis is down nothing can be
 * renewed, and the failover wrapper deals with the outage.
 *
 * Only src/limits imports here, so the cross-process tests can run it in a child process.
 */
import type { Logger } from 'pino';
import type { HeldLeases } from './redis-backend.js';
import type { Charge } from './types.js';

export interface LeaseRenewer {
  renew(held: readonly HeldLeases[], leaseMs: number): Promise<number>;
}

export interface LeaseKeeperOptions {
  backend: LeaseRenewer;
  /** Lease of each reservation on the backend, renewed while the request lives. Default 30,000 ms. */
  leaseMs?: number;
  /** Heartbeat interval. Default leaseMs / 3. */
  intervalMs?: number;
  logger?: Logger;
  now?: () => number;
}

export interface LeaseKeeperStats {
  /** Reservations whose leases are kept alive now. */
  held: number;
  /** Heartbeats that reached the backend, and those that failed. */
  beats: number;
  failures: number;
  /** Leases extended so far. */
  renewed: number;
}

export interface LeaseKeeper {
  readonly leaseMs: number;
  /** Keeps the reservation's leases alive until it is released or `maxLifetimeMs` has passed. */
  hold(id: string, charges: readonly Charge[], maxLifetimeMs: number): void;
  release(id: string): void;
  stats(): LeaseKeeperStats;
  /** Runs one heartbeat now (tests); resolves when it is done. */
  beat(): Promise<void>;
  close(): void;
}

interface Held extends HeldLeases {
  deadline: number;
}

export const DEFAULT_LEASE_MS = 30_000;

function hasLease(charges: readonly Charge[]): boolean {
  for (const c of charges) if (c.kind !== 'bucket') return true;
  return false;
}

export function createLeaseKeeper(opts: LeaseKeeperOptions): LeaseKeeper {
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  if (!(leaseMs >= 100)) throw new Error('limits: the reservation lease must be at least 100 ms');
  const intervalMs = opts.intervalMs ?? Math.floor(leaseMs / 3);
  const now = opts.now ?? Date.now;
  const held = new Map<string, Held>();
  const counts = { beats: 0, failures: 0, renewed: 0 };
  let running: Promise<void> | undefined;
  let failing = false;

  async function run(): Promise<void> {
    const t = now();
    const live: Held[] = [];
    for (const [id, h] of held) {
      if (h.deadline <= t) held.delete(id);
      else live.push(h);
    }
    if (live.length === 0) return;
    try {
      counts.renewed += await opts.backend.renew(live, leaseMs);
      counts.beats++;
      if (failing) opts.logger?.info({ held: live.length }, 'limits: reservation leases renewed again');
      failing = false;
    } catch (err) {
      counts.failures++;
      // Once per outage: the failover wrapper already logs Redis going down.
      if (!failing) opts.logger?.warn({ err: err instanceof Error ? err.message : String(err), held: live.length }, 'limits: renewing reservation leases failed');
      failing = true;
    }
  }

  function beat(): Promise<void> {
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  }

  const timer = setInterval(() => void beat(), intervalMs);
  timer.unref();

  return {
    leaseMs,
    hold(id, charges, maxLifetimeMs) {
      if (!hasLease(charges)) return;
      held.set(id, { id, charges, deadline: now() + maxLifetimeMs });
    },
    release(id) {
      held.delete(id);
    },
    stats: () => ({ held: held.size, ...counts }),
    beat,
    close() {
      clearInterval(timer);
      held.clear();
    },
  };
}
