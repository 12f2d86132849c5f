/**
 * Policy templates a tenant is created from (DESIGN §4: "a tier applies a bundle of limits").
 * The limits are stored in the tenant's settings as the starting point for per-tenant overrides;
 * enforcing them is the limits layer's job, which reads them from there.
 */
import { z } from 'zod';

export const limitsSchema = z
  .strictObject({
    requests_per_minute: z.number().int().min(1).max(10_000_000).nullable().optional(),
    tokens_per_day: z.number().int().min(1).max(1_000_000_000_000).nullable().optional(),
    max_concurrency: z.number().int().min(1).max(100_000).nullable().optional(),
    monthly_budget_cents: z.number().int().min(0).max(100_000_000_000).nullable().optional(),
  })
  .describe('Limits; null or absent means unlimited. Money in integer cents.');

export type Limits = z.output<typeof limitsSchema>;

export const TEMPLATES = {
  free: { requests_per_minute: 60, tokens_per_day: 200_000, max_concurrency: 4, monthly_budget_cents: 0 },
  standard: { requests_per_minute: 3_000, tokens_per_day: 50_000_000, max_concurrency: 64, monthly_budget_cents: 500_000 },
  enterprise: { requests_per_minute: 30_000, tokens_per_day: null, max_concurrency: 512, monthly_budget_cents: null },
} as const satisfies Record<string, Limits>;

export type TemplateName = keyof typeof TEMPLATES;
export const TEMPLATE_NAMES = Object.keys(TEMPLATES) as [TemplateName, ...TemplateName[]];

/** The part of tenants.settings the admin API manages. */
const managedSettings = z.object({ template: z.enum(TEMPLATE_NAMES).nullable().catch(null), limits: limitsSchema.catch({}) });

export interface TenantPlan {
  template: TemplateName | null;
  limits: Limits;
}

/** Reads the plan from stored settings; anything unrecognised reads as "no template, no limits". */
export function planOf(settings: Record<string, unknown>): TenantPlan {
  const parsed = managedSettings.safeParse({ template: settings.template ?? null, limits: settings.limits ?? {} });
  return parsed.success ? parsed.data : { template: null, limits: {} };
}

/** Settings with the plan written in, other keys kept. */
export function withPlan(settings: Record<string, unknown>, plan: TenantPlan): Record<string, unknown> {
  return { ...settings, template: plan.template, limits: plan.limits };
}
