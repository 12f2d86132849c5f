/** Tenant bodies and views. Platform admins see metadata and the plan, never raw settings. */
import { z } from 'zod';
import { MAX_TTL_SECONDS, storedCacheSettings } from '../../cache/settings.js';
import { MAX_RETENTION_DAYS, storedLogSettings } from '../../logs/settings.js';
import { planRulesSchema } from '../../limits/rules-schema.js';
import type { Role } from '../../identity/roles.js';
import type { ManagedTenant, TenantSummary } from '../../store/index.js';
import { displayName, iso, isoOut, modelName, region, slug, timeZone, uniqueList } from './common.js';
import { budgetAction } from './limits.js';

const models = uniqueList(modelName, 500).nullable().describe('Models the tenant may use; null: every model in the catalogue.');
const regions = uniqueList(region, 32).describe('Regions whose deployments the tenant may reach; empty: any.');

/** The plan a tenant is on, by name or id (GET /admin/v1/plans lists them). */
export const planRef = z.string().min(1).max(64).describe('A plan (tier) by name or id.');
const tenantBudgetAction = budgetAction.nullable().describe("What to do when the budget cannot cover a request; null: the plan's.");
const cacheSettings = z
  .strictObject({
    enabled: z.boolean(),
    ttl_seconds: z.number().int().min(1).max(MAX_TTL_SECONDS).optional().describe('How long a cached response lives; absent: 3600.'),
  })
  .describe('Response cache opt-in (README "Response cache"): deterministic requests are answered from the tenant\'s own encrypted cache.');

const logSettings = z
  .strictObject({
    enabled: z.boolean(),
    content: z.boolean().optional().describe('Also store request and response bodies, encrypted with the tenant key; absent: false.'),
    retention_days: z
      .number()
      .int()
      .min(1)
      .max(MAX_RETENTION_DAYS)
      .nullable()
      .optional()
      .describe("How long entries are kept; absent or null: as long as the plan allows (its log_retention_days)."),
  })
  .describe('Request log opt-in (README "Request logs"): entries readable by tenant admins and auditors.');

/** `template` is what the plan was called before plans existed; both may be given only if equal. */
function oneOfPlanOrTemplate(b: { plan?: string | null | undefined; template?: string | undefined }, ctx: z.RefinementCtx): void {
  if (b.template !== undefined && b.plan !== undefined && b.plan !== b.template) {
    ctx.addIssue({ code: 'custom', path: ['template'], message: 'is an alias of `plan`; give one of them' });
  }
}

export const createTenantBody = z
  .strictObject({
    slug,
    name: displayName,
    plan: planRef.nullable().optional().describe('The plan (tier) whose limits the tenant gets; absent: "standard" when the catalogue has it; null: none.'),
    template: planRef.optional().describe('Deprecated alias of `plan`.'),
    budget_action: tenantBudgetAction.optional(),
    limits: planRulesSchema.optional().describe("The tenant's own limit rules: overrides of plan rules (same id) and additions."),
    regions: regions.optional(),
    allowed_models: models.optional(),
    time_zone: timeZone.optional(),
  })
  .superRefine(oneOfPlanOrTemplate);

export const patchTenantBody = z
  .strictObject({
    name: displayName.optional(),
    plan: planRef.nullable().optional().describe("Moves the tenant to another plan (null: none); the tenant's own rules stay."),
    template: planRef.optional().describe('Deprecated alias of `plan`.'),
    budget_action: tenantBudgetAction.optional(),
    regions: regions.optional(),
    allowed_models: models.optional(),
    time_zone: timeZone.optional(),
    cache: cacheSettings.optional(),
    logs: logSettings.optional(),
  })
  .superRefine(oneOfPlanOrTemplate)
  .refine((b) => Object.keys(b).length > 0, 'at least one field must be given');

export const tenantStatus = z.enum(['active', 'suspended', 'deleting']);

export const tenantView = z.object({
  object: z.literal('tenant'),
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  status: tenantStatus,
  plan: z.string().nullable().describe('The plan (tier) by name; null: none. Its limits: GET .../limits.'),
  budget_action: tenantBudgetAction,
  regions: z.array(z.string()).optional(),
  allowed_models: z.array(z.string()).nullable().optional(),
  time_zone: z.string().optional(),
  cache: z.object({ enabled: z.boolean(), ttl_seconds: z.number() }).optional(),
  logs: z
    .object({ enabled: z.boolean(), content: z.boolean(), retention_days: z.number().nullable() })
    .optional()
    .describe("The stored opt-in; the plan's log_retention_days bounds it (0: no logs)."),
  created_at: isoOut.optional(),
  updated_at: isoOut.optional(),
  deletion_requested_at: isoOut.nullable().optional(),
});
export type TenantView = z.output<typeof tenantView>;

export function statusOf(t: { status: 'active' | 'suspended'; deletionRequestedAt: Date | null }): z.output<typeof tenantStatus> {
  return t.deletionRequestedAt === null ? t.status : 'deleting';
}

/**
 * Billing (the tenant's and the platform's) sees what it needs for money: identity, status, plan
 * and budget action (and, tenant billing only, the limits, through GET .../limits).
 */
export function presentTenant(t: ManagedTenant, planName: string | null, role: Role): TenantView {
  const base: TenantView = { object: 'tenant', id: t.id, slug: t.slug, name: t.name, status: statusOf(t), plan: planName, budget_action: t.budgetAction };
  if (role === 'tenant_billing' || role === 'platform_billing') return base;
  const cache = storedCacheSettings(t.settings);
  const logs = storedLogSettings(t.settings);
  return {
    ...base,
    regions: t.regions,
    allowed_models: t.allowedModels,
    time_zone: t.timeZone,
    cache: { enabled: cache.enabled, ttl_seconds: cache.ttlSeconds },
    logs: { enabled: logs.enabled, content: logs.content, retention_days: logs.retentionDays ?? null },
    created_at: iso(t.createdAt),
    updated_at: iso(t.updatedAt),
    deletion_requested_at: iso(t.deletionRequestedAt),
  };
}

/** Listings come from the platform role's metadata columns (never settings). */
export function presentTenantSummary(t: TenantSummary, planName: string | null): TenantView {
  return {
    object: 'tenant',
    id: t.id,
    slug: t.slug,
    name: t.name,
    status: t.status,
    plan: planName,
    budget_action: t.budgetAction,
    regions: t.regions,
    allowed_models: t.allowedModels,
    time_zone: t.timeZone,
    created_at: iso(t.createdAt),
    updated_at: iso(t.updatedAt),
    deletion_requested_at: iso(t.deletionRequestedAt),
  };
}

export const fleetView = z.object({
  object: z.literal('fleet'),
  tenants: z.object({ active: z.number(), suspended: z.number(), deleting: z.number() }),
  teams: z.number(),
  domains: z.number(),
  api_keys: z.object({ active: z.number(), revoked: z.number(), expired: z.number() }),
});
