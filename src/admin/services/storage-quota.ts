/**
 * The `config_objects` storage quota (src/limits/types.ts), enforced where configuration objects
 * are created. Every create service calls `assertRoomFor` first, inside its tenant transaction:
 * it serialises the tenant's creations, counts what the tenant holds (one query, under
 * row-level security) and refuses when one more would exceed the tightest `config_objects` rule
 * of the tenant's effective limits (plan rules overlaid by its own, src/limits/compose.ts).
 * The lock is held until the transaction ends, so concurrent creates see each other's rows:
 * with room for 3, ten at once admit exactly 3.
 *
 * Deliberately not checked: rotating an API key (it replaces a key; refusing it would keep a
 * leaked key alive), creating a `config_objects` rule (a full tenant must still be able to get
 * its quota raised), objects the configuration file bootstraps (the operator's own), and
 * changes or deletions of existing objects.
 */
import { GatewayError } from '../../errors.js';
import { composeLimits, planLimitsOf, tightestRule } from '../../limits/compose.js';
import type { LimitRule } from '../../limits/types.js';
import { configObjectsRepo, limitRulesRepo, plansRepo, tenantsManageRepo, type TenantTx } from '../../store/index.js';
import { notFound } from '../problems.js';

/** The tightest `config_objects` rule of the tenant's effective limits, or null: no quota. */
export async function configObjectsRule(tx: TenantTx): Promise<LimitRule | null> {
  const t = await tenantsManageRepo.get(tx);
  if (t === null) throw notFound('tenant');
  const plan = t.planId === null ? null : await plansRepo.get(tx, t.planId);
  const limits = composeLimits(plan === null ? undefined : planLimitsOf(plan), {
    tenantId: tx.tenantId,
    planId: t.planId,
    budgetAction: t.budgetAction,
    timeZone: t.timeZone,
    rules: await limitRulesRepo.list(tx),
  });
  return tightestRule(limits.rules, 'config_objects') ?? null;
}

/**
 * Throws `storage_quota_exceeded` unless the tenant may hold `adding` more configuration objects.
 * Call before inserting; the answer names the rule, the limit and this tenant's count only.
 */
export async function assertRoomFor(tx: TenantTx, adding = 1): Promise<void> {
  await configObjectsRepo.lock(tx);
  const rule = await configObjectsRule(tx);
  if (rule === null) return;
  const held = await configObjectsRepo.count(tx);
  if (held + adding <= rule.limit) return;
  throw new GatewayError(
    'storage_quota_exceeded',
    `The tenant holds ${held} configuration objects and its limit "${rule.id}" (config_objects) allows ${rule.limit}; ` +
      'delete objects it no longer needs, or ask a platform admin for a higher limit.',
  );
}
