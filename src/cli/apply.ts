/**
 * `gatehouse apply -f tenants.yaml [--dry-run] [--prune]`: makes the store match the file, one
 * transaction for the plans and then one per tenant, through the admin API's service functions.
 * `--dry-run` runs exactly the same steps in transactions that are rolled back, so the diff it
 * prints is what a real run would do at that moment. Without `--prune` nothing is removed; with
 * it, undeclared domains, policies and limit rules are removed and undeclared API keys revoked.
 * Tenants and plans are never deleted by apply.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Actor } from '../admin/context.js';
import { etagOf } from '../admin/http/etag.js';
import { plainRule } from '../admin/schemas/limits.js';
import { createPlan, findPlan, updatePlan, type PlanFieldsPatch } from '../admin/services/plans.js';
import { createTenant, planNameOf } from '../admin/services/tenants.js';
import { loadConfig } from '../config/load.js';
import { GatewayError } from '../errors.js';
import { PLATFORM_SCOPE_ID } from '../identity/roles.js';
import { tenantsManageRepo, type Store } from '../store/index.js';
import { CliError, openCliStore } from './cli-store.js';
import { reconcileTenant, wantedPlan, type Change, type Reconcile } from './reconcile.js';
import { parseTenantsFile, type PlanSpec } from './tenants-file.js';

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

/**
 * Brings the declared plans to the file, in the platform scope's transaction. Returns the names
 * of plans a dry run would create (they do not exist for the tenants' transactions after it).
 */
async function reconcilePlans(store: Store, actor: Actor, plans: readonly PlanSpec[], dryRun: boolean, changes: Change[]): Promise<Set<string>> {
  const created = new Set<string>();
  const mine: Change[] = [];
  try {
    await store.withTenant(PLATFORM_SCOPE_ID, async (tx) => {
      for (const p of plans) {
        const have = await findPlan(tx, p.name);
        if (have === null) {
          await createPlan(tx, actor, { name: p.name, description: p.description, weight: p.weight ?? 1, budget_action: p.budget_action ?? 'reject', rules: p.rules ?? [] });
          created.add(p.name);
          mine.push({ op: '+', what: `plan ${p.name}` });
          continue;
        }
        const patch: PlanFieldsPatch = {};
        const fields: string[] = [];
        if (p.description !== undefined && p.description !== have.description) {
          patch.description = p.description;
          fields.push('description');
        }
        if (p.weight !== undefined && p.weight !== have.weight) {
          patch.weight = p.weight;
          fields.push(`weight: ${have.weight} → ${p.weight}`);
        }
        if (p.budget_action !== undefined && p.budget_action !== have.budgetAction) {
          patch.budget_action = p.budget_action;
          fields.push(`budget_action: ${have.budgetAction} → ${p.budget_action}`);
        }
        if (p.rules !== undefined && !isDeepStrictEqual(p.rules.map(plainRule), have.rules.map(plainRule))) {
          patch.rules = p.rules;
          fields.push('rules');
        }
        if (fields.length === 0) continue;
        await updatePlan(tx, actor, have.id, patch, { any: false, tags: [etagOf(have.version)] });
        mine.push({ op: '~', what: `plan ${p.name}`, detail: fields.join(', ') });
      }
      if (dryRun) throw new DryRunRollback();
    });
  } catch (err) {
    if (!(err instanceof DryRunRollback)) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CliError(`apply: plans: ${why}`, { cause: err });
    }
  }
  changes.push(...mine);
  return dryRun ? created : new Set();
}

export async function runApply(opts: ApplyOptions): Promise<ApplyResult> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const path = resolve(cwd, opts.file);
  const spec = parseTenantsFile(await readFile(path, 'utf8'), opts.file);
  const config = await loadConfig({ env, cwd });
  const cli = await openCliStore(config, env, 'apply');
  try {
    const result: ApplyResult = { changes: [], secrets: [] };
    // Plans first: tenants of the file may be on plans it declares.
    const unbornPlans = await reconcilePlans(cli.store, cli.actor, spec.plans, opts.dryRun, result.changes);
    for (const t of spec.tenants) {
      const found = await cli.store.platform((tx) => tenantsManageRepo.resolve(tx, t.slug));
      const r: Reconcile = { prune: opts.prune, actor: cli.actor, pepper: cli.pepper, now: new Date(), changes: [], secrets: [], unbornPlans, created: found === null };
      if (found?.deleting === true) throw new CliError(`apply: tenant ${t.slug} is marked for deletion; remove it from the file`);
      const id = found?.id ?? randomUUID();
      try {
        await cli.store.withTenant(id, async (tx) => {
          if (found === null) {
            const plan = wantedPlan(t);
            const created = await createTenant(tx, cli.actor, {
              slug: t.slug,
              name: t.name ?? t.slug,
              // A plan this dry run only pretends to create: the tenant is shown on it, made without.
              plan: plan !== undefined && plan !== null && unbornPlans.has(plan) ? null : plan,
              budget_action: t.budget_action,
              regions: t.regions,
              allowed_models: t.allowed_models,
              time_zone: t.time_zone,
            });
            const planName = plan !== undefined && plan !== null && unbornPlans.has(plan) ? plan : await planNameOf(tx, created);
            r.changes.push({ op: '+', what: `tenant ${t.slug}`, detail: planName === null ? 'no plan' : `plan ${planName}` });
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
