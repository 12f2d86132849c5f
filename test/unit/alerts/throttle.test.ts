/**
 * Anomaly throttles without a database: the rate a throttle admits, the spend demand a spend
 * throttle hides, the rule the snapshot composes into a tenant's limits, and what admission
 * answers once that rule's bucket is empty (429 anomaly_throttled with Retry-After, in the
 * OpenAI envelope's code; never clamped, never confused with a tenant's own rule).
 */
import { describe, expect, it } from 'vitest';
import { spendDemand, throttleFor } from '../../../src/billing/alerts/anomalies.js';
import { GatewayError } from '../../../src/errors.js';
import { composeLimits } from '../../../src/limits/compose.js';
import { ruleId } from '../../../src/limits/rules-schema.js';
import { createLimitService } from '../../../src/limits/service.js';
import { isThrottleRule, throttleRule } from '../../../src/limits/throttle.js';
import type { LimitRule, TenantLimits } from '../../../src/limits/types.js';
import { createLogger } from '../../../src/observability/logger.js';
import { admit } from '../../../src/pipeline/admit.js';
import { makeContext, makeDeployment, makePrincipal, makeTenant } from '../pipeline/fixtures.js';

const ALERT = '00000000-0000-4000-8000-00000000a1e7';

describe('the rate a throttle admits', () => {
  it('requests: the fraction of the expected hour, per minute, at least one', () => {
    expect(throttleFor('requests', { expected: 600 }, 100, 1)).toEqual({ metric: 'requests', window: 'minute', limit: 10 });
    expect(throttleFor('requests', { expected: 600 }, 100, 0.5).limit).toBe(5);
    expect(throttleFor('requests', { expected: 600 }, 100, 0.01).limit).toBe(1);
    expect(throttleFor('requests', { expected: 600 }, 100, 0).limit).toBe(0);
  });

  it('never from less than the floor: a tenant with no usual traffic is slowed, not shut out', () => {
    expect(throttleFor('requests', { expected: 0 }, 120, 1).limit).toBe(2);
    expect(throttleFor('requests', { expected: -40 }, 0, 1).limit).toBe(1);
  });

  it('spend: per hour (one request may cost a minute’s worth), in micro-units', () => {
    expect(throttleFor('cost', { expected: 2_500_000.4 }, 1_000_000, 1)).toEqual({ metric: 'cost', window: 'hour', limit: 2_500_001 });
    expect(throttleFor('cost', { expected: 10 }, 1_000_000, 0.25).limit).toBe(250_000);
  });

  it("a spend throttle's refused requests are priced at the hour's average admitted request", () => {
    expect(spendDemand({ requests: 10, refused: 0, costMicros: 500 })).toBe(500);
    expect(spendDemand({ requests: 40, refused: 30, costMicros: 1000 })).toBe(4000);
    expect(spendDemand({ requests: 5, refused: 5, costMicros: 0 })).toBe(0); // nothing admitted: no price to apply
  });
});

describe('the throttle rule in the snapshot', () => {
  const own: LimitRule = { id: 'rpm', scope: 'tenant', subject: null, metric: 'requests', window: 'minute', limit: 100, burst: null, models: null };

  it('is appended to the composed limits while open, and absent otherwise', () => {
    const base = { tenantId: 't', planId: null, budgetAction: null, timeZone: 'UTC', rules: [own] };
    expect(composeLimits(undefined, base).rules).toEqual([own]);
    const t = { metric: 'requests' as const, window: 'minute' as const, limit: 3, alertId: ALERT };
    const rules = composeLimits(undefined, { ...base, throttles: [t] }).rules;
    expect(rules).toEqual([own, throttleRule(t)]);
    expect(rules.map(isThrottleRule)).toEqual([false, true]);
  });

  it('has an id no tenant or plan rule can take', () => {
    const id = throttleRule({ metric: 'cost', window: 'hour', limit: 1, alertId: ALERT }).id;
    expect(ruleId.safeParse(id).success).toBe(false);
    expect(ruleId.safeParse('anomaly-cost').success).toBe(true);
    expect(isThrottleRule({ id: 'anomaly-cost' })).toBe(false);
    expect(id).not.toContain(':'); // counter keys use ':' between rule, window and subject
  });
});

describe('admission under a throttle', () => {
  function stageFor(rules: readonly LimitRule[], budgetAction: TenantLimits['budgetAction'] = 'reject') {
    const limits: TenantLimits = { plan: null, weight: 1, rules, timeZone: 'UTC', budgetAction };
    const tenant = makeTenant('acme', { limits });
    const stage = admit({
      limits: createLimitService({ logger: createLogger('silent') }),
      leaseMs: 60_000,
      defaultMaxOutputTokens: 100,
      weightOf: () => 1,
      failModeOf: () => 'closed',
    });
    return async () => {
      const ctx = makeContext({ endpoint: { op: 'completions' }, fields: { tenant, principal: makePrincipal(tenant), model: 'gpt-4o-mini', body: { model: 'gpt-4o-mini', prompt: 'hi' } } });
      ctx.deployment = makeDeployment('gpt-4o-mini');
      ctx.operation = 'completions';
      await stage(ctx);
      return ctx;
    };
  }

  it('admits up to the bucket, then refuses with anomaly_throttled and Retry-After', async () => {
    const call = stageFor([throttleRule({ metric: 'requests', window: 'minute', limit: 2, alertId: ALERT })]);
    await call();
    await call();
    const err = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatewayError);
    const g = err as GatewayError;
    expect({ code: g.code, status: g.status, type: g.type }).toEqual({ code: 'anomaly_throttled', status: 429, type: 'rate_limit_error' });
    expect(Number(g.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(g.message).not.toContain(ALERT);
  });

  it('a spend throttle is refused, not clamped, under budget_action clamp', async () => {
    const call = stageFor([throttleRule({ metric: 'cost', window: 'hour', limit: 0, alertId: ALERT })], 'clamp');
    // A bucket of zero refuses every request, whatever it costs.
    await expect(call()).rejects.toMatchObject({ code: 'anomaly_throttled' });
  });

  it("a tenant's own rule is still refused as before", async () => {
    const call = stageFor([{ id: 'rpm', scope: 'tenant', subject: null, metric: 'requests', window: 'minute', limit: 0, burst: null, models: null }]);
    await expect(call()).rejects.toMatchObject({ code: 'rate_limit_exceeded' });
  });
});
