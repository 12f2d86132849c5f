/**
 * `gatehouse tenants purge-due`: deletes the remaining rows of deleted tenants whose data keys
 * are shredded (src/tenancy/purge.ts; the gateway also does this hourly). Exit 1 when a tenant
 * has to wait for its final invoice.
 */
import { purgeDueTenants } from '../tenancy/purge.js';
import type { AuditActor } from '../audit/index.js';
import { withCli, type CommandReport } from './keys.js';

const CLI: AuditActor = { kind: 'system', id: 'cli' };

export function runPurgeDue(opts: { includeUnbilled?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): Promise<CommandReport> {
  return withCli('tenants purge-due', env, async (cli, config) => {
    const purgeUnbilled = opts.includeUnbilled === true || config.tenantDeletion.purgeUnbilledUsage;
    const { purged, deferred } = await purgeDueTenants(cli.store, { purgeUnbilled, actor: CLI });
    let out = purged.length === 0 && deferred.length === 0 ? 'no shredded tenant is waiting to be purged\n' : '';
    for (const p of purged) {
      const rows = Object.values(p.deleted).reduce((a, b) => a + b, 0);
      out += `tenant ${p.tenantId}: ${rows} rows deleted from ${Object.keys(p.deleted).length} tables; its audit trail, invoices and tenant record are kept\n`;
    }
    const err = deferred
      .map((d) => `tenant ${d.tenantId}: not purged, it has usage no issued invoice covers; run \`gatehouse billing close-period\` once its month has ended, or purge with --include-unbilled\n`)
      .join('');
    return { exitCode: deferred.length === 0 ? 0 : 1, out, err };
  });
}
