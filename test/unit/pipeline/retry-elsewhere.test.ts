/**
 * What a retry on another deployment means for the stages around the provider: the scheduler
 * slot moves to the deployment that serves (each deployment's capacity is only used through its
 * own slots, and adaptive capacity hears of the failure), and admission settles at the prices
 * of the deployment that served, having reserved at the dearest one that could serve.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLimitService } from '../../../src/limits/service.js';
import { createScheduler } from '../../../src/limits/scheduler.js';
import { createLogger } from '../../../src/observability/logger.js';
import { admit } from '../../../src/pipeline/admit.js';
import type { RequestContext, RequestOutcome } from '../../../src/pipeline/context.js';
import { callProvider } from '../../../src/pipeline/provider.js';
import { route } from '../../../src/pipeline/route.js';
import { schedule, slotMover } from '../../../src/pipeline/schedule.js';
import { serving } from '../../../src/pipeline/serving.js';
import type { Deployment, ProviderAdapter, UpstreamResponse } from '../../../src/providers/types.js';
import { serverError } from '../../../src/providers/upstream-errors.js';
import { createRouter } from '../../../src/routing/router.js';
import { DEFAULT_ROUTING } from '../../../src/routing/types.js';
import { makeContext, makeDeployment, makePrincipal, makeRegistry, makeTenant } from './fixtures.js';

function ok(): UpstreamResponse {
  return { status: 200, headers: {}, body: Readable.from([Buffer.from('{}')]), usage: Promise.resolve(undefined) };
}

function finish(ctx: RequestContext, o: RequestOutcome): void {
  for (const f of ctx.finishers ?? []) f(o, ctx);
}

describe('a retry on another deployment', () => {
  it('gives the failed deployment its slot back at once (with the upstream status) and serves from a slot of the next', async () => {
    const a = makeDeployment('m', { capacity: 1 });
    const b = makeDeployment('m', { capacity: 1 });
    const tenant = makeTenant('acme');
    const registry = makeRegistry([tenant], [], [a, b]);
    const scheduler = createScheduler();
    const deps = { scheduler, defaults: { queueTimeoutMs: 1000, maxQueueDepth: 10 } };
    const router = createRouter({ config: { ...DEFAULT_ROUTING, defaults: { ...DEFAULT_ROUTING.defaults, retry: { ...DEFAULT_ROUTING.defaults.retry, baseBackoffMs: 1 } } } });
    const seenInFlight: (number | undefined)[] = [];
    const adapter: ProviderAdapter = {
      kind: 'mock',
      send(d) {
        // Only the deployment being called holds a slot of this request.
        seenInFlight.push(scheduler.stats(d.id)?.inFlight, scheduler.stats((d === a ? b : a).id)?.inFlight ?? 0);
        return d.id === first ? Promise.reject(serverError(503, '', '')) : Promise.resolve(ok());
      },
      close: async () => {},
    };
    const ctx = makeContext({ fields: { tenant, principal: makePrincipal(tenant), model: 'm', body: { model: 'm' } } });
    route(registry, { router })(ctx);
    const first = (ctx.deployment as Deployment).id;
    const second = first === a.id ? b : a;
    schedule(deps)(ctx);
    await callProvider({ get: () => adapter }, { router, registry, moveSlot: slotMover(deps) })(ctx);

    expect(ctx.deployment).toBe(second);
    expect(ctx.extraHeaders?.['x-gatehouse-attempts']).toBe('2');
    expect(seenInFlight).toEqual([1, 0, 1, 0]);
    expect(scheduler.stats(first)?.inFlight).toBe(0);
    expect(scheduler.stats(second.id)?.inFlight).toBe(1);
    expect(router.stats(second.id)?.inFlight).toBe(1);
    finish(ctx, { status: 200, usage: undefined, clientAborted: false, upstreamMs: 5, upstreamStatus: 200 });
    expect(scheduler.stats(second.id)?.inFlight).toBe(0);
    expect(router.stats(second.id)?.inFlight).toBe(0);
  });

  it('settles the reservation at the prices of the deployment that served', async () => {
    const limits = { plan: null, weight: 1, rules: [{ id: 'budget', scope: 'tenant' as const, subject: null, metric: 'cost' as const, window: 'month' as const, limit: 5000, burst: null, models: null }], timeZone: 'UTC', budgetAction: 'reject' as const };
    const tenant = makeTenant('acme', { limits });
    const cheap = makeDeployment('m', { upstreamModel: 'local', prices: { inputPerMTok: 1_000_000, outputPerMTok: 10_000_000, cachedInputPerMTok: 0, perRequest: 0 } });
    const dear = makeDeployment('m2', { upstreamModel: 'local', prices: { inputPerMTok: 2_000_000, outputPerMTok: 20_000_000, cachedInputPerMTok: 0, perRequest: 0 } });
    const stage = admit({ limits: createLimitService({ logger: createLogger('silent') }), leaseMs: 60_000, defaultMaxOutputTokens: 100, weightOf: () => 1, failModeOf: () => 'closed' });
    const run = async (): Promise<RequestContext> => {
      const c = makeContext({ endpoint: { op: 'completions' }, fields: { tenant, principal: makePrincipal(tenant), model: 'm', body: { model: 'm', prompt: 'Hello world!' } } });
      c.deployment = cheap;
      c.operation = 'completions';
      await stage(c);
      return c;
    };
    const served = await run();
    served.deployment = dear; // a fallback served it
    finish(served, { status: 200, usage: { promptTokens: 3, completionTokens: 10, totalTokens: 13, cachedTokens: 0 }, clientAborted: false, upstreamMs: 5 });
    // 3 × 2 + 10 × 20 = 206 µ spent (not 103 at the reserved deployment's prices); the next reserves 1003.
    const next = await run();
    expect(next.extraHeaders?.['x-gatehouse-budget-remaining']).toBe('0.003791');
  });
  it('never lets fallbacks onto a dearer model take concurrent requests past a budget', async () => {
    const budget = 5000;
    const limits = { plan: null, weight: 1, rules: [{ id: 'budget', scope: 'tenant' as const, subject: null, metric: 'cost' as const, window: 'month' as const, limit: budget, burst: null, models: null }], timeZone: 'UTC', budgetAction: 'reject' as const };
    const tenant = makeTenant('acme', { limits });
    const cheap = makeDeployment('m', { upstreamModel: 'local', prices: { inputPerMTok: 1_000_000, outputPerMTok: 10_000_000, cachedInputPerMTok: 0, perRequest: 0 } });
    const dear = makeDeployment('m2', { upstreamModel: 'local', prices: { inputPerMTok: 2_000_000, outputPerMTok: 20_000_000, cachedInputPerMTok: 0, perRequest: 0 } });
    const registry = makeRegistry([tenant], [], [cheap, dear]);
    const router = createRouter({
      config: { ...DEFAULT_ROUTING, fallbacks: new Map([['m', ['m2']]]), defaults: { ...DEFAULT_ROUTING.defaults, retry: { ...DEFAULT_ROUTING.defaults.retry, baseBackoffMs: 1 } } },
    });
    const stages = [
      route(registry, { router }),
      admit({
        limits: createLimitService({ logger: createLogger('silent') }),
        leaseMs: 60_000,
        defaultMaxOutputTokens: 100,
        weightOf: () => 1,
        failModeOf: () => 'closed',
        servable: serving(registry, router).all,
      }),
      callProvider({ get: () => ({ kind: 'mock', send: (d) => (d === cheap ? Promise.reject(serverError(503, '', '')) : Promise.resolve(ok())), close: async () => {} }) }, { router, registry }),
    ];
    // Ten requests in flight at once: every admitted one is reserved before any settles.
    const admitted: RequestContext[] = [];
    for (let i = 0; i < 10; i++) {
      const c = makeContext({ fields: { tenant, principal: makePrincipal(tenant), model: 'm', body: { model: 'm', messages: [{ role: 'user', content: 'Hi' }] } } });
      try {
        for (const stage of stages) await stage(c);
      } catch (err) {
        expect((err as { code?: string }).code).toBe('budget_exceeded');
        continue; // refused: the budget has no room for its worst case
      }
      expect(c.deployment).toBe(dear);
      admitted.push(c);
    }
    // Each serves 100 output tokens at the fallback's prices: 2000 µ. Reserved at the dearest
    // deployment (2000 µ and the prompt), two fit in 5000; reserved at the first deployment's
    // prices (1000 µ and the prompt), four got in and spent 8000.
    expect(admitted.length).toBeGreaterThan(0);
    let spent = 0;
    for (const c of admitted) {
      finish(c, { status: 200, usage: { promptTokens: 0, completionTokens: 100, totalTokens: 100, cachedTokens: 0 }, clientAborted: false, upstreamMs: 5 });
      spent += 100 * 20;
    }
    expect(spent).toBeLessThanOrEqual(budget);
  });
});
