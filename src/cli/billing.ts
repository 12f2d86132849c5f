/**
 * `gatehouse billing close-period [--period YYYY-MM]`: issues the invoice of every tenant whose
 * period has ended in its own time zone (default: each tenant's last ended month). Tenants
 * created after the month ended are never billed for it, named or not (counted as "not billed").
 * Idempotent: an invoice already issued is left as it is. The gateway does the same on its own
 * (`billing.autoClose`); this is for gateways that run with it off, and backfills.
 * Issued invoices are audited (`invoice.issued`, actor system:cli); exit 1 if any tenant failed.
 */
import { closePeriod } from '../billing/service.js';
import { isPeriodId } from '../billing/period.js';
import { loadConfig } from '../config/load.js';
import { CliError, openCliStore } from './cli-store.js';

export async function billingClosePeriod(period: string | undefined, env: NodeJS.ProcessEnv = process.env, now: Date = new Date()): Promise<number> {
  if (period !== undefined && !isPeriodId(period)) throw new CliError(`billing close-period: --period must be YYYY-MM, got "${period}"`);
  const config = await loadConfig({ env });
  const cli = await openCliStore(config, env, 'billing close-period');
  try {
    const failures: string[] = [];
    const r = await closePeriod(cli.store, period, now, {
      by: { actor: { kind: 'system', id: 'cli' } },
      onError: (tenantId, err) => failures.push(`${tenantId}: ${err instanceof Error ? err.message : String(err)}`),
    });
    const extra = [
      r.beforeCreation > 0 ? `, ${r.beforeCreation} not billed (created after the month ended)` : '',
      r.failed > 0 ? `, ${r.failed} failed` : '',
    ].join('');
    process.stdout.write(
      `billing close-period${period === undefined ? '' : ` ${period}`}: ${r.issued} issued, ${r.alreadyIssued} already issued, ${r.open} not ended yet${extra} (${r.tenants} tenants)\n`,
    );
    for (const f of failures) process.stderr.write(`billing close-period: ${f}\n`);
    return failures.length > 0 ? 1 : 0;
  } finally {
    await cli.close();
  }
}
