/**
 * The schema owner's commands, for deployments whose gateways connect as a role that owns nothing
 * (DESIGN §3) and so can neither migrate nor make partitions:
 *
 * - `gatehouse migrate`: applies the migrations, then makes the usage partitions of the coming
 *   months (metering.partitionMonthsAhead, or --months-ahead). Run it on every upgrade.
 * - `gatehouse maintenance`: the upkeep a gateway that owns the schema does itself every few
 *   hours: partitions ahead, each tenant's raw events past its retention deleted, expired monthly
 *   partitions dropped. Run it from cron (daily is plenty; monthly at the least, before the month
 *   its partition would be missing for).
 *
 * Both need the owner's DATABASE_URL (no master key: they touch no secret) and refuse, with the
 * reason, a connection that does not own the schema. Alerts' retention needs neither: the gateway
 * role may delete finished alerts and deliveries (migration 0019), so every gateway does it.
 */
import { loadConfig } from '../config/load.js';
import { missingPartitions, runUsageMaintenance } from '../metering/maintenance.js';
import { mayMigrate, usageMaintenanceRepo, verifyMigrations } from '../store/index.js';
import { openCommandStore } from './cli-store.js';
import type { CommandReport } from './keys.js';

export interface MaintenanceCommandOptions {
  /** Months of partitions ahead of the current one; default metering.partitionMonthsAhead. */
  monthsAhead?: number;
}

function parseMonths(v: number | undefined, fallback: number): number | string {
  if (v === undefined) return fallback;
  return Number.isInteger(v) && v >= 1 && v <= 24 ? v : '--months-ahead must be an integer from 1 to 24';
}

const NOT_OWNER =
  'this connection does not own the schema; run it with the owner\'s DATABASE_URL (the credentials migrations run with), not the gateway\'s';

export async function runMigrate(opts: MaintenanceCommandOptions = {}, env: NodeJS.ProcessEnv = process.env, now = new Date()): Promise<CommandReport> {
  const config = await loadConfig({ env });
  const months = parseMonths(opts.monthsAhead, config.metering.partitionMonthsAhead);
  if (typeof months === 'string') return { exitCode: 1, out: '', err: `gatehouse migrate: ${months}\n` };
  const store = await openCommandStore(config, 'migrate');
  try {
    if (!(await mayMigrate(store))) return { exitCode: 1, out: '', err: `gatehouse migrate: ${NOT_OWNER}\n` };
    // Counted before and after: on a fresh database the migration itself makes the first months'
    // partitions, which ensurePartitions then finds made.
    const before = await store.admin((tx) => usageMaintenanceRepo.monthlyPartitions(tx));
    const { applied } = await store.migrate();
    await store.admin((tx) => usageMaintenanceRepo.ensurePartitions(tx, now, months));
    const made = (await store.admin((tx) => usageMaintenanceRepo.monthlyPartitions(tx))) - before;
    const missing = await missingPartitions(store, now);
    return {
      exitCode: missing.length === 0 ? 0 : 1,
      out:
        `migrate: ${applied.length === 0 ? 'the schema was current' : `applied ${applied.map((id) => String(id).padStart(4, '0')).join(', ')}`}; ` +
        `${made} usage partition${made === 1 ? '' : 's'} made (${months} month${months === 1 ? '' : 's'} ahead)\n`,
      err: missing.length === 0 ? '' : `gatehouse migrate: still no partition for ${missing.join(', ')}\n`,
    };
  } finally {
    await store.close();
  }
}

export async function runMaintenance(opts: MaintenanceCommandOptions = {}, env: NodeJS.ProcessEnv = process.env, now = new Date()): Promise<CommandReport> {
  const config = await loadConfig({ env });
  const months = parseMonths(opts.monthsAhead, config.metering.partitionMonthsAhead);
  if (typeof months === 'string') return { exitCode: 1, out: '', err: `gatehouse maintenance: ${months}\n` };
  const store = await openCommandStore(config, 'maintenance');
  try {
    // Upkeep on a schema this version does not describe could drop or miss what it should not.
    await verifyMigrations(store);
    if (!(await store.admin((tx) => usageMaintenanceRepo.canMaintain(tx)))) return { exitCode: 1, out: '', err: `gatehouse maintenance: ${NOT_OWNER}\n` };
    const m = config.metering;
    const r = await runUsageMaintenance(store, { defaultDays: m.retentionDays, maxDays: m.maxRetentionDays, monthsAhead: months, intervalMs: 0 }, now);
    const missing = await missingPartitions(store, now);
    return {
      exitCode: missing.length === 0 ? 0 : 1,
      out: `maintenance: ${r.partitionsMade} usage partitions made (${months} months ahead), ${r.partitionsDropped} dropped, ${r.eventsDeleted} raw events past retention deleted\n`,
      err: missing.length === 0 ? '' : `gatehouse maintenance: still no partition for ${missing.join(', ')}\n`,
    };
  } finally {
    await store.close();
  }
}
