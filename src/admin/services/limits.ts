/**
 * A tenant's limits: its own rules and the effective view over its plan, shared by the admin API
 * and `gatehouse apply`. Each call runs in the caller's tenant transaction.
 *
 * The plan ceiling (DESIGN §13). Whoever may not set plans (tenant roles) writes rules only
 * within what the plan allows:
 * - a rule with the id of a plan rule overrides it: it must count the same thing (scope,
 *   subject, metric, window, models) with a limit and a burst no higher than the plan's;
 * - a rule with any other id is always allowed: every applicable rule is checked and the
 *   tightest decides, so an extra rule can only restrict further;
 * - a plan rule cannot be removed: deleting an override brings the plan's rule back.
 * platform_admin sets any value: that is how a platform raises one tenant above its plan.
 *
 * Provenance (migration 0020): each rule records who set it. A rule the platform set (a platform
 * admin, `gatehouse apply`) cannot be changed or deleted by a tenant role; a tenant's override
 * of a plan rule is held to the plan's ceiling even when the plan is lowered after it was
 * written (src/limits/compose.ts enforcedOverride), while the platform's is enforced as written.
 */
import { GatewayError } from '../../errors.js';
import { enforcedOverride, sameMeasure, type Enforcement } from '../../limits/compose.js';
import { limitRuleSchema, MAX_RULES } from '../../limits/rules-schema.js';
import { STORAGE_METRICS, type BudgetAction, type LimitRule, type RuleOwner } from '../../limits/types.js';
import { apiKeysManageRepo, limitRulesRepo, plansRepo, teamsManageRepo, tenantsManageRepo, type PlanRecord, type StoredLimitRule, type TenantTx } from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import { checkIfMatch, type IfMatch } from '../http/etag.js';
import { allows } from '../permissions.js';
import { conflict, invalid, notFound } from '../problems.js';
import { validationError } from '../route.js';
import { ownedRule, plainRule, type RulePatch } from '../schemas/limits.js';
import { assertRoomFor } from './storage-quota.js';

/** Who may set plans may set any limit; everyone else stays under the plan's ceiling. */
export function boundByPlan(actor: Actor): boolean {
  return !allows(actor.principal.role, 'plans.write');
}

/** The owner of the rules `actor` writes. */
export function ownerOf(actor: Actor): RuleOwner {
  return boundByPlan(actor) ? 'tenant' : 'platform';
}

const effectiveBurst = (r: LimitRule): number => r.burst ?? r.limit;

/** Why `rule` is beyond what `plan` allows, or null when it is within it. */
export function ceilingProblem(rule: LimitRule, plan: PlanRecord | null): string | null {
  const base = plan?.rules.find((r) => r.id === rule.id);
  if (plan === null || base === undefined) return null;
  const name = `the "${plan.name}" plan's rule "${base.id}"`;
  if (!sameMeasure(rule, base)) {
    return (
      `Rule "${rule.id}" would replace ${name}, so it must count the same thing (scope, subject, metric, window and models); ` +
      'only its limit and burst may be lowered. Use another id to add a separate rule.'
    );
  }
  if (rule.limit > base.limit) return `Rule "${rule.id}": limit ${rule.limit} is above ${name} ceiling of ${base.limit}.`;
  if (effectiveBurst(rule) > effectiveBurst(base)) {
    const given = rule.burst === null ? `burst (the limit, ${rule.limit})` : `burst ${rule.burst}`;
    return `Rule "${rule.id}": ${given} is above ${name} ceiling of ${effectiveBurst(base)} for the burst.`;
  }
  return null;
}

/** A team or key rule must name a team or key of this tenant (another tenant's reads as missing). */
async function checkSubject(tx: TenantTx, rule: LimitRule): Promise<void> {
  if (rule.subject === null) return;
  if (rule.scope === 'team' && (await teamsManageRepo.get(tx, rule.subject)) === null) {
    throw invalid(`subject: no team with the id "${rule.subject}" in this tenant.`, 'subject');
  }
  if (rule.scope === 'key' && (await apiKeysManageRepo.get(tx, rule.subject)) === null) {
    throw invalid(`subject: no API key with the id "${rule.subject}" in this tenant.`, 'subject');
  }
}

export async function tenantPlan(tx: TenantTx): Promise<PlanRecord | null> {
  const t = await tenantsManageRepo.get(tx);
  if (t === null) throw notFound('tenant');
  return t.planId === null ? null : plansRepo.get(tx, t.planId);
}

async function checkRule(tx: TenantTx, actor: Actor, rule: LimitRule): Promise<void> {
  await checkSubject(tx, rule);
  if (!boundByPlan(actor)) return;
  const problem = ceilingProblem(rule, await tenantPlan(tx));
  if (problem !== null) throw new GatewayError('forbidden', `${problem} Only a platform admin can set a tenant above its plan.`);
}

/**
 * Serialises rule writes of one tenant: the tenant row is locked first, so two creations of one
 * id cannot both pass the existence check, and a rule is checked against the plan as it stands.
 */
async function lockTenant(tx: TenantTx): Promise<void> {
  if ((await tenantsManageRepo.get(tx, { forUpdate: true })) === null) throw notFound('tenant');
}

