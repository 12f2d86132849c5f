/**
 * Compatibility layer for the admin API's original tenant fields `template` and `limits` (four
 * numbers), now that plans and limit rules live in their own tables (migration 0008) and
 * tenants.settings no longer holds them. A template name is a plan name; each legacy limit is the
 * tenant-scoped rule of a fixed id:
 *
 *   requests_per_minute  → 'requests-per-minute' (requests / minute)
 *   tokens_per_day       → 'tokens-per-day'      (tokens / day)
 *   max_concurrency      → 'concurrency'         (concurrency)
 *   monthly_budget_cents → 'budget-monthly'      (cost / month, cents × 10,000 = micro-units)
 *
 * Reading shows the effective value (the tenant's override, else the plan's; null: no such rule).
 * Writing a value equal to the plan's removes the override, any other value sets one; null
 * removes the override, and is refused where the plan itself sets the limit (an override can
 * change a plan's limit, not remove it). The admin API's plan and limit-rule routes supersede all
 * of this; it stays only while clients use the old fields.
 */
import { z } from 'zod';
import { composeLimits } from '../limits/compose.js';
import type { LimitRule, LimitWindow, Metric } from '../limits/types.js';
import { SEEDED_PLANS } from '../limits/seeded-plans.js';
import { limitRulesRepo, plansRepo, tenantsManageRepo, tenantsRepo, type PlanRecord, type TenantTx } from '../store/index.js';
import { invalid } from './problems.js';

export const limitsSchema = z
  .strictObject({
    requests_per_minute: z.number().int().min(1).max(10_000_000).nullable().optional(),
    tokens_per_day: z.number().int().min(1).max(1_000_000_000_000).nullable().optional(),
    max_concurrency: z.number().int().min(1).max(100_000).nullable().optional(),
    monthly_budget_cents: z.number().int().min(0).max(100_000_000_000).nullable().optional(),
  })
  .describe('Limits; null or absent means unlimited. Money in integer cents.');

export type Limits = z.output<typeof limitsSchema>;
type LimitKey = keyof Limits;

/** The plans a tenant may be created from by name (seeded by migration 0008). */
export type TemplateName = (typeof SEEDED_PLANS)[number];
export const TEMPLATE_NAMES = [...SEEDED_PLANS] as [TemplateName, ...TemplateName[]];

export interface TenantPlan {
  /** The plan's name; null: no plan. */
  template: string | null;
  limits: Limits;
}

interface LegacyField {
  key: LimitKey;
  id: string;
  metric: Metric;
  window: LimitWindow | null;
  /** Stored units per legacy unit. */
  factor: number;
}

const FIELDS: readonly LegacyField[] = [
  { key: 'requests_per_minute', id: 'requests-per-minute', metric: 'requests', window: 'minute', factor: 1 },
  { key: 'tokens_per_day', id: 'tokens-per-day', metric: 'tokens', window: 'day', factor: 1 },
  { key: 'max_concurrency', id: 'concurrency', metric: 'concurrency', window: null, factor: 1 },
  { key: 'monthly_budget_cents', id: 'budget-monthly', metric: 'cost', window: 'month', factor: 10_000 },
];

/** A rule the legacy field can show: the fixed id, tenant-wide, every model, the right metric. */
function legacyValue(f: LegacyField, rules: readonly LimitRule[]): number | null {
  const r = rules.find((x) => x.id === f.id);
  if (r === undefined || r.scope !== 'tenant' || r.models !== null || r.metric !== f.metric || r.window !== f.window) return null;
  return Math.floor(r.limit / f.factor);
}

function legacyRule(f: LegacyField, value: number): LimitRule {
  return { id: f.id, scope: 'tenant', subject: null, metric: f.metric, window: f.window, limit: value * f.factor, burst: null, models: null };
}

/** The legacy view of effective rules. */
export function legacyLimits(rules: readonly LimitRule[]): Limits {
  const out: Limits = {};
  for (const f of FIELDS) out[f.key] = legacyValue(f, rules);
  return out;
}

async function planOfTenant(tx: TenantTx, planId: string | null): Promise<PlanRecord | null> {
  return planId === null ? null : plansRepo.get(tx, planId);
}

/** The tenant's plan name and effective legacy limits, read inside its transaction. */
export async function readPlan(tx: TenantTx, t: { planId: string | null; timeZone: string }): Promise<TenantPlan> {
  const plan = await planOfTenant(tx, t.planId);
  const own = await limitRulesRepo.list(tx);
  const effective = composeLimits(plan ?? undefined, { tenantId: tx.tenantId, planId: t.planId, budgetAction: null, timeZone: t.timeZone, rules: own });
  return { template: plan?.name ?? null, limits: legacyLimits(effective.rules) };
}

/**
 * Applies the old fields to the transaction's tenant: `template` moves it to that plan and drops
 * its overrides of the legacy ids (the plan's limits apply again, as re-applying a template did);
 * then each given limit is written as described in the header. Moves the tenant's version when
 * overrides changed (not for a tenant being created: it starts at version 1), so its ETag covers
 * its limits.
 */
export async function writePlan(
  tx: TenantTx,
  change: { template?: string | undefined; limits?: Limits | undefined },
  opts: { creating?: boolean } = {},
): Promise<void> {
  const tenant = await tenantsManageRepo.get(tx);
  if (tenant === null) throw new Error('writePlan: the tenant does not exist');
  let plan = await planOfTenant(tx, tenant.planId);
  let overridesChanged = false;
  if (change.template !== undefined) {
    const named = await plansRepo.getByName(tx, change.template);
    if (named === null) throw unknownPlan(change.template);
    plan = named;
    if (tenant.planId !== named.id) await tenantsRepo.update(tx, { planId: named.id });
    for (const f of FIELDS) if ((await limitRulesRepo.remove(tx, f.id)).ok) overridesChanged = true;
  }
  for (const f of FIELDS) {
    const value = change.limits?.[f.key];
    if (value === undefined) continue;
    const fromPlan = legacyValue(f, plan?.rules ?? []);
    if (value === null && plan?.rules.some((r) => r.id === f.id)) {
      throw invalid(`The plan "${plan.name}" sets this limit; a tenant override can change it but not remove it.`, `limits.${f.key}`);
    }
    if (value === null || value === fromPlan) {
      if ((await limitRulesRepo.remove(tx, f.id)).ok) overridesChanged = true;
    } else {
      const before = await limitRulesRepo.get(tx, f.id);
      const after = await limitRulesRepo.upsert(tx, legacyRule(f, value));
      if (after.ok && (before === null || before.version !== after.rule.version)) overridesChanged = true;
    }
  }
  if (overridesChanged && opts.creating !== true) await tenantsManageRepo.bumpVersion(tx);
}

export function unknownPlan(name: string): Error {
  return invalid(`There is no plan named "${name}".`, 'template');
}

/** The plan's id by name, for a tenant created on it; 400 if there is none. */
export async function planIdByName(tx: TenantTx, name: string): Promise<string> {
  const plan = await plansRepo.getByName(tx, name);
  if (plan === null) throw unknownPlan(name);
  return plan.id;
}
