/**
 * Which gateway replicas are alive, and this replica's slice of each deployment's concurrency
 * capacity (DESIGN §13 "Capacity across replicas"), so that N replicas behind a load balancer send a
 * deployment at most its configured capacity between them, not N times it.
 *
 * - Every replica has a random id and renews a lease on it in a shared store (redis-replicas.ts)
 *   every `heartbeatMs`; the same call drops expired members and returns the live ids. Nothing
 *   here runs per request: the scheduler reads slices only when membership or a deployment's
 *   configured capacity changes.
 * - A capacity C is split exactly over the N live replicas, sorted by id (stable ranks, unlike
 *   lease expiries): ⌊C/N⌋ each, and the C mod N extra slots to the replicas at positions below
 *   C mod N, positions rotated per deployment (a hash of its id) so the same replica does not get
 *   every deployment's extra slot. The slices sum to C.
 * - A slice is never 0: a replica with no slot would queue its requests until membership changed.
 *   When C < N each replica gets 1 and the fleet may send N (documented overshoot).
 * - The store unreachable: the last membership read stays in force (the other replicas, cut off
 *   as well, keep theirs, so the slices still add up), logged once and counted. Before any read
 *   succeeded, the fleet size hint (`fallbackReplicas`, limits.replicas) stands in for N.
 * - A replica leaves on graceful shutdown (after its drain, so its slots are free by then); one
 *   that dies is dropped when its lease runs out, and the others' slices grow at their next beat.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.js';

/** Where the membership lives (redis-replicas.ts). Expiry is the store's clock, so replica clocks do not matter. */
export interface MembershipStore {
  /** Renews `id` for `leaseMs`, drops members whose lease ran out, returns every live id (`id` included). */
  beat(id: string, leaseMs: number): Promise<string[]>;
  leave(id: string): Promise<void>;
  /** Resolves true once connected, false if that did not happen within `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean>;
  quit(): Promise<void>;
}

export interface MembershipStats {
  /** Live replicas as last read (the fallback hint before the first read). */
  replicas: number;
  /** This replica's position among them by id; undefined before the first read. */
  rank: number | undefined;
  /** false while the store does not answer (the last read stays in force). */
  up: boolean;
  /** Heartbeats that failed. */
  failures: number;
}

export interface ReplicaMembership {
  readonly id: string;
  /** This replica's part of a deployment's capacity (≥ 1); the parts of all live replicas add up to it. */
  slice(deploymentId: string, capacity: number): number;
  /** Called after every change of the live replicas (count or this replica's rank). */
  onChange(listener: () => void): void;
  stats(): MembershipStats;
  /** Joins (first heartbeat, waited for at most the connect timeout) and keeps beating. */
  start(): Promise<void>;
  /** Stops beating and leaves, so the others' slices grow at their next beat. */
  close(): Promise<void>;
}

export interface ReplicaMembershipOptions {
  store: MembershipStore;
  /** A replica not heard from for this long is gone. */
  leaseMs?: number;
  /** How often this replica renews its lease and reads the others. */
  heartbeatMs?: number;
  /** Replicas assumed until the first read succeeds (limits.replicas). */
  fallbackReplicas?: number;
  connectTimeoutMs?: number;
  logger?: Logger;
  /** Fixed id (tests); random otherwise. */
  id?: string;
}

/** FNV-1a: the same rotation for a deployment on every replica. */
function rotationOf(deploymentId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < deploymentId.length; i++) {
    h ^= deploymentId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The slice of `capacity` for the replica at `rank` of `replicas` (rank undefined: not known yet,
 * so only the part every replica gets). `rotation` moves which ranks get the remainder's slots.
 */
export function sliceOf(capacity: number, replicas: number, rank: number | undefined, rotation = 0): number {
  if (replicas <= 1) return capacity;
  const base = Math.floor(capacity / replicas);
  const extra = rank !== undefined && (rank + rotation) % replicas < capacity % replicas ? 1 : 0;
  return Math.max(1, base + extra);
}

export function createReplicaMembership(opts: ReplicaMembershipOptions): ReplicaMembership {
  const { store, logger } = opts;
  const id = opts.id ?? randomBytes(8).toString('hex');
  const leaseMs = opts.leaseMs ?? 3000;
  const heartbeatMs = opts.heartbeatMs ?? Math.max(1, Math.floor(leaseMs / 3));
  const fallbackReplicas = Math.max(1, opts.fallbackReplicas ?? 1);
  const connectTimeoutMs = opts.connectTimeoutMs ?? 1000;
  const listeners: (() => void)[] = [];
  /** Sorted live ids as last read; undefined before the first read. */
  let members: string[] | undefined;
  let rank: number | undefined;
  let up = true;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let beating: Promise<void> | undefined;
  let closed = false;

  const replicas = (): number => members?.length ?? fallbackReplicas;

  async function beatOnce(): Promise<void> {
    let live: string[];
    try {
      live = await store.beat(id, leaseMs);
    } catch (err) {
      failures++;
      if (up) {
        up = false;
        logger?.warn(
          { err, replicas: replicas() },
          'replicas: the shared store (Redis) is unreachable; deployment capacity stays split as last known',
        );
      }
      return;
    }
    if (!up) {
      up = true;
      logger?.info({ replicas: live.length }, 'replicas: the shared store (Redis) answers again');
    }
    if (closed) return; // left meanwhile: this read must not undo it
    live.sort();
    if (members !== undefined && live.join('\n') === members.join('\n')) return;
    const before = replicas();
    members = live;
    const at = live.indexOf(id);
    rank = at === -1 ? undefined : at;
    if (live.length !== before) logger?.info({ replicas: live.length, before }, 'replicas: deployment capacity is split anew');
    for (const l of listeners) {
      try {
        l();
      } catch (err) {
        logger?.error({ err }, 'replicas: applying a membership change failed');
      }
    }
  }

  function beat(): Promise<void> {
    beating ??= beatOnce().finally(() => {
      beating = undefined;
    });
    return beating;
  }

  function schedule(): void {
    if (closed) return;
    timer = setTimeout(() => {
      void beat().then(schedule);
    }, heartbeatMs);
    timer.unref();
  }

  return {
    id,
    slice: (deploymentId, capacity) => sliceOf(capacity, replicas(), rank, rotationOf(deploymentId)),
    onChange(listener) {
      listeners.push(listener);
    },
    stats: () => ({ replicas: replicas(), rank, up, failures }),
    async start() {
      if (!(await store.ready(connectTimeoutMs))) {
        failures++;
        up = false;
        logger?.warn(
          { replicas: fallbackReplicas },
          `replicas: no connection to the shared store (Redis) within ${connectTimeoutMs} ms; deployment capacity is split over limits.replicas until it answers`,
        );
      } else {
        await beat();
      }
      schedule();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      // A beat in flight would re-add this replica after its leave.
      await beating;
      try {
        if (up) await store.leave(id);
      } catch (err) {
        logger?.warn({ err }, 'replicas: leaving the membership failed; the others see this replica gone when its lease runs out');
      }
      await store.quit();
    },
  };
}
