/** Plan bodies and views: the platform's catalogue of tiers (DESIGN §4). */
import { z } from 'zod';
import { planRulesSchema } from '../../limits/rules-schema.js';
import type { PlanRecord } from '../../store/index.js';
import { budgetAction, plainRule, ruleOut } from './limits.js';
import { description, iso, isoOut, slug } from './common.js';

export const weight = z.number().int().min(1).max(1_000_000).describe('Fair-share weight (≥ 1): a tenant\'s share of a full deployment.');

/**
 * A plan's rules: the shared schema, plus what only makes sense for a tenant: a plan serves many
 * tenants, so a team or key rule cannot name one team or key (those ids belong to one tenant).
 */
export const planRules = planRulesSchema.superRefine((rules, ctx) => {
  rules.forEach((r, i) => {
    if ((r.scope === 'team' || r.scope === 'key') && r.subject !== null) {
      ctx.addIssue({ code: 'custom', path: [i, 'subject'], input: r.subject, message: `must be null in a plan: a ${r.scope} id belongs to one tenant` });
    }
  });
});

export const createPlanBody = z.strictObject({
  name: slug.describe('Plan name (a-z, 0-9 and "-"); tenants name their plan by it.'),
  description: description.optional(),
  weight: weight.default(1),
  budget_action: budgetAction.default('reject'),
  rules: planRules.default([]),
});

export const patchPlanBody = z
  .strictObject({
    name: slug.optional(),
    description: description.optional(),
    weight: weight.optional(),
    budget_action: budgetAction.optional(),
    rules: planRules.optional().describe('Replaces the plan\'s rules; every tenant on the plan gets them at once.'),
  })
  .refine((b) => Object.keys(b).length > 0, 'at least one field must be given');

export const planView = z.object({
  object: z.literal('plan'),
  id: z.uuid(),
  name: z.string(),
  description: z.string(),
  weight: z.number(),
  budget_action: budgetAction,
  rules: z.array(ruleOut),
  tenants: z.number().describe('How many tenants are on the plan.'),
  created_at: isoOut,
  updated_at: isoOut,
});

export function presentPlan(p: PlanRecord, tenants: number): z.output<typeof planView> {
  return {
    object: 'plan',
    id: p.id,
    name: p.name,
    description: p.description,
    weight: p.weight,
    budget_action: p.budgetAction,
    rules: p.rules.map(plainRule),
    tenants,
    created_at: iso(p.createdAt),
    updated_at: iso(p.updatedAt),
  };
}
