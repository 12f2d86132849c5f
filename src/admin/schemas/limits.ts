/**
 * Limit rules and the effective-limits view. A rule is validated by the one schema the
 * configuration file and the store use too (src/limits/rules-schema.ts), so the API, `gatehouse
 * apply` and the gateway's YAML refuse the same rules with the same words.
 */
import { z } from 'zod';
import { limitRuleSchema } from '../../limits/rules-schema.js';
import { LIMIT_SCOPES, METRICS, WINDOWS, type LimitRule } from '../../limits/types.js';
import type { StoredLimitRule } from '../../store/index.js';
import { iso, isoOut } from './common.js';

export const budgetAction = z
  .enum(['reject', 'clamp'])
  .describe('When the remaining budget cannot cover a request: reject it, or clamp max_tokens to what the budget covers.');

/** A whole rule: creation of a tenant rule, and each rule of a plan. */
export const ruleBody = limitRuleSchema;

const shape = limitRuleSchema.shape;

/** A partial rule: merged over the stored one, then the whole is validated by `ruleBody`. */
export const patchRuleBody = z
  .strictObject({
    scope: shape.scope.unwrap().optional(),
    subject: shape.subject.unwrap().optional(),
    metric: shape.metric.optional(),
    window: shape.window.unwrap().optional(),
    limit: shape.limit.optional(),
    burst: shape.burst.unwrap().optional(),
    models: shape.models.unwrap().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'at least one field must be given');

export type RulePatch = z.output<typeof patchRuleBody>;

const ruleFields = {
  id: z.string(),
  scope: z.enum(LIMIT_SCOPES),
  subject: z.string().nullable(),
  metric: z.enum(METRICS),
  window: z.enum(WINDOWS).nullable(),
  limit: z.number(),
  burst: z.number().nullable(),
  models: z.array(z.string()).nullable(),
};

/** A rule as the API shows it (every field present, defaults filled in). */
export const ruleOut = z.object(ruleFields);

const owner = z
  .enum(['platform', 'tenant'])
  .describe('Who set the rule: the platform (a platform admin, gatehouse apply, the configuration file) or a tenant role. A tenant role can neither change nor delete a platform\'s rule.');

export const ruleView = z.object({ object: z.literal('limit_rule'), ...ruleFields, owner, created_at: isoOut, updated_at: isoOut });

export const effectiveRule = z.object({
  ...ruleFields,
  source: z.enum(['plan', 'tenant']).describe('Where the rule comes from.'),
  overridden: z
    .boolean()
    .optional()
    .describe('Plan rules only: true when a tenant rule of the same id replaces it (the plan rule is then not enforced).'),
  owner: owner.optional().describe('Tenant rules only: who set it.'),
  above_plan: z
    .boolean()
    .optional()
    .describe('Tenant rules only: true when the rule replaces a plan rule beyond what the plan allows (a higher limit or burst, or another measure): set by a platform admin, or the plan changed since.'),
  enforced: z
    .enum(['as_written', 'clamped', 'plan_rule'])
    .optional()
    .describe('Tenant rules only: as_written; clamped (a tenant\'s rule left above a plan lowered since: held to the plan\'s limit and burst); plan_rule (a tenant\'s rule that no longer counts what the plan rule counts: the plan rule applies instead). Platform rules are always as_written.'),
  enforced_limit: z.number().optional().describe('When clamped: the limit enforced.'),
  enforced_burst: z.number().nullable().optional().describe('When clamped: the burst enforced (null: the limit).'),
});

export const limitsView = z.object({
  object: z.literal('limits'),
  plan: z.object({ id: z.string(), name: z.string(), weight: z.number() }).nullable(),
  time_zone: z.string(),
  budget_action: budgetAction.describe('Effective: the tenant\'s own, else the plan\'s, else reject.'),
  rules: z
    .array(effectiveRule)
    .describe('Plan rules in the plan\'s order, each followed by the tenant rule that overrides it; then the tenant\'s other rules. Enforced: every plan rule not marked overridden, and every tenant rule not enforced as plan_rule (a clamped one at its enforced_limit and enforced_burst).'),
});

/** The rule alone (no store columns), with its own copy of the model list. */
export function plainRule(r: LimitRule): LimitRule & { models: string[] | null } {
  return { id: r.id, scope: r.scope, subject: r.subject, metric: r.metric, window: r.window, limit: r.limit, burst: r.burst, models: r.models === null ? null : [...r.models] };
}

/** The rule and who set it (audit entries). */
export function ownedRule(r: StoredLimitRule): ReturnType<typeof plainRule> & { owner: StoredLimitRule['owner'] } {
  return { ...plainRule(r), owner: r.owner };
}

export function presentRule(r: StoredLimitRule): z.output<typeof ruleView> {
  return { object: 'limit_rule', ...plainRule(r), owner: r.owner, created_at: iso(r.createdAt), updated_at: iso(r.updatedAt) };
}
