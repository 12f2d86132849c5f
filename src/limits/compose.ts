/**
 * A tenant's effective limits from its plan (tier) and its own overrides (DESIGN §4: "limits
 * come from plans with per-tenant overrides"). Plans and overrides are kept apart in the
 * snapshot's records, so a plan change is applied to every tenant on it by re-reading the plans
 * alone (src/tenancy/refresh.ts), never every tenant.
 */
import { isDeepStrictEqual } from 'node:util';
import { parseStoredRules } from './rules-schema.js';
import { throttleRule, type AnomalyThrottle } from './throttle.js';
import type { BudgetAction, LimitRule, Metric, OwnedRule, TenantLimits } from './types.js';

/** A plan as the snapshot needs it. */
export interface PlanLimits {
  id: string;
  name: string;
  /** Fair-share weight, ≥ 1. */
  weight: number;
  budgetAction: BudgetAction;
  rules: readonly LimitRule[];
  /** False when the plan's features leave out fallbacks to other models (billing plan pricing). */
  fallbacks?: boolean;
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
  rules: readonly OwnedRule[];
  /** Rotation links of the tenant's keys: a key made by rotating another → that key. */
  rotatedFrom?: ReadonlyMap<string, string>;
  /** Open anomaly throttles (src/limits/throttle.ts); absent or empty for almost every tenant. */
  throttles?: readonly AnomalyThrottle[];
}

/** How a tenant rule that replaces a plan rule is enforced. */
export type Enforcement =
  /** As written: within the plan, or set by the platform (which may raise a tenant above it). */
  | 'as_written'
  /** A tenant's rule above a plan that was lowered since: held to the plan rule's limit and burst. */
  | 'clamped'
  /** A tenant's rule that no longer counts what the plan rule counts: the plan rule applies. */
  | 'plan_rule';

const effectiveBurst = (r: LimitRule): number => r.burst ?? r.limit;

/** What a rule counts: an override must count exactly what the plan rule counts. */
export function sameMeasure(a: LimitRule, b: LimitRule): boolean {
  const measure = (r: LimitRule) => [r.scope, r.subject, r.metric, r.window, r.models === null ? null : [...r.models].sort()];
  return isDeepStrictEqual(measure(a), measure(b));
}

/** Whether `rule` stays within `planRule` (same measure, limit and effective burst no higher). */
export function withinPlan(rule: LimitRule, planRule: LimitRule): boolean {
  return sameMeasure(rule, planRule) && rule.limit <= planRule.limit && effectiveBurst(rule) <= effectiveBurst(planRule);
}

/**
 * The rule enforced when `own` replaces `planRule` (DESIGN §13 "Plan ceiling"). A tenant writes
 * within its plan, but a plan lowered later would leave its rule above the new ceiling: it is
 * clamped to the plan's limit and burst (or, counting something else now, gives way to the plan
 * rule), so a tenant is never above its plan on its own say. The platform's rules are enforced
 * as written.
 */
export function enforcedOverride(planRule: LimitRule, own: OwnedRule): { rule: LimitRule; enforcement: Enforcement } {
  if (own.owner !== 'tenant' || withinPlan(own, planRule)) return { rule: own, enforcement: 'as_written' };
  if (!sameMeasure(own, planRule)) return { rule: planRule, enforcement: 'plan_rule' };
  const limit = Math.min(own.limit, planRule.limit);
  const burst = own.burst === null && planRule.burst === null ? null : Math.min(effectiveBurst(own), effectiveBurst(planRule));
  return { rule: { ...own, limit, burst }, enforcement: 'clamped' };
}

/** Key id → the first key of its rotation chain, for every key made by a rotation. */
export function keyLineage(rotatedFrom: ReadonlyMap<string, string>): ReadonlyMap<string, string> {
  const roots = new Map<string, string>();
  for (const id of rotatedFrom.keys()) {
    let root = id;
    // Bounded: a cycle (which rotation cannot make) must not hang the snapshot.
    for (let hops = 0; hops < 1_000; hops++) {
      const previous = rotatedFrom.get(root);
      if (previous === undefined || previous === id) break;
      root = previous;
    }
    if (root !== id) roots.set(id, root);
  }
  return roots;
}

/**
 * The plan's rules in the plan's order, each replaced by the tenant's rule of the same id (held to
 * the plan when the tenant wrote it, see enforcedOverride), then the tenant's other rules, then a
 * rule per open anomaly throttle. `plan` undefined (no plan, or one this snapshot does not know
 * yet) reads as no plan: weight 1, the tenant's rules only.
 */
export function composeLimits(plan: PlanLimits | undefined, source: TenantLimitSource): TenantLimits {
  const rules = overlay(plan?.rules ?? [], source.rules);
  const throttles = source.throttles ?? [];
  const limits: TenantLimits = {
    plan: plan?.name ?? null,
    weight: plan?.weight ?? 1,
    rules: throttles.length === 0 ? rules : [...rules, ...throttles.map(throttleRule)],
    timeZone: source.timeZone,
    budgetAction: source.budgetAction ?? plan?.budgetAction ?? 'reject',
  };
  if (plan?.fallbacks === false) limits.fallbacks = false;
  if (source.rotatedFrom !== undefined && source.rotatedFrom.size > 0) {
    const lineage = keyLineage(source.rotatedFrom);
    if (lineage.size > 0) limits.keyLineage = lineage;
  }
  return limits;
}

/** The rule alone: who set it matters to composition, not to admission. */
function plain(r: OwnedRule): LimitRule {
  if (r.owner === undefined) return r;
  const { owner: _owner, ...rule } = r;
  return rule;
}

/** `base` with `own` rules replacing those of the same id (as enforcedOverride says), the rest appended. */
function overlay(base: readonly LimitRule[], own: readonly OwnedRule[]): readonly LimitRule[] {
  // Most tenants have no rules of their own: share the plan's array (10,000 tenants, one copy).
  if (own.length === 0) return base;
  if (base.length === 0) return own.map(plain);
  const byId = new Map(own.map((r) => [r.id, r]));
  const rules: LimitRule[] = [];
  for (const r of base) {
    const o = byId.get(r.id);
    rules.push(o === undefined ? r : plain(enforcedOverride(r, o).rule));
    byId.delete(r.id);
  }
  for (const r of byId.values()) rules.push(plain(r));
  return rules;
}

/**
 * A stored plan as the snapshot holds it. Its rules are parsed again: one this version cannot
 * read (written by hand, or by a newer version with a new metric) is left out rather than
 * enforced half-understood.
 */
export function planLimitsOf(plan: { id: string; name: string; weight: number; budgetAction: BudgetAction; rules: unknown; fallbacks?: boolean }): PlanLimits {
  const limits: PlanLimits = { id: plan.id, name: plan.name, weight: plan.weight, budgetAction: plan.budgetAction, rules: parseStoredRules(plan.rules) };
  if (plan.fallbacks === false) limits.fallbacks = false;
  return limits;
}

/** The tightest rule of `metric` among `rules` (the lowest limit), if any: a storage quota is tenant-wide. */
export function tightestRule(rules: readonly LimitRule[], metric: Metric): LimitRule | undefined {
  let tightest: LimitRule | undefined;
  for (const r of rules) if (r.metric === metric && (tightest === undefined || r.limit < tightest.limit)) tightest = r;
  return tightest;
}
