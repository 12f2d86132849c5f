/** Tenant bodies and views. Platform admins see metadata and the plan, never raw settings. */
import { z } from 'zod';
import type { Role } from '../../identity/roles.js';
import type { TenantSummary } from '../../store/index.js';
import type { TenantWithPlan } from '../services/tenants.js';
import { limitsSchema, TEMPLATE_NAMES } from '../templates.js';
import { displayName, iso, isoOut, modelName, region, slug, timeZone, uniqueList } from './common.js';

const models = uniqueList(modelName, 500).nullable().describe('Models the tenant may use; null: every model in the catalogue.');
const regions = uniqueList(region, 32).describe('Regions whose deployments the tenant may reach; empty: any.');

export const createTenantBody = z.strictObject({
  slug,
  name: displayName,
  template: z.enum(TEMPLATE_NAMES).default('standard').describe('Policy template: its limits are the starting point.'),
  limits: limitsSchema.optional().describe('Overrides of the template limits.'),
  regions: regions.optional(),
  allowed_models: models.optional(),
  time_zone: timeZone.optional(),
});

export const patchTenantBody = z
  .strictObject({
    name: displayName.optional(),
    template: z.enum(TEMPLATE_NAMES).optional().describe('Re-applies the template limits (then `limits` on top).'),
    limits: limitsSchema.optional().describe('Overrides merged over the current limits; null removes a limit.'),
    regions: regions.optional(),
    allowed_models: models.optional(),
    time_zone: timeZone.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'at least one field must be given');

export const tenantStatus = z.enum(['active', 'suspended', 'deleting']);

export const tenantView = z.object({
  object: z.literal('tenant'),
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  status: tenantStatus,
  template: z.string().nullable().optional().describe('The plan the tenant is on (null: none).'),
  limits: limitsSchema.optional(),
  regions: z.array(z.string()).optional(),
  allowed_models: z.array(z.string()).nullable().optional(),
  time_zone: z.string().optional(),
  created_at: isoOut.optional(),
  updated_at: isoOut.optional(),
  deletion_requested_at: isoOut.nullable().optional(),
});
export type TenantView = z.output<typeof tenantView>;

export function statusOf(t: { status: 'active' | 'suspended'; deletionRequestedAt: Date | null }): z.output<typeof tenantStatus> {
  return t.deletionRequestedAt === null ? t.status : 'deleting';
}

/** Billing sees what it needs for money: identity, status, plan and limits. */
export function presentTenant(t: TenantWithPlan, role: Role): TenantView {
  const base: TenantView = { object: 'tenant', id: t.id, slug: t.slug, name: t.name, status: statusOf(t), template: t.plan.template, limits: t.plan.limits };
  if (role === 'tenant_billing') return base;
  return {
    ...base,
    regions: t.regions,
    allowed_models: t.allowedModels,
    time_zone: t.timeZone,
    created_at: iso(t.createdAt),
    updated_at: iso(t.updatedAt),
    deletion_requested_at: iso(t.deletionRequestedAt),
  };
}

/** Listings come from the platform role's metadata columns (the plan's limits are not composed here). */
export function presentTenantSummary(t: TenantSummary): TenantView {
  return {
    object: 'tenant',
    id: t.id,
    slug: t.slug,
    name: t.name,
    status: t.status,
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
