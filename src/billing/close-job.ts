/**
 * Closes billing periods on its own (`billing.autoClose`): every round, each tenant whose month
 * ended in its time zone at least `graceMs` ago gets that month's invoice (closePeriod with no
 * period; tenants created after the month are left out). Every replica may run it: a round that
 * finds nothing due opens no tenant transaction (issued periods are read through the platform
 * role), and two replicas issuing the same invoice at once insert one row (UNIQUE (tenant_id,
 * period)), audited once by the replica whose row it is.
 */
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/index.js';
import { periodicRounds, type PeriodicRounds } from '../periodic.js';
import { closePeriod, type IssueAudit } from './service.js';

export const CLOSE_JOB_ACTOR: IssueAudit = { actor: { kind: 'system', id: 'billing.auto_close' } };

export interface CloseJobOptions {
  store: Store;
  intervalMs: number;
  /** After a month's end, wait this long (events still in spools and ship queues). */
  graceMs: number;
  now?: () => number;
  logger?: Pick<Logger, 'info' | 'error'>;
}

export type CloseJob = PeriodicRounds;

export function createCloseJob(opts: CloseJobOptions): CloseJob {
  const now = opts.now ?? Date.now;
  async function round(): Promise<number> {
    const r = await closePeriod(opts.store, undefined, new Date(now()), {
      graceMs: opts.graceMs,
      by: CLOSE_JOB_ACTOR,
      onError: (tenantId, err) => opts.logger?.error({ err, tenantId }, 'billing: issuing an invoice failed; retried next round'),
    });
    if (r.issued > 0) opts.logger?.info({ issued: r.issued, tenants: r.tenants }, 'billing: invoices issued for ended months');
    return r.issued;
  }
  return periodicRounds(round, {
    intervalMs: opts.intervalMs,
    onError: (err) => opts.logger?.error({ err }, 'billing: the period closing job failed'),
  });
}
