/**
 * Upkeep of the raw usage events, at start and then every few hours: monthly partitions made a
 * few months ahead (the default partition catches anything they miss, so a late job never fails
 * an insert), each tenant's raw events deleted past its `usageRetentionDays` setting (else the
 * default), and whole monthly partitions dropped once older than the longest retention allowed.
 * Rollups are kept: they are the long-term record billing and analytics read.
 *
 * It needs owner rights (DDL; deletes). Where the gateway connects as a role without them (a
 * production PostgreSQL with separate migration credentials), each run fails and is logged; the
 * default partition still takes every insert, and the same job can run from the owner's side.
 */
import type { Logger } from 'pino';
import { usageMaintenanceRepo, type Store } from '../store/index.js';

export interface RetentionOptions {
  /** Raw-event retention for tenants without a `usageRetentionDays` setting. */
  defaultDays: number;
  /** Longest retention any tenant may have; partitions older than this are dropped. */
  maxDays: number;
  /** Months of partitions made ahead of the current one. */
  monthsAhead: number;
  /** How often the job runs; 0 only at start. */
  intervalMs: number;
}

export interface MaintenanceResult {
  partitionsMade: number;
  partitionsDropped: number;
  eventsDeleted: number;
}

export interface Maintenance {
  stop(): Promise<void>;
}

const DAY_MS = 86_400_000;

export async function runUsageMaintenance(store: Store, opts: RetentionOptions, now = new Date()): Promise<MaintenanceResult> {
  const partitionsMade = await store.admin((tx) => usageMaintenanceRepo.ensurePartitions(tx, now, opts.monthsAhead));
  const tenants = await store.platform((tx) => usageMaintenanceRepo.tenantIds(tx));
  let eventsDeleted = 0;
  for (const tenantId of tenants) {
    const own = await store.withTenant(tenantId, (tx) => usageMaintenanceRepo.retentionDays(tx));
    const days = Math.min(own ?? opts.defaultDays, opts.maxDays);
    const before = new Date(now.getTime() - days * DAY_MS);
    eventsDeleted += await store.admin((tx) => usageMaintenanceRepo.deleteEventsBefore(tx, tenantId, before));
  }
  const partitionsDropped = await store.admin((tx) => usageMaintenanceRepo.dropPartitionsBefore(tx, new Date(now.getTime() - opts.maxDays * DAY_MS)));
  return { partitionsMade, partitionsDropped, eventsDeleted };
}

export function startMaintenance(store: Store, opts: RetentionOptions, logger: Logger): Maintenance {
  let running: Promise<void> = Promise.resolve();
  const run = () => {
    running = runUsageMaintenance(store, opts).then(
      (r) => {
        if (r.partitionsMade + r.partitionsDropped + r.eventsDeleted > 0) logger.info(r, 'usage maintenance');
      },
      (err: unknown) => logger.warn({ err }, 'usage maintenance failed (inserts still land in the default partition)'),
    );
  };
  run();
  const timer = opts.intervalMs > 0 ? setInterval(run, opts.intervalMs) : undefined;
  timer?.unref();
  return {
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      await running;
    },
  };
}
