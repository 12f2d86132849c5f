/**
 * Tenant lifecycle, shared by the admin API and `gatehouse apply`. Every function runs inside the
 * tenant's own transaction (the caller opens it) and appends its audit entry there.
 */
import { DEFAULT_TTL_SECONDS, storedCacheSettings } from '../../cache/settings.js';
import { planFeaturesOf } from '../../billing/service.js';
import { storedLogSettings } from '../../logs/settings.js';
import { GatewayError } from '../../errors.js';
import type { BudgetAction, LimitRule } from '../../limits/types.js';
import { isUniqueViolation, plansRepo, tenantsManageRepo, tenantsRepo, type ManagedTenant, type PlanRecord, type TenantTx } from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import type { IfMatch } from '../http/etag.js';
import { allows } from '../permissions.js';
import { conflict, invalid, lockedForChange, notFound } from '../problems.js';
import { scheduleTenantShred } from '../../crypto/shredding.js';
import { findPlan } from './plans.js';
import { createRule } from './limits.js';

/** The plan a tenant created without naming one starts on, when the catalogue has it. */
export const DEFAULT_PLAN = 'standard';

export interface CreateTenantInput {
  slug: string;
  name: string;
  /** A plan by name or id; null: none; absent: DEFAULT_PLAN when it exists. */
  plan?: string | null | undefined;
  /** Deprecated alias of `plan`. */
  template?: string | undefined;
  budget_action?: BudgetAction | null | undefined;
  /** The tenant's own rules. */
  limits?: readonly LimitRule[] | undefined;
  regions?: string[] | undefined;
  allowed_models?: string[] | null | undefined;
  time_zone?: string | undefined;
}

export interface PatchTenantInput {
  name?: string | undefined;
  plan?: string | null | undefined;
  template?: string | undefined;
  budget_action?: BudgetAction | null | undefined;
  regions?: string[] | undefined;
  allowed_models?: string[] | null | undefined;
  time_zone?: string | undefined;
  /** Response cache opt-in (src/cache/). */
  cache?: { enabled: boolean; ttl_seconds?: number | undefined } | undefined;
  /** Request log opt-in (src/logs/). */
  logs?: { enabled: boolean; content?: boolean | undefined; retention_days?: number | null | undefined } | undefined;
}

/** What a tenant role may change of its own tenant; the rest needs `tenants.update`. */
const TENANT_SETTINGS: ReadonlySet<string> = new Set(['time_zone', 'budget_action', 'cache', 'logs']);

/** What an audit entry may hold of a tenant: never its raw settings. */
async function auditable(tx: TenantTx, t: ManagedTenant): Promise<Record<string, unknown>> {
  return { slug: t.slug, name: t.name, status: t.status, plan: await planNameOf(tx, t), budgetAction: t.budgetAction, regions: t.regions, allowedModels: t.allowedModels, timeZone: t.timeZone, cache: storedCacheSettings(t.settings), logs: storedLogSettings(t.settings), deletionRequestedAt: t.deletionRequestedAt };
}

async function reload(tx: TenantTx): Promise<ManagedTenant> {
  const t = await tenantsManageRepo.get(tx);
  if (t === null) throw notFound('tenant');
  return t;
}

/** The plan a body names under `plan` (or its alias `template`); a 400 naming that field if none. */
async function resolvePlan(tx: TenantTx, input: { plan?: string | null | undefined; template?: string | undefined }): Promise<PlanRecord | null | undefined> {
  const field = input.plan !== undefined ? 'plan' : 'template';
  const ref = input.plan !== undefined ? input.plan : input.template;
  if (ref === undefined || ref === null) return ref;
  const plan = await findPlan(tx, ref);
  if (plan === null) throw invalid(`${field}: there is no plan "${ref}" (GET /admin/v1/plans lists them).`, field);
  return plan;
}

/** The name of the tenant's plan, for views. */
export async function planNameOf(tx: TenantTx, t: ManagedTenant): Promise<string | null> {
  return t.planId === null ? null : ((await plansRepo.get(tx, t.planId))?.name ?? null);
}

