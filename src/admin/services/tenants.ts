/**
 * Tenant lifecycle, shared by the admin API and `gatehouse apply`. Every function runs inside the
 * tenant's own transaction (the caller opens it) and appends its audit entry there.
 */
import { isUniqueViolation, tenantsManageRepo, tenantsRepo, type ManagedTenant, type TenantTx } from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import type { IfMatch } from '../http/etag.js';
import { conflict, lockedForChange, notFound } from '../problems.js';
import { planOf, TEMPLATES, withPlan, type Limits, type TemplateName, type TenantPlan } from '../templates.js';
import { scheduleTenantShred } from '../../crypto/shredding.js';

export interface CreateTenantInput {
  slug: string;
  name: string;
  template: TemplateName;
  limits?: Limits | undefined;
  regions?: string[] | undefined;
  allowed_models?: string[] | null | undefined;
  time_zone?: string | undefined;
}

export interface PatchTenantInput {
  name?: string | undefined;
  template?: TemplateName | undefined;
  limits?: Limits | undefined;
  regions?: string[] | undefined;
  allowed_models?: string[] | null | undefined;
  time_zone?: string | undefined;
}

/** What an audit entry may hold of a tenant: never its raw settings. */
function auditable(t: ManagedTenant): Record<string, unknown> {
  const plan = planOf(t.settings);
  return { slug: t.slug, name: t.name, status: t.status, template: plan.template, limits: plan.limits, regions: t.regions, allowedModels: t.allowedModels, timeZone: t.timeZone, deletionRequestedAt: t.deletionRequestedAt };
}

async function reload(tx: TenantTx): Promise<ManagedTenant> {
  const t = await tenantsManageRepo.get(tx);
  if (t === null) throw notFound('tenant');
  return t;
}

/** Creates the transaction's tenant (its id is the transaction's tenant id). */
export async function createTenant(tx: TenantTx, actor: Actor, input: CreateTenantInput): Promise<ManagedTenant> {
  const plan: TenantPlan = { template: input.template, limits: { ...TEMPLATES[input.template], ...input.limits } };
  try {
    await tenantsRepo.insert(tx, {
      slug: input.slug,
      name: input.name,
      regions: input.regions ?? [],
      allowedModels: input.allowed_models ?? null,
      settings: withPlan({}, plan),
      timeZone: input.time_zone ?? 'UTC',
    });
  } catch (err) {
    // Slugs are global (they name tenants in URLs); the platform admin may learn one is taken.
    if (isUniqueViolation(err)) throw conflict(`A tenant with the slug "${input.slug}" already exists.`, 'slug');
    throw err;
  }
  const tenant = await reload(tx);
  await audit(tx, actor, 'tenant.create', { kind: 'tenant', id: tenant.id }, { after: auditable(tenant) });
  return tenant;
}

export async function updateTenant(tx: TenantTx, actor: Actor, patch: PatchTenantInput, ifMatch: IfMatch | null): Promise<ManagedTenant> {
  const before = await lockedForChange(() => tenantsManageRepo.get(tx, { forUpdate: true }), 'tenant', ifMatch, true);
  if (before.deletionRequestedAt !== null) throw conflict('The tenant is marked for deletion and can no longer be changed.');
  let settings: Record<string, unknown> | undefined;
  if (patch.template !== undefined || patch.limits !== undefined) {
    const current = planOf(before.settings);
    const template = patch.template ?? current.template;
    const base = patch.template !== undefined ? { ...TEMPLATES[patch.template] } : current.limits;
    settings = withPlan(before.settings, { template, limits: { ...base, ...patch.limits } });
  }
  await tenantsRepo.update(tx, {
    name: patch.name,
    regions: patch.regions,
    allowedModels: patch.allowed_models,
    settings,
    timeZone: patch.time_zone,
  });
  const after = await reload(tx);
  await audit(tx, actor, 'tenant.update', { kind: 'tenant', id: after.id }, { before: auditable(before), after: auditable(after) });
  return after;
}

export async function setTenantStatus(
  tx: TenantTx,
  actor: Actor,
  status: 'active' | 'suspended',
  ifMatch: IfMatch | null,
): Promise<ManagedTenant> {
  const before = await lockedForChange(() => tenantsManageRepo.get(tx, { forUpdate: true }), 'tenant', ifMatch, false);
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
export async function deleteTenant(tx: TenantTx, actor: Actor, ifMatch: IfMatch | null): Promise<ManagedTenant> {
  const before = await lockedForChange(() => tenantsManageRepo.get(tx, { forUpdate: true }), 'tenant', ifMatch, true);
  if (before.deletionRequestedAt !== null) return before;
  const after = await tenantsManageRepo.markForDeletion(tx);
  if (after === null) throw notFound('tenant');
  await scheduleTenantShred(tx);
  await audit(tx, actor, 'tenant.delete', { kind: 'tenant', id: after.id }, { before: auditable(before), after: auditable(after) });
  return after;
}
