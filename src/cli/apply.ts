/**
 * `gatehouse apply -f tenants.yaml [--dry-run] [--prune]`: makes the store match the file, one
 * transaction per tenant, through the admin API's service functions. `--dry-run` runs exactly
 * the same steps in transactions that are rolled back, so the diff it prints is what a real run
 * would do at that moment. Without `--prune` nothing is removed; with it, undeclared domains and
 * policies are removed and undeclared API keys revoked. Tenants are never deleted by apply.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createTenant } from '../admin/services/tenants.js';
import { loadConfig } from '../config/load.js';
import { GatewayError } from '../errors.js';
import { tenantsManageRepo } from '../store/index.js';
import { CliError, openCliStore } from './cli-store.js';
import { reconcileTenant, type Change, type Reconcile } from './reconcile.js';
import { parseTenantsFile } from './tenants-file.js';

export interface ApplyOptions {
  file: string;
  dryRun: boolean;
  prune: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface ApplyResult {
  changes: Change[];
  /** Secrets of keys created by this run (never in a dry run). */
  secrets: { tenant: string; name: string; key: string }[];
}

class DryRunRollback extends Error {}

export async function runApply(opts: ApplyOptions): Promise<ApplyResult> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const path = resolve(cwd, opts.file);
  const spec = parseTenantsFile(await readFile(path, 'utf8'), opts.file);
  const config = await loadConfig({ env, cwd });
  const cli = await openCliStore(config, env, 'apply');
  try {
    const result: ApplyResult = { changes: [], secrets: [] };
    for (const t of spec.tenants) {
      const r: Reconcile = { prune: opts.prune, actor: cli.actor, pepper: cli.pepper, now: new Date(), changes: [], secrets: [] };
      const found = await cli.store.platform((tx) => tenantsManageRepo.resolve(tx, t.slug));
      if (found?.deleting === true) throw new CliError(`apply: tenant ${t.slug} is marked for deletion; remove it from the file`);
      const id = found?.id ?? randomUUID();
      try {
        await cli.store.withTenant(id, async (tx) => {
          if (found === null) {
            const template = t.template ?? 'standard';
            await createTenant(tx, cli.actor, { slug: t.slug, name: t.name ?? t.slug, template, limits: t.limits, regions: t.regions, allowed_models: t.allowed_models, time_zone: t.time_zone });
            r.changes.push({ op: '+', what: `tenant ${t.slug}`, detail: `template ${template}` });
          }
          await reconcileTenant(tx, r, t);
          if (opts.dryRun) throw new DryRunRollback();
        });
      } catch (err) {
        if (!(err instanceof DryRunRollback)) {
          const why = err instanceof GatewayError ? err.message : err instanceof Error ? err.message : String(err);
          throw new CliError(`apply: tenant ${t.slug}: ${why}${result.changes.length > 0 ? ' (tenants before it were applied)' : ''}`, { cause: err });
        }
      }
      result.changes.push(...r.changes);
      if (!opts.dryRun) result.secrets.push(...r.secrets);
    }
    return result;
  } finally {
    await cli.close();
  }
}

export function formatApply(result: ApplyResult, dryRun: boolean): string {
  const lines = result.changes.map((c) => `${c.op} ${c.what}${c.detail === undefined ? '' : `: ${c.detail}`}`);
  const head =
    result.changes.length === 0
      ? 'gatehouse apply: no changes; the store matches the file.'
      : `gatehouse apply: ${result.changes.length} change${result.changes.length === 1 ? '' : 's'}${dryRun ? ' (dry run: nothing was changed)' : ' applied'}:`;
  const out = [head, ...lines.map((l) => `  ${l}`)];
  if (result.secrets.length > 0) {
    out.push('', 'New API keys (shown once, stored hashed; keep them now):');
    for (const s of result.secrets) out.push(`  ${s.tenant}/${s.name}: ${s.key}`);
  }
  return `${out.join('\n')}\n`;
}