export async function createRule(tx: TenantTx, actor: Actor, rule: LimitRule): Promise<StoredLimitRule> {
  await lockTenant(tx);
  if ((await limitRulesRepo.get(tx, rule.id)) !== null) {
    throw conflict(`The tenant already has a rule "${rule.id}"; change it with PATCH (If-Match) instead.`, 'id');
  }
  // Bounded like a plan's rules: every rule is checked on every request the tenant makes.
  if ((await limitRulesRepo.list(tx)).length >= MAX_RULES) {
    throw conflict(`The tenant already has ${MAX_RULES} limit rules, the most it may have; delete one first.`);
  }
  await checkRule(tx, actor, rule);
  // A rule that sets the quota is never refused for room: a full tenant must still be able to get
  // its quota raised (or lowered); every other rule is an object like any other.
  if (!STORAGE_METRICS.has(rule.metric)) await assertRoomFor(tx);
  const r = await limitRulesRepo.upsert(tx, rule, { owner: ownerOf(actor) });
  if (!r.ok) throw new Error(`creating limit rule ${rule.id}: ${r.reason}`);
  await audit(tx, actor, 'limit_rule.create', { kind: 'limit_rule', id: rule.id }, { after: ownedRule(r.rule) });
  return r.rule;
}

function merged(before: LimitRule, patch: RulePatch): LimitRule {
  const next = limitRuleSchema.safeParse({ ...plainRule(before), ...patch });
  if (!next.success) throw validationError(next.error, 'body');
  return next.data;
}

/** A tenant role may not change or remove what the platform set (a raise above the plan, say). */
function checkOwner(actor: Actor, rule: StoredLimitRule, doing: 'change' | 'delete'): void {
  if (rule.owner === 'platform' && boundByPlan(actor)) {
    throw new GatewayError('forbidden', `Rule "${rule.id}" was set by the platform; only a platform admin can ${doing} it.`);
  }
}

export async function updateRule(tx: TenantTx, actor: Actor, id: string, patch: RulePatch, ifMatch: IfMatch | null): Promise<StoredLimitRule> {
  await lockTenant(tx);
  const before = await limitRulesRepo.get(tx, id, { forUpdate: true });
  if (before === null) throw notFound('limit rule');
  checkIfMatch(ifMatch, before.version, { required: true });
  checkOwner(actor, before, 'change');
  const rule = merged(before, patch);
  await checkRule(tx, actor, rule);
  const r = await limitRulesRepo.upsert(tx, rule, { version: before.version, owner: ownerOf(actor) });
  if (!r.ok) throw r.reason === 'not_found' ? notFound('limit rule') : conflict('A concurrent change got in the way; retry.');
  await audit(tx, actor, 'limit_rule.update', { kind: 'limit_rule', id }, { before: ownedRule(before), after: ownedRule(r.rule) });
  return r.rule;
}

/** Removes a tenant rule; when it overrode a plan rule, the plan's rule applies again. */
export async function deleteRule(tx: TenantTx, actor: Actor, id: string, ifMatch: IfMatch | null): Promise<void> {
  await lockTenant(tx);
  const before = await limitRulesRepo.get(tx, id, { forUpdate: true });
  if (before === null) throw notFound('limit rule');
  checkIfMatch(ifMatch, before.version, { required: true });
  checkOwner(actor, before, 'delete');
  const r = await limitRulesRepo.remove(tx, id, { version: before.version });
  if (!r.ok) throw notFound('limit rule');
  await audit(tx, actor, 'limit_rule.delete', { kind: 'limit_rule', id }, { before: ownedRule(before) });
}

export interface EffectiveRule extends LimitRule {
  source: 'plan' | 'tenant';
  overridden?: boolean;
  /** Tenant rules: who set it. */
  owner?: RuleOwner;
  above_plan?: boolean;
  /** Tenant rules that replace a plan rule: how they are enforced. */
  enforced?: Enforcement;
  /** When clamped: the limit and burst enforced. */
  enforced_limit?: number;
  enforced_burst?: number | null;
}

export interface EffectiveLimits {
  plan: { id: string; name: string; weight: number } | null;
  timeZone: string;
  budgetAction: BudgetAction;
  rules: EffectiveRule[];
}

/**
 * The tenant's limits as enforced (src/limits/compose.ts composes the same way): plan rules in
 * the plan's order, each followed by the tenant rule replacing it, then the tenant's other rules.
 */
export async function effectiveLimits(tx: TenantTx): Promise<EffectiveLimits> {
  const t = await tenantsManageRepo.get(tx);
  if (t === null) throw notFound('tenant');
  const plan = t.planId === null ? null : await plansRepo.get(tx, t.planId);
  const own = new Map((await limitRulesRepo.list(tx)).map((r) => [r.id, r]));
  const rules: EffectiveRule[] = [];
  for (const base of plan?.rules ?? []) {
    const override = own.get(base.id);
    if (override === undefined) {
      rules.push({ ...plainRule(base), source: 'plan', overridden: false });
      continue;
    }
    own.delete(base.id);
    const { rule, enforcement } = enforcedOverride(base, override);
    rules.push({ ...plainRule(base), source: 'plan', overridden: enforcement !== 'plan_rule' });
    const entry: EffectiveRule = {
      ...plainRule(override),
      source: 'tenant',
      owner: override.owner,
      above_plan: ceilingProblem(override, plan) !== null,
      enforced: enforcement,
    };
    if (enforcement === 'clamped') {
      entry.enforced_limit = rule.limit;
      entry.enforced_burst = rule.burst;
    }
    rules.push(entry);
  }
  for (const r of own.values()) rules.push({ ...plainRule(r), source: 'tenant', owner: r.owner, above_plan: false, enforced: 'as_written' });
  return {
    plan: plan === null ? null : { id: plan.id, name: plan.name, weight: plan.weight },
    timeZone: t.timeZone,
    budgetAction: t.budgetAction ?? plan?.budgetAction ?? 'reject',
    rules,
  };
}
