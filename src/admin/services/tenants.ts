/**
 * Tenant lifecycle, shared by the admin API and `gatehouse apply`. Every function runs inside the
 * tenant's own transaction (the caller opens it) and appends its audit entry there.
 */
import { isUniqueViolation, tenantsManageRepo, tenantsRepo, type ManagedTenant, type TenantTx } from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import type { IfMatch } from '../http/etag.js';
import { conflict, lockedForChange, notFound } from '../problems.js';
import { planIdByName, readPlan, writePlan, type Limits, type TenantPlan } from '../templates.js';
import { scheduleTenantShred } from '../../crypto/shredding.js';

export interface CreateTenantInput {
  slug: string;
  name: string;
  /** A plan name (the seeded plans are the former templates). */
  template: string;
  limits?: Limits | undefined;
  regions?: string[] | undefined;
  allowed_models?: string[] | null | undefined;
  time_zone?: string | undefined;
}

export interface PatchTenantInput {
  name?: string | undefined;
  template?: string | undefined;
  limits?: Limits | undefined;
  regions?: string[] | undefined;
  allowed_models?: string[] | null | undefined;
  time_zone?: string | undefined;
}

/** A tenant with its plan and limits as the admin API's tenant fields show them. */
export type TenantWithPlan = ManagedTenant & { plan: TenantPlan };

/** What an audit entry may hold of a tenant: never its raw settings. */
function auditable(t: TenantWithPlan): Record<string, unknown> {
  return { slug: t.slug, name: t.name, status: t.status, template: t.plan.template, limits: t.plan.limits, regions: t.regions, allowedModels: t.allowedModels, timeZone: t.timeZone, deletionRequestedAt: t.deletionRequestedAt };
}

async function withPlan(tx: TenantTx, t: ManagedTenant): Promise<TenantWithPlan> {
  return { ...t, plan: await readPlan(tx, t) };
}

/** The transaction's tenant with its plan; 404 if it does not exist. */
export async function loadTenant(tx: TenantTx, opts: { forUpdate?: boolean } = {}): Promise<TenantWithPlan> {
  const t = await tenantsManageRepo.get(tx, opts);
  if (t === null) throw notFound('tenant');
  return withPlan(tx, t);
}

async function reload(tx: TenantTx): Promise<TenantWithPlan> {
  return loadTenant(tx);
}

/** lockedForChange over the tenant row, with the plan added. */
async function lockedTenant(tx: TenantTx, ifMatch: IfMatch | null, required: boolean): Promise<TenantWithPlan> {
  const t = await lockedForChange(() => tenantsManageRepo.get(tx, { forUpdate: true }), 'tenant', ifMatch, required);
  return withPlan(tx, t);
}

/** Creates the transaction's tenant (its id is the transaction's tenant id). */
export async function createTenant(tx: TenantTx, actor: Actor, input: CreateTenantInput): Promise<TenantWithPlan> {
  const planId = await planIdByName(tx, input.template);
  try {
    await tenantsRepo.insert(tx, {
      slug: input.slug,
      name: input.name,
      regions: input.regions ?? [],
      allowedModels: input.allowed_models ?? null,
      timeZone: input.time_zone ?? 'UTC',
      planId,
    });
  } catch (err) {
    // Slugs are global (they name tenants in URLs); the platform admin may learn one is taken.
    if (isUniqueViolation(err)) throw conflict(`A tenant with the slug "${input.slug}" already exists.`, 'slug');
    throw err;
  }
  await writePlan(tx, { limits: input.limits }, { creating: true });
  const tenant = await reload(tx);
  await audit(tx, actor, 'tenant.create', { kind: 'tenant', id: tenant.id }, { after: auditable(tenant) });
  return tenant;
}

export async function updateTenant(tx: TenantTx, actor: Actor, patch: PatchTenantInput, ifMatch: IfMatch | null): Promise<TenantWithPlan> {
  const before = await lockedTenant(tx, ifMatch, true);
  if (before.deletionRequestedAt !== null) throw conflict('The tenant is marked for deletion and can no longer be changed.');
  await tenantsRepo.update(tx, {
    name: patch.name,
    regions: patch.regions,
    allowedModels: patch.allowed_models,
    timeZone: patch.time_zone,
  });
  if (patch.template !== undefined || patch.limits !== undefined) await writePlan(tx, { template: patch.template, limits: patch.limits });
  const after = await reload(tx);
  await audit(tx, actor, 'tenant.update', { kind: 'tenant', id: after.id }, { before: auditable(before), after: auditable(after) });
  return after;
}

export async function setTenantStatus(
  tx: TenantTx,
  actor: Actor,
  status: 'active' | 'suspended',
  ifMatch: IfMatch | null,
): Promise<TenantWithPlan> {
  const before = await lockedTenant(tx, ifMatch, false);
  if (before.deletionRequestedAt !== null) throw conflict('The tenant is marked for deletion; it cannot be suspended or resumed.');
  if (before.status === status) return before;
  await tenantsRepo.update(tx, { status });
  const after = await reload(tx);
  await audit(tx, actor, status === 'active' ? 'tenant.resume' : 'tenant.suspend', { kind: 'tenant', id: after.id }, {
    before: { status: before.status },
    after: { status: after.status },
  });
  return after;
}

/**
 * Marks the tenant for deletion: suspended at once (the data plane refuses it) and its data keys
 * scheduled for destruction after the grace period (crypto-shredding, run by the gateway's
 * periodic shred job). Repeating it changes nothing.
 */
export async function deleteTenant(tx: TenantTx, actor: Actor, ifMatch: IfMatch | null): Promise<TenantWithPlan> {
  const before = await lockedTenant(tx, ifMatch, true);
  if (before.deletionRequestedAt !== null) return before;
  const marked = await tenantsManageRepo.markForDeletion(tx);
  if (marked === null) throw notFound('tenant');
  const after = await withPlan(tx, marked);
  await scheduleTenantShred(tx);
  await audit(tx, actor, 'tenant.delete', { kind: 'tenant', id: after.id }, { before: auditable(before), after: auditable(after) });
  return after;
}
