/**
 * The limits backend a gateway runs with: in-process counters for a single instance (the
 * default), or Redis shared by every replica with a local fallback for deployments that fail
 * open. One shape for the admission stage either way.
 */
import type { Logger } from 'pino';
import { createFailoverBackend, type FailoverStats, type Via } from './failover.js';
import { createLeaseKeeper, type LeaseKeeperStats } from './leases.js';
import { createMemoryBackend } from './memory-backend.js';
import { createRedisBackend, type WindowSeed } from './redis-backend.js';
import { createStartSeeder } from './start-seeds.js';
import type { Charge, CounterReader, FailMode, ReserveResult } from './types.js';

export type ServiceReserveResult = ReserveResult & { readonly via?: Via };

export interface LimitService extends CounterReader {
  readonly kind: 'memory' | 'redis';
  reserve(id: string, charges: readonly Charge[], leaseMs: number, failMode: FailMode): ServiceReserveResult | Promise<ServiceReserveResult>;
  /** Hands the reservation back to the backend that made it (`via`); never throws. */
  settle(id: string, charges: readonly Charge[], used: readonly number[], via: Via | undefined): void;
  /** Redis mode only: whether Redis is reachable, and the fallback counters. */
  stats(): FailoverStats | undefined;
  /** Redis mode only: the reservations whose leases this process keeps alive. */
  leaseStats(): LeaseKeeperStats | undefined;
  close(): Promise<void>;
}

export interface LimitServiceOptions {
  redisUrl?: string;
  /** Per Redis call; slower counts as unreachable. */
  redisTimeoutMs?: number;
  logger: Logger;
  /** The share of each limit the local fallback enforces while Redis is down (1 ÷ replicas). */
  fallbackShare?: number | (() => number);
  onStateChange?: (state: 'up' | 'down') => void;
  /** In-process counters' clock (tests); the admission stage must use the same one. */
  now?: () => number;
  /**
   * Redis mode: lease of a reservation on Redis, renewed while its request lives (leases.ts).
   * A killed process's concurrency slots and pending reservations come back within it.
   */
  leaseMs?: number;
  /**
   * One tenant's day/month usage from the ledger (src/billing/limit-seeds.ts). Memory mode: seeds
   * each tenant's counters after this start (start-seeds.ts). Redis mode: reseeds Redis after a
   * restart, failover or flush, and seeds the fail-open counters of a tenant Redis was never seen
   * to report (DESIGN §12).
   */
  ledger?: (tenantId: string) => Promise<readonly WindowSeed[]>;
  /**
   * Resolves once the ledger holds what the last process left in the usage spool (Metering
   * `recovered`). The in-memory seeds (this start's, and fail-open ones) read the ledger after
   * it; the Redis reseed does not wait (it holds requests, and Redis counters outlive this
   * process, so only a Redis loss at the same moment as this process's crash misses the backlog).
   */
  ledgerCurrent?: () => Promise<void>;
}

export function createLimitService(opts: LimitServiceOptions): LimitService {
  const { logger, ledger, ledgerCurrent } = opts;
  if (opts.redisUrl === undefined) {
    const memory = createMemoryBackend(opts.now !== undefined ? { now: opts.now } : {});
    const seeder =
      ledger === undefined ? undefined : createStartSeeder({ backend: memory, ledger, logger, ...(ledgerCurrent !== undefined ? { ledgerCurrent } : {}) });
    return {
      kind: 'memory',
      reserve: (id, charges, leaseMs) => {
        // Synchronous once the tenant is seeded (every request but its first ones after a start).
        const wait = seeder?.before(charges);
        return wait === undefined ? memory.reserve(id, charges, leaseMs) : wait.then(() => memory.reserve(id, charges, leaseMs));
      },
      settle: (id, charges, used) => memory.settle(id, charges, used),
      peekWindows: async (keys) => memory.peekWindows(keys),
      stats: () => undefined,
      leaseStats: () => undefined,
      close: () => memory.close(),
    };
  }
  const redis = createRedisBackend({
    url: opts.redisUrl,
    ...(opts.redisTimeoutMs !== undefined ? { commandTimeoutMs: opts.redisTimeoutMs } : {}),
    ...(ledger !== undefined
      ? {
          ledger,
          onSeeded: (tenant: string, raised: number) => logger.debug({ tenant, raised }, 'limits: day/month counters reseeded from the ledger'),
          onSeedError: (tenant: string, err: unknown) =>
            logger.error({ tenant, err: err instanceof Error ? err.message : String(err) }, 'limits: reseeding counters from the ledger failed; using Redis counts'),
        }
      : {}),
  });
  const leases = createLeaseKeeper({ backend: redis, logger, ...(opts.leaseMs !== undefined ? { leaseMs: opts.leaseMs } : {}) });
  const failover = createFailoverBackend({
    primary: redis,
    fallback: createMemoryBackend(),
    leases,
    ...(ledger !== undefined ? { ledger: ledgerCurrent === undefined ? ledger : (tenantId: string) => ledgerCurrent().then(() => ledger(tenantId)) } : {}),
    logger,
    ...(opts.fallbackShare !== undefined ? { fallbackShare: opts.fallbackShare } : {}),
    ...(opts.onStateChange !== undefined ? { onStateChange: opts.onStateChange } : {}),
  });
  return {
    kind: 'redis',
    reserve: (id, charges, leaseMs, failMode) => failover.reserve(id, charges, leaseMs, failMode),
    settle: (id, charges, used, via) => void failover.settle(via ?? 'primary', id, charges, used),
    peekWindows: (keys) => failover.peekWindows(keys),
    stats: () => failover.stats(),
    leaseStats: () => leases.stats(),
    close: () => failover.close(),
  };
}
