import { describe, expect, it } from 'vitest';
import {
  applicableRules,
  computeUnits,
  costMicros,
  describeRule,
  formatDuration,
  formatMicros,
  needsTokens,
  outputThatFits,
  planCharges,
  settledAmounts,
  type Subjects,
} from '../../../src/limits/admission.js';
import type { LimitRule, TenantLimits } from '../../../src/limits/types.js';

const T = '0b8f4a52-0000-4000-8000-000000000001';

function rule(over: Partial<LimitRule> & Pick<LimitRule, 'id'>): LimitRule {
  return { scope: 'tenant', subject: null, metric: 'requests', window: 'minute', limit: 10, burst: null, models: null, ...over };
}

function limitsOf(rules: LimitRule[], timeZone = 'UTC'): TenantLimits {
  return { plan: null, weight: 1, rules, timeZone, budgetAction: 'reject' };
}

const subjects: Subjects = { tenantId: T, teamId: 'team-1', keyId: 'key-1', userId: undefined, model: 'gpt-4o-mini' };

describe('applicable rules', () => {
  it('counts a rotated key as the first key of its chain: rules written for any key of it, on one counter', () => {
    // key-1 was rotated into key-2, and key-2 into key-3; key-9 is another key.
    const lineage = new Map([
      ['key-2', 'key-1'],
      ['key-3', 'key-1'],
    ]);
    const limits: TenantLimits = {
      ...limitsOf([
        rule({ id: 'for-first', scope: 'key', subject: 'key-1' }),
        rule({ id: 'for-newest', scope: 'key', subject: 'key-3' }),
        rule({ id: 'for-other', scope: 'key', subject: 'key-9' }),
        rule({ id: 'each-key', scope: 'key' }),
      ]),
      keyLineage: lineage,
    };
    for (const keyId of ['key-1', 'key-2', 'key-3']) {
      expect(applicableRules(limits, { ...subjects, keyId }).map((r) => [r.rule.id, r.subject])).toEqual([
        ['for-first', 'key-1'],
        ['for-newest', 'key-1'],
        ['each-key', 'key-1'],
      ]);
    }
    expect(applicableRules(limits, { ...subjects, keyId: 'key-9' }).map((r) => [r.rule.id, r.subject])).toEqual([
      ['for-other', 'key-9'],
      ['each-key', 'key-9'],
    ]);
  });

  it('applies tenant, team and key rules; skips user rules without a user and rules for other subjects', () => {
    const limits = limitsOf([
      rule({ id: 'tenant-rpm' }),
      rule({ id: 'team-rpm', scope: 'team' }),
      rule({ id: 'this-key', scope: 'key', subject: 'key-1' }),
      rule({ id: 'other-key', scope: 'key', subject: 'key-2' }),
      rule({ id: 'per-user', scope: 'user' }),
    ]);
    expect(applicableRules(limits, subjects).map((r) => [r.rule.id, r.subject])).toEqual([
      ['tenant-rpm', '-'],
      ['team-rpm', 'team-1'],
      ['this-key', 'key-1'],
    ]);
    const withUser = applicableRules(limits, { ...subjects, teamId: null, userId: 'alice' });
    expect(withUser.map((r) => r.rule.id)).toEqual(['tenant-rpm', 'this-key', 'per-user']);
  });

  it('never charges a request against a storage quota (config_objects), even a quota of 0', () => {
    const limits = limitsOf([
      rule({ id: 'config-objects', metric: 'config_objects', window: null, limit: 0 }),
      rule({ id: 'tenant-rpm' }),
    ]);
    expect(applicableRules(limits, subjects).map((r) => r.rule.id)).toEqual(['tenant-rpm']);
    const onlyQuota = limitsOf([rule({ id: 'config-objects', metric: 'config_objects', window: null, limit: 0 })]);
    expect(applicableRules(onlyQuota, subjects)).toEqual([]);
    expect(planCharges(onlyQuota, applicableRules(onlyQuota, subjects), subjects, { inputTokens: 1, outputTokens: 1, costMicros: 1, computeUnits: 1 }, 0)).toEqual([]);
  });

  it('matches models exactly or by prefix (a model group)', () => {
    const limits = limitsOf([
      rule({ id: 'exact', models: ['gpt-4o'] }),
      rule({ id: 'group', models: ['gpt-4o*', 'o3'] }),
      rule({ id: 'other', models: ['claude-*'] }),
    ]);
    expect(applicableRules(limits, subjects).map((r) => r.rule.id)).toEqual(['group']);
    expect(applicableRules(limits, { ...subjects, model: 'gpt-4o' }).map((r) => r.rule.id)).toEqual(['exact', 'group']);
  });

  it('asks for token counts only when a rule counts tokens, spend or compute', () => {
    expect(needsTokens([{ rule: rule({ id: 'a' }) }, { rule: rule({ id: 'c', metric: 'concurrency', window: null }) }])).toBe(false);
    expect(needsTokens([{ rule: rule({ id: 'b', metric: 'cost', window: 'month' }) }])).toBe(true);
  });
});

