/**
 * A tenant's effective limits from its plan (tier) and its own overrides (DESIGN §4: "limits
 * come from plans with per-tenant overrides"). Plans and overrides are kept apart in the
 * snapshot's records, so a plan change is applied to every tenant on it by re-reading the plans
 * alone (src/tenancy/refresh.ts), never every tenant.
 */
import { parseStoredRules } from './rules-schema.js';
import { throttleRule, type AnomalyThrottle } from './throttle.js';
import type { BudgetAction, LimitRule, TenantLimits } from './types.js';

/** A plan as the snapshot needs it. */
export interface PlanLimits {
  id: string;
  name: string;
  /** Fair-share weight, ≥ 1. */
  weight: number;
  budgetAction: BudgetAction;
  rules: readonly LimitRule[];
}

/** What one tenant contributes: which plan, and its own settings and rules. */
export interface TenantLimitSource {
  tenantId: string;
  /** null: no plan. */
  planId: string | null;
  /** null: the plan's action (or 'reject' without a plan). */
  budgetAction: BudgetAction | null;
  timeZone: string;
  /** The tenant's overrides, ordered by id. */
  rules: readonly LimitRule[];
  /** Open anomaly throttles (src/limits/throttle.ts); absent or empty for almost every tenant. */
  throttles?: readonly AnomalyThrottle[];
}

/**
 * The plan's rules in the plan's order, each replaced by the tenant's rule of the same id, then
 * the tenant's other rules, then a rule per open anomaly throttle. `plan` undefined (no plan, or
 * one this snapshot does not know yet) reads as no plan: weight 1, the tenant's rules only.
 */
export function composeLimits(plan: PlanLimits | undefined, source: TenantLimitSource): TenantLimits {
  const rules = overlay(plan?.rules ?? [], source.rules);
  const throttles = source.throttles ?? [];
  return {
    plan: plan?.name ?? null,
    weight: plan?.weight ?? 1,
    rules: throttles.length === 0 ? rules : [...rules, ...throttles.map(throttleRule)],
    timeZone: source.timeZone,
    budgetAction: source.budgetAction ?? plan?.budgetAction ?? 'reject',
  };
}

/** `base` with `own` rules replacing those of the same id, the rest appended. */
function overlay(base: readonly LimitRule[], own: readonly LimitRule[]): readonly LimitRule[] {
  // Most tenants have no rules of their own: share the plan's array (10,000 tenants, one copy).
  if (own.length === 0) return base;
  if (base.length === 0) return own;
  const byId = new Map(own.map((r) => [r.id, r]));
  const rules: LimitRule[] = [];
  for (const r of base) {
    rules.push(byId.get(r.id) ?? r);
    byId.delete(r.id);
  }
  rules.push(...byId.values());
  return rules;
}

/**
 * A stored plan as the snapshot holds it. Its rules are parsed again: one this version cannot
 * read (written by hand, or by a newer version with a new metric) is left out rather than
 * enforced half-understood.
 */
export function planLimitsOf(plan: { id: string; name: string; weight: number; budgetAction: BudgetAction; rules: unknown }): PlanLimits {
  return { id: plan.id, name: plan.name, weight: plan.weight, budgetAction: plan.budgetAction, rules: parseStoredRules(plan.rules) };
}
