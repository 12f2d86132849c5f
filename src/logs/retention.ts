/**
 * Request-log retention: every `intervalMs`, each tenant that holds logs has its entries older
 * than its retention deleted (its setting under its plan's `log_retention_days`; a plan that
 * keeps no logs empties the log). Every replica may run it: deletes of the same rows by two
 * replicas serialise on the rows, and the byte count moves in the same transaction as the rows.
 * Deletion is in slices of `sliceSize`, each its own short transaction.
 *
 * Deleting rows is the routine path; crypto-shredding (src/crypto/shredding.ts) is what makes a
 * deleted tenant's remaining content unreadable wherever a copy of it survives.
 */
import { periodicRounds, type PeriodicRounds } from '../periodic.js';
import type { Logger } from '../observability/logger.js';
import { requestLogsRepo, type Store } from '../store/index.js';
import { readLogPolicy } from './policy.js';

const DAY_MS = 24 * 3600 * 1000;

export interface RetentionOptions {
  store: Pick<Store, 'withTenant' | 'platform'>;
  intervalMs: number;
  sliceSize?: number;
  now?: () => number;
  logger?: Pick<Logger, 'info' | 'warn'>;
}

/** One pass over every tenant with logs; resolves with the entries deleted. */
export async function expireLogs(opts: RetentionOptions, stopped: () => boolean = () => false): Promise<number> {
  const now = opts.now ?? Date.now;
  const slice = opts.sliceSize ?? 5_000;
  const tenants = await opts.store.platform((tx) => requestLogsRepo.tenantsWithLogs(tx));
  let deleted = 0;
  for (const tenantId of tenants) {
    if (stopped()) break;
    try {
      for (;;) {
        const gone = await opts.store.withTenant(tenantId, async (tx) => {
          const policy = await readLogPolicy(tx);
          return requestLogsRepo.deleteOlderThan(tx, new Date(now() - policy.retentionDays * DAY_MS), slice);
        });
        deleted += gone.entries;
        if (gone.entries < slice || stopped()) break;
      }
    } catch (err) {
      // One tenant's failure (an unreadable plan) must not stop the others' retention.
      opts.logger?.warn({ err: err instanceof Error ? err.message : String(err), tenant: tenantId }, 'request log retention failed for a tenant');
    }
  }
  if (deleted > 0) opts.logger?.info({ entries: deleted }, 'request log entries past retention deleted');
  return deleted;
}

export function startRetention(opts: RetentionOptions): PeriodicRounds {
  const rounds = periodicRounds((stopped) => expireLogs(opts, stopped), {
    intervalMs: opts.intervalMs,
    onError: (err) => opts.logger?.warn({ err: err instanceof Error ? err.message : String(err) }, 'request log retention round failed'),
  });
  rounds.start();
  return rounds;
}
