/**
 * The tenants-as-code file of `gatehouse apply` and `gatehouse export`. Built from the admin
 * API's own field schemas, so a value the API refuses is refused here too, with the same words.
 * Absent fields mean "leave as it is" for existing tenants and plans; lists of teams, domains,
 * policies, keys and limit rules are matched by slug, domain, name or rule id. Limit rules are the
 * admin API's (and the gateway configuration's) rules, except that a team rule's subject may be
 * the team's slug and a key rule's the key's name, so a file can name what it declares.
 */
import { parse } from 'yaml';
import { z } from 'zod';
import { createPolicyBody } from '../admin/schemas/policies.js';
import { description, displayName, hostName, modelName, region, scopes, slug, timestamp, timeZone, uniqueList } from '../admin/schemas/common.js';
import { budgetAction } from '../admin/schemas/limits.js';
import { planRules, weight } from '../admin/schemas/plans.js';
import { planRef } from '../admin/schemas/tenants.js';
import { planRulesSchema } from '../limits/rules-schema.js';

const unique = <T>(key: (t: T) => string, what: string) => (xs: readonly T[], ctx: z.RefinementCtx) => {
  const seen = new Set<string>();
  for (const x of xs) {
    const k = key(x);
    if (seen.has(k)) ctx.addIssue({ code: 'custom', message: `${what} "${k}" is declared twice` });
    seen.add(k);
  }
};

const teamSpec = z.strictObject({ slug, name: displayName.optional() });

const keySpec = z.strictObject({
  name: displayName,
  team: slug.optional().describe('Slug of a team declared for the same tenant.'),
  scopes: scopes.optional(),
  allowed_models: uniqueList(modelName, 500).nullable().optional(),
  expires_at: timestamp.nullable().optional(),
});

const tenantSpec = z
  .strictObject({
    slug,
    name: displayName.optional(),
    status: z.enum(['active', 'suspended']).optional(),
    plan: planRef.nullable().optional().describe('A plan by name; null: none. New tenants without one start on "standard".'),
    template: planRef.optional().describe('Deprecated alias of `plan`.'),
    budget_action: budgetAction.nullable().optional(),
    limits: planRulesSchema.optional().describe("The tenant's own rules; without --prune, rules not listed are kept."),
    regions: uniqueList(region, 32).optional(),
    allowed_models: uniqueList(modelName, 500).nullable().optional(),
    time_zone: timeZone.optional(),
    teams: z.array(teamSpec).max(1000).default([]).superRefine(unique((t) => t.slug, 'team')),
    domains: z.array(hostName).max(100).default([]).superRefine(unique((d) => d, 'domain')),
    policies: z.array(createPolicyBody).max(1000).default([]).superRefine(unique((p) => p.name, 'policy')),
    keys: z.array(keySpec).max(10_000).default([]).superRefine(unique((k) => k.name, 'key')),
  })
  .superRefine((t, ctx) => {
    if (t.plan !== undefined && t.template !== undefined && t.plan !== t.template) {
      ctx.addIssue({ code: 'custom', path: ['template'], message: 'is an alias of `plan`; give one of them' });
    }
    const teams = new Set(t.teams.map((x) => x.slug));
    t.keys.forEach((k, i) => {
      if (k.team !== undefined && !teams.has(k.team)) {
        ctx.addIssue({ code: 'custom', path: ['keys', i, 'team'], message: `team "${k.team}" is not declared for this tenant` });
      }
    });
  });

/** A plan of the catalogue: created when missing, else its given fields are set. Never deleted by apply. */
const planSpec = z.strictObject({
  name: slug,
  description: description.optional(),
  weight: weight.optional(),
  budget_action: budgetAction.optional(),
  rules: planRules.optional(),
});

export const tenantsFileSchema = z.strictObject({
  plans: z.array(planSpec).max(1000).default([]).superRefine(unique((p) => p.name, 'plan')),
  tenants: z.array(tenantSpec).max(10_000).default([]).superRefine(unique((t) => t.slug, 'tenant')),
});

export type TenantsFile = z.output<typeof tenantsFileSchema>;
export type TenantSpec = TenantsFile['tenants'][number];
export type KeySpec = TenantSpec['keys'][number];
export type PlanSpec = TenantsFile['plans'][number];

export class TenantsFileError extends Error {
  override name = 'TenantsFileError';
}

export function parseTenantsFile(text: string, file: string): TenantsFile {
  let doc: unknown;
  try {
    doc = parse(text, { prettyErrors: true });
  } catch (err) {
    throw new TenantsFileError(`${file}: not valid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  const result = tenantsFileSchema.safeParse(doc ?? {});
  if (!result.success) {
    const lines = result.error.issues.slice(0, 20).map((i) => `  ${i.path.map(String).join('.') || '(top level)'}: ${i.message}`);
    throw new TenantsFileError(`${file} is invalid:\n${lines.join('\n')}`);
  }
  return result.data;
}
