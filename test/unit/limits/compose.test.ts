/** A tenant's effective limits: its plan's rules overlaid by its own. */
import { describe, expect, it } from 'vitest';
import { composeLimits, planLimitsOf, type PlanLimits, type TenantLimitSource } from '../../../src/limits/compose.js';
import type { LimitRule } from '../../../src/limits/types.js';

const rule = (id: string, limit: number, over: Partial<LimitRule> = {}): LimitRule => ({
  id, scope: 'tenant', subject: null, metric: 'requests', window: 'minute', limit, burst: null, models: null, ...over,
});

const plan: PlanLimits = { id: 'p1', name: 'pro', weight: 8, budgetAction: 'clamp', rules: [rule('a', 1), rule('b', 2), rule('c', 3)] };
const source = (over: Partial<TenantLimitSource> = {}): TenantLimitSource => ({
  tenantId: 't1', planId: 'p1', budgetAction: null, timeZone: 'Europe/Berlin', rules: [], ...over,
});

describe('composeLimits', () => {
  it('the plan alone: its name, weight, rules and budget action, the tenant time zone', () => {
    expect(composeLimits(plan, source())).toEqual({ plan: 'pro', weight: 8, rules: plan.rules, timeZone: 'Europe/Berlin', budgetAction: 'clamp' });
  });

  it("the tenant's rule replaces the plan's of the same id in place; others are added after the plan's", () => {
    const own = [rule('b', 20, { burst: 40 }), rule('z', 9, { scope: 'key' })];
    expect(composeLimits(plan, source({ rules: own })).rules).toEqual([rule('a', 1), rule('b', 20, { burst: 40 }), rule('c', 3), rule('z', 9, { scope: 'key' })]);
  });

  it("the tenant's budget action wins over the plan's; without either it is reject", () => {
    expect(composeLimits(plan, source({ budgetAction: 'reject' })).budgetAction).toBe('reject');
    expect(composeLimits(undefined, source({ planId: null })).budgetAction).toBe('reject');
    expect(composeLimits(undefined, source({ planId: null, budgetAction: 'clamp' })).budgetAction).toBe('clamp');
  });

  it('no plan: weight 1, no plan name, only the tenant rules (possibly none)', () => {
    expect(composeLimits(undefined, source({ planId: null }))).toEqual({ plan: null, weight: 1, rules: [], timeZone: 'Europe/Berlin', budgetAction: 'reject' });
    expect(composeLimits(undefined, source({ planId: null, rules: [rule('x', 5)] })).rules).toEqual([rule('x', 5)]);
  });
});

describe('planLimitsOf', () => {
  it('parses stored rules again, leaving out what this version cannot read', () => {
    const stored = { id: 'p', name: 'n', weight: 2, budgetAction: 'reject' as const, rules: [rule('ok', 1), { ...rule('new', 1), metric: 'watts' }] };
    expect(planLimitsOf(stored).rules).toEqual([rule('ok', 1)]);
  });
});