/** Creates the transaction's tenant (its id is the transaction's tenant id), on its plan, with its own rules. */
export async function createTenant(tx: TenantTx, actor: Actor, input: CreateTenantInput): Promise<ManagedTenant> {
  const named = await resolvePlan(tx, input);
  const plan = named !== undefined ? named : await plansRepo.getByName(tx, DEFAULT_PLAN);
  try {
    await tenantsRepo.insert(tx, {
      slug: input.slug,
      name: input.name,
      regions: input.regions ?? [],
      allowedModels: input.allowed_models ?? null,
      timeZone: input.time_zone ?? 'UTC',
      planId: plan?.id ?? null,
      budgetAction: input.budget_action ?? null,
    });
  } catch (err) {
    // Slugs are global (they name tenants in URLs); the platform admin may learn one is taken.
    if (isUniqueViolation(err)) throw conflict(`A tenant with the slug "${input.slug}" already exists.`, 'slug');
    throw err;
  }
  const tenant = await reload(tx);
  await audit(tx, actor, 'tenant.create', { kind: 'tenant', id: tenant.id }, { after: await auditable(tx, tenant) });
  for (const rule of input.limits ?? []) await createRule(tx, actor, rule);
  return tenant;
}

/** Refuses fields the actor's role may not change (per field: DESIGN §3), naming them. */
function checkFields(actor: Actor, patch: PatchTenantInput): void {
  const role = actor.principal.role;
  if (allows(role, 'tenants.update')) return;
  const refused = Object.entries(patch)
    .filter(([k, v]) => v !== undefined && !TENANT_SETTINGS.has(k))
    .map(([k]) => k);
  if (refused.length > 0) {
    throw new GatewayError('forbidden', `The role ${role} may change only the time_zone, budget_action, cache and logs of a tenant, not: ${refused.join(', ')}.`, {
      param: refused[0] ?? null,
    });
  }
}

/**
 * The request-log opt-in. A plan feature (log_retention_days, billing): a tenant principal may not
 * turn logging on when its plan keeps no logs, nor ask for more retention than the plan gives
 * (403 naming the ceiling). The operator may store any value (as with limits); what applies is
 * still bounded by the plan at run time (src/logs/settings.ts).
 */
async function setLogs(tx: TenantTx, actor: Actor, logs: NonNullable<PatchTenantInput['logs']>): Promise<void> {
  if (actor.principal.scope === 'tenant' && logs.enabled) {
    const planDays = (await planFeaturesOf(tx)).log_retention_days;
    if (planDays <= 0) throw new GatewayError('forbidden', "Request logs are not included in the tenant's plan.", { param: 'logs.enabled' });
    const asked = logs.retention_days;
    if (asked !== undefined && asked !== null && asked > planDays) {
      throw new GatewayError('forbidden', `The tenant's plan keeps request logs for at most ${planDays} days.`, { param: 'logs.retention_days' });
    }
  }
  const retentionDays = logs.retention_days ?? undefined;
  await tenantsRepo.setLogSettings(tx, { enabled: logs.enabled, content: logs.content ?? false, ...(retentionDays === undefined ? {} : { retentionDays }) });
}

export async function updateTenant(tx: TenantTx, actor: Actor, patch: PatchTenantInput, ifMatch: IfMatch | null): Promise<ManagedTenant> {
  checkFields(actor, patch);
  const before = await lockedForChange(() => tenantsManageRepo.get(tx, { forUpdate: true }), 'tenant', ifMatch, true);
  if (before.deletionRequestedAt !== null) throw conflict('The tenant is marked for deletion and can no longer be changed.');
  const plan = await resolvePlan(tx, patch);
  await tenantsRepo.update(tx, {
    name: patch.name,
    regions: patch.regions,
    allowedModels: patch.allowed_models,
    timeZone: patch.time_zone,
    planId: plan === undefined ? undefined : (plan?.id ?? null),
    budgetAction: patch.budget_action,
  });
  if (patch.cache !== undefined) {
    // A plan feature (billing): a tenant principal may not opt in when its plan has no caching.
    // The operator may store the opt-in anyway; the cache still honours the plan at run time.
    if (actor.principal.scope === 'tenant' && patch.cache.enabled && !(await planFeaturesOf(tx)).caching) {
      throw new GatewayError('forbidden', "Response caching is not included in the tenant's plan.", { param: 'cache.enabled' });
    }
    await tenantsRepo.setCacheSettings(tx, { enabled: patch.cache.enabled, ttlSeconds: patch.cache.ttl_seconds ?? DEFAULT_TTL_SECONDS });
  }
  if (patch.logs !== undefined) await setLogs(tx, actor, patch.logs);
  const after = await reload(tx);
  await audit(tx, actor, 'tenant.update', { kind: 'tenant', id: after.id }, { before: await auditable(tx, before), after: await auditable(tx, after) });
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
  await audit(tx, actor, 'tenant.delete', { kind: 'tenant', id: after.id }, { before: await auditable(tx, before), after: await auditable(tx, after) });
  return after;
}
