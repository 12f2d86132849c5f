/**
 * The plan catalogue, shared by the admin API and `gatehouse apply`. Writes run in the platform
 * scope's transaction (withTenant(PLATFORM_SCOPE_ID): row-level security lets nothing else write
 * plans) and append to the platform scope's audit chain; reads work in any transaction.
 */
import type { BudgetAction, LimitRule } from '../../limits/types.js';
import { plansRepo, type PlanRecord, type PlatformTx, type TenantTx } from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import { checkIfMatch, type IfMatch } from '../http/etag.js';
import { conflict, notFound } from '../problems.js';
import { plainRule } from '../schemas/limits.js';
import { isUuidText } from '../schemas/ids.js';

export interface PlanFields {
  name: string;
  description?: string | undefined;
  weight: number;
  budget_action: BudgetAction;
  rules: readonly LimitRule[];
}

export type PlanFieldsPatch = Partial<PlanFields>;

const view = (p: PlanRecord) => ({ name: p.name, description: p.description, weight: p.weight, budgetAction: p.budgetAction, rules: p.rules.map(plainRule) });

/** A plan by id (a UUID-shaped reference) or by name; plan names are never UUID-shaped. */
export function findPlan(tx: TenantTx | PlatformTx, ref: string, opts: { forUpdate?: boolean } = {}): Promise<PlanRecord | null> {
  return isUuidText(ref) ? plansRepo.get(tx, ref.toLowerCase(), opts) : plansRepo.getByName(tx, ref, opts);
}

export async function createPlan(tx: TenantTx, actor: Actor, input: PlanFields): Promise<PlanRecord> {
  const r = await plansRepo.create(tx, {
    name: input.name,
    description: input.description ?? '',
    weight: input.weight,
    budgetAction: input.budget_action,
    rules: input.rules,
  });
  if (!r.ok) throw conflict(`A plan named "${input.name}" already exists.`, 'name');
  await audit(tx, actor, 'plan.create', { kind: 'plan', id: r.plan.id }, { after: view(r.plan) });
  return r.plan;
}

export async function updatePlan(tx: TenantTx, actor: Actor, ref: string, patch: PlanFieldsPatch, ifMatch: IfMatch | null): Promise<PlanRecord> {
  const before = await findPlan(tx, ref, { forUpdate: true });
  if (before === null) throw notFound('plan');
  checkIfMatch(ifMatch, before.version, { required: true });
  const r = await plansRepo.update(
    tx,
    before.id,
    {
      ...(patch.name === undefined ? {} : { name: patch.name }),
      ...(patch.description === undefined ? {} : { description: patch.description }),
      ...(patch.weight === undefined ? {} : { weight: patch.weight }),
      ...(patch.budget_action === undefined ? {} : { budgetAction: patch.budget_action }),
      ...(patch.rules === undefined ? {} : { rules: patch.rules }),
    },
    { version: before.version },
  );
  if (!r.ok) {
    if (r.reason === 'name_taken') throw conflict(`A plan named "${patch.name ?? ''}" already exists.`, 'name');
    if (r.reason === 'not_found') throw notFound('plan');
    throw conflict('A concurrent change got in the way; retry.');
  }
  await audit(tx, actor, 'plan.update', { kind: 'plan', id: before.id }, { before: view(before), after: view(r.plan) });
  return r.plan;
}

function inUse(name: string, tenants: number): never {
  throw conflict(
    `The plan "${name}" is in use by ${tenants === 1 ? 'a tenant' : tenants > 1 ? `${tenants} tenants` : 'tenants'}; move them to another plan first.`,
  );
}

/**
 * Deletes a plan no tenant is on. `tenants` is how many were on it when the caller looked (read
 * through the platform role); a tenant moved onto it since is caught by the foreign key.
 */
export async function deletePlan(tx: TenantTx, actor: Actor, ref: string, ifMatch: IfMatch | null, tenants: (id: string) => number): Promise<PlanRecord> {
  const before = await findPlan(tx, ref, { forUpdate: true });
  if (before === null) throw notFound('plan');
  checkIfMatch(ifMatch, before.version, { required: true });
  const using = tenants(before.id);
  if (using > 0) inUse(before.name, using);
  const r = await plansRepo.remove(tx, before.id, { version: before.version });
  if (!r.ok) {
    if (r.reason === 'in_use') inUse(before.name, 0);
    if (r.reason === 'not_found') throw notFound('plan');
    throw conflict('A concurrent change got in the way; retry.');
  }
  await audit(tx, actor, 'plan.delete', { kind: 'plan', id: before.id }, { before: view(before) });
  return before;
}
