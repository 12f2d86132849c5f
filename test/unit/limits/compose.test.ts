/** A tenant's effective limits: its plan's rules overlaid by its own. */
import { describe, expect, it } from 'vitest';
import { composeLimits, enforcedOverride, keyLineage, planLimitsOf, type PlanLimits, type TenantLimitSource } from '../../../src/limits/compose.js';
import type { LimitRule, OwnedRule } from '../../../src/limits/types.js';

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

describe('rule provenance', () => {
  const base = rule('b', 10, { burst: 20 });

  it("holds a tenant's override above a lowered plan to the plan's limit and burst", () => {
    const own: OwnedRule = { ...rule('b', 15, { burst: 30 }), owner: 'tenant' };
    expect(enforcedOverride(base, own)).toEqual({ rule: { ...own, limit: 10, burst: 20 }, enforcement: 'clamped' });
    // Only the burst above the plan: the limit stays the tenant's.
    const burstOnly: OwnedRule = { ...rule('b', 5, { burst: 50 }), owner: 'tenant' };
    expect(enforcedOverride(base, burstOnly).rule).toMatchObject({ limit: 5, burst: 20 });
    // Within the plan: as written.
    const within: OwnedRule = { ...rule('b', 5), owner: 'tenant' };
    expect(enforcedOverride(base, within)).toEqual({ rule: within, enforcement: 'as_written' });
  });

  it("lets the plan's rule apply when a tenant's override no longer counts the same thing", () => {
    const own: OwnedRule = { ...rule('b', 1, { window: 'hour' }), owner: 'tenant' };
    expect(enforcedOverride(base, own)).toEqual({ rule: base, enforcement: 'plan_rule' });
  });

  it("enforces the platform's rules (and rules without an owner) as written, above the plan too", () => {
    for (const own of [{ ...rule('b', 1000, { window: 'hour' }), owner: 'platform' as const }, rule('b', 1000)]) {
      expect(enforcedOverride(base, own)).toEqual({ rule: own, enforcement: 'as_written' });
    }
  });

  it('composes the clamped rule in place of the plan rule', () => {
    const own: OwnedRule = { ...rule('b', 50), owner: 'tenant' };
    expect(composeLimits(plan, source({ rules: [own] })).rules.map((r) => [r.id, r.limit])).toEqual([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
  });

  it('maps every rotated key to the first key of its chain', () => {
    const links = new Map([
      ['k2', 'k1'],
      ['k3', 'k2'],
      ['k9', 'k8'],
    ]);
    expect(keyLineage(links)).toEqual(
      new Map([
        ['k2', 'k1'],
        ['k3', 'k1'],
        ['k9', 'k8'],
      ]),
    );
    expect(composeLimits(plan, source({ rotatedFrom: links })).keyLineage?.get('k3')).toBe('k1');
    expect(composeLimits(plan, source()).keyLineage).toBeUndefined();
    // A cycle (rotation cannot make one) ends rather than hangs.
    expect(keyLineage(new Map([['x', 'y'], ['y', 'x']])).size).toBe(2);
  });
});

describe('planLimitsOf', () => {
  it('parses stored rules again, leaving out what this version cannot read', () => {
    const stored = { id: 'p', name: 'n', weight: 2, budgetAction: 'reject' as const, rules: [rule('ok', 1), { ...rule('new', 1), metric: 'watts' }] };
    expect(planLimitsOf(stored).rules).toEqual([rule('ok', 1)]);
  });
});