describe('charges', () => {
  const estimate = { inputTokens: 100, outputTokens: 50, costMicros: 7, computeUnits: 300 };

  it('turns rules into namespaced counters with the right kind and amount', () => {
    const limits = limitsOf(
      [
        rule({ id: 'rpm', burst: 20 }),
        rule({ id: 'tpd', metric: 'tokens', window: 'day', limit: 1000 }),
        rule({ id: 'conc', metric: 'concurrency', window: null, limit: 4, scope: 'key' }),
        rule({ id: 'budget', metric: 'cost', window: 'month', limit: 5_000_000 }),
        rule({ id: 'cu', metric: 'compute_units', window: 'hour', limit: 10_000 }),
      ],
      'Asia/Kathmandu',
    );
    // 2026-11-23T20:00Z is already 2026-11-24 01:45 in Kathmandu (+05:45).
    const now = Date.UTC(2026, 10, 23, 20, 0, 0);
    const planned = planCharges(limits, applicableRules(limits, subjects), subjects, estimate, now);
    const charges = planned.map((p) => p.charge);
    expect(charges[0]).toEqual({ kind: 'bucket', key: `gh:{${T}}:rpm:b:-`, limit: 10, burst: 20, periodMs: 60_000, amount: 1 });
    expect(charges[1]).toMatchObject({ kind: 'window', key: `gh:{${T}}:tpd:2026-11-24:-`, limit: 1000, amount: 150 });
    expect(charges[1]?.kind === 'window' && charges[1].resetAt).toBe(Date.UTC(2026, 10, 24, 18, 15, 0));
    expect(charges[2]).toEqual({ kind: 'concurrency', key: `gh:{${T}}:conc:c:key-1`, limit: 4, amount: 1 });
    expect(charges[3]).toMatchObject({ kind: 'window', key: `gh:{${T}}:budget:2026-11:-`, amount: 7 });
    expect(charges[4]).toMatchObject({ kind: 'bucket', periodMs: 3_600_000, amount: 300, burst: 10_000 });

    const used = settledAmounts(planned, { requests: 1, inputTokens: 90, outputTokens: 10, costMicros: 3, computeUnits: 100 });
    expect(used).toEqual([1, 100, 1, 3, 100]);
  });

  it('prices tokens in micro-units, rounding up, with cached input at its own price', () => {
    const prices = { inputPerMTok: 150_000, outputPerMTok: 600_000, cachedInputPerMTok: 75_000, perRequest: 0 };
    expect(costMicros(prices, 1_000_000, 0, 0)).toBe(150_000);
    expect(costMicros(prices, 1000, 500, 100)).toBe(Math.ceil((500 * 150_000 + 500 * 75_000 + 100 * 600_000) / 1e6));
    expect(costMicros(prices, 1, 0, 0)).toBe(1); // 0.15 µ-units round up to 1
    expect(costMicros({ ...prices, perRequest: 40 }, 0, 0, 0)).toBe(40);
    expect(computeUnits(2.5, 10, 3)).toBe(33);
  });

  it('computes how many output tokens still fit a budget or token quota', () => {
    const prices = { inputPerMTok: 1_000_000, outputPerMTok: 2_000_000, cachedInputPerMTok: 0, perRequest: 0 };
    // input costs 100 µ-units; 300 left → 200 µ-units of output at 2 per token = 100 tokens.
    expect(outputThatFits('cost', 300, estimate, prices, 1)).toBe(100);
    expect(outputThatFits('cost', 50, estimate, prices, 1)).toBe(0);
    expect(outputThatFits('tokens', 130, estimate, prices, 1)).toBe(30);
    expect(outputThatFits('output_tokens', 7, estimate, prices, 1)).toBe(7);
    expect(outputThatFits('compute_units', 400, estimate, prices, 2)).toBe(100);
    expect(outputThatFits('requests', 400, estimate, prices, 1)).toBe(0);
  });
});

describe('formatting', () => {
  it('formats resets the way OpenAI does', () => {
    expect(formatDuration(20)).toBe('20ms');
    expect(formatDuration(1500)).toBe('1.5s');
    expect(formatDuration(360_000)).toBe('6m0s');
    expect(formatDuration(3_723_000)).toBe('1h2m3s');
    expect(formatDuration(-5)).toBe('0ms');
  });

  it('formats money without floating point', () => {
    expect(formatMicros(12_345_678)).toBe('12.345678');
    expect(formatMicros(5)).toBe('0.000005');
    expect(formatMicros(0)).toBe('0.000000');
  });

  it('names a limit by what it counts, its window, models and scope', () => {
    expect(describeRule(rule({ id: 'rpm', scope: 'key' }))).toBe("requests per minute for this API key (rule 'rpm')");
    expect(describeRule(rule({ id: 'b', metric: 'cost', window: 'month', models: ['gpt-4o'] }))).toBe(
      "spend per month on gpt-4o for this tenant (rule 'b')",
    );
    expect(describeRule(rule({ id: 'c', metric: 'concurrency', window: null }))).toBe("concurrent requests for this tenant (rule 'c')");
  });
});
