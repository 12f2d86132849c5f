/**
 * `gatehouse billing close-period [--period YYYY-MM]`: issues the invoice of every tenant whose
 * period has ended in its own time zone (default: each tenant's last ended month). Idempotent:
 * run it from cron daily; an invoice already issued is left as it is.
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
    const r = await closePeriod(cli.store, period, now);
    process.stdout.write(
      `billing close-period${period === undefined ? '' : ` ${period}`}: ${r.issued} issued, ${r.alreadyIssued} already issued, ${r.open} not ended yet (${r.tenants} tenants)\n`,
    );
    return 0;
  } finally {
    await cli.close();
  }
}
