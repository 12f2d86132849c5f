/**
 * x-gatehouse-budget-exhausts-at: admission adds the earliest forecast exhaustion of the
 * request's day/month rules, from the forecast cache (no database), and nothing when no
 * calendar budget applies or none is forecast.
 */
import { describe, expect, it } from 'vitest';
import { createForecastCache } from '../../../src/billing/alerts/forecast.js';
import { createLimitService } from '../../../src/limits/service.js';
import type { LimitRule, TenantLimits } from '../../../src/limits/types.js';
import { createLogger } from '../../../src/observability/logger.js';
import { admit } from '../../../src/pipeline/admit.js';
import { makeContext, makeDeployment, makePrincipal, makeTenant } from '../pipeline/fixtures.js';

const rule = (over: Partial<LimitRule> & Pick<LimitRule, 'id'>): LimitRule => ({ scope: 'tenant', subject: null, metric: 'requests', window: 'day', limit: 1000, burst: null, models: null, ...over });
const forecast = (ruleId: string, exhaustsAt: number) => ({ ruleId, subject: null, metric: 'requests', window: 'day' as const, periodId: '2026-12-07', used: 1, reserved: 0, limit: 2, ratePerHour: 1, exhaustsAt, resetAt: exhaustsAt + 1, single: true });

async function headersFor(rules: LimitRule[], cache = createForecastCache()) {
  const limits: TenantLimits = { plan: null, weight: 1, rules, timeZone: 'UTC', budgetAction: 'reject' };
  const tenant = makeTenant('acme', { limits });
  const stage = admit({
    limits: createLimitService({ logger: createLogger('silent') }),
    leaseMs: 60_000,
    defaultMaxOutputTokens: 100,
    weightOf: () => 1,
    failModeOf: () => 'closed',
    budgetExhaustsAt: cache.exhaustsAt,
  });
  const ctx = makeContext({ endpoint: { op: 'completions' }, fields: { tenant, principal: makePrincipal(tenant), model: 'gpt-4o-mini', body: { model: 'gpt-4o-mini', prompt: 'hi' } } });
  ctx.deployment = makeDeployment('gpt-4o-mini');
  ctx.operation = 'completions';
  await stage(ctx);
  return { headers: ctx.extraHeaders ?? {}, tenantId: tenant.id, cache };
}

describe('x-gatehouse-budget-exhausts-at', () => {
  it('is the earliest forecast among the calendar rules that apply', async () => {
    const cache = createForecastCache();
    const t = makeTenant('acme').id;
    const early = Date.UTC(2026, 11, 7, 15);
    cache.set(t, [forecast('daily', Date.UTC(2026, 11, 7, 20)), forecast('monthly', early), forecast('not-applied', Date.UTC(2026, 11, 7, 1))]);
    const { headers } = await headersFor([rule({ id: 'daily' }), rule({ id: 'monthly', window: 'month' }), rule({ id: 'rpm', window: 'minute' })], cache);
    expect(headers['x-gatehouse-budget-exhausts-at']).toBe(new Date(early).toISOString());
  });

  it('is absent without a forecast or without a calendar budget', async () => {
    expect((await headersFor([rule({ id: 'daily' })])).headers['x-gatehouse-budget-exhausts-at']).toBeUndefined();
    const cache = createForecastCache();
    cache.set(makeTenant('acme').id, [forecast('rpm', Date.UTC(2026, 11, 7, 15))]);
    expect((await headersFor([rule({ id: 'rpm', window: 'minute' })], cache)).headers['x-gatehouse-budget-exhausts-at']).toBeUndefined();
  });
});
