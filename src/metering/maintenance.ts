/**
 * Upkeep of the raw usage events: monthly partitions made a few months ahead (the default
 * partition catches anything they miss, so a late job never fails an insert), each tenant's raw
 * events deleted past its `usageRetentionDays` setting (else the default), and whole monthly
 * partitions dropped once older than the longest retention allowed. Rollups are kept: they are
 * the long-term record billing and analytics read.
 *
 * It needs owner rights (DDL; deletes), and no SECURITY DEFINER function lends them out (DESIGN
 * §12). So who runs it depends on the deployment:
 * - a gateway that owns the schema (embedded store; PostgreSQL as the owner) runs it itself, at
 *   start and every few hours;
 * - a gateway connected as a role that owns nothing (production) cannot: `gatehouse migrate` and
 *   `gatehouse maintenance`, run with the owner's credentials, make the partitions (and delete),
 *   and the gateway only checks, from the catalogue, that this month's and next month's
 *   partitions exist. A missing one is logged (an error for this month: its events are landing
 *   in the default partition now; a warning for next month) and shown by a metric.
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

/** What the last run found, for the metrics. */
export interface MaintenanceStats {
  /** 'owner': this process makes partitions and deletes; 'check': it only checks; 'unknown': not run yet. */
  mode: 'owner' | 'check' | 'unknown';
  /** Months among this one and the next without a partition, at the last check. */
  missingPartitions: number;
  /** Runs that failed (database unreachable, or an owner run that hit an error). */
  failures: number;
}

export interface Maintenance {
  stats(): MaintenanceStats;
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

/** This month's and next month's partitions that do not exist (catalogue only: any role may ask). */
export function missingPartitions(store: Pick<Store, 'platform'>, now = new Date()): Promise<string[]> {
  return store.platform((tx) => usageMaintenanceRepo.missingPartitions(tx, now, 1));
}

/** One round: the upkeep when this connection owns the table, else the check. */
export async function maintainOrCheck(
  store: Store,
  opts: RetentionOptions,
  logger: Pick<Logger, 'info' | 'warn' | 'error'>,
  now = new Date(),
): Promise<{ mode: 'owner' | 'check'; missing: string[]; result?: MaintenanceResult }> {
  const owner = await store.admin((tx) => usageMaintenanceRepo.canMaintain(tx));
  let result: MaintenanceResult | undefined;
  if (owner) {
    result = await runUsageMaintenance(store, opts, now);
    if (result.partitionsMade + result.partitionsDropped + result.eventsDeleted > 0) logger.info(result, 'usage maintenance');
  }
  const missing = await missingPartitions(store, now);
  const thisMonth = `${now.getUTCFullYear()}_${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
  if (missing.includes(thisMonth)) {
    logger.error({ missing }, "usage_events has no partition for this month: its events are landing in the default partition; run `gatehouse maintenance` as the schema owner");
  } else if (missing.length > 0) {
    logger.warn({ missing }, "usage_events has no partition for next month yet: run `gatehouse maintenance` as the schema owner before the month starts");
  }
  return { mode: owner ? 'owner' : 'check', missing, ...(result !== undefined ? { result } : {}) };
}

export function startMaintenance(store: Store, opts: RetentionOptions, logger: Logger): Maintenance {
  const stats: MaintenanceStats = { mode: 'unknown', missingPartitions: 0, failures: 0 };
  let running: Promise<void> = Promise.resolve();
  let announced = false;
  const run = () => {
    running = maintainOrCheck(store, opts, logger).then(
      (r) => {
        if (r.mode === 'check' && !announced) {
          logger.info('usage maintenance: this gateway does not own usage_events; it checks the partitions, `gatehouse maintenance` (as the owner) makes them');
        }
        announced = true;
        stats.mode = r.mode;
        stats.missingPartitions = r.missing.length;
      },
      (err: unknown) => {
        stats.failures++;
        logger.warn({ err }, 'usage maintenance failed (inserts still land in the default partition)');
      },
    );
  };
  run();
  const timer = opts.intervalMs > 0 ? setInterval(run, opts.intervalMs) : undefined;
  timer?.unref();
  return {
    stats: () => ({ ...stats }),
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      await running;
    },
  };
}
