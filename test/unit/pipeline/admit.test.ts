/**
 * The admission stage against the real in-process backend: worst-case reservation, refusals
 * that name the caller's own limit, headers, settlement with real usage, budget clamping, and a
 * daily quota that resets at the tenant's midnight.
 */
import { describe, expect, it } from 'vitest';
import { createLimitService, type LimitService } from '../../../src/limits/service.js';
import type { LimitRule, TenantLimits } from '../../../src/limits/types.js';
import { createLogger } from '../../../src/observability/logger.js';
import { admit } from '../../../src/pipeline/admit.js';
import type { RequestContext, RequestOutcome } from '../../../src/pipeline/context.js';
import type { Deployment, Usage } from '../../../src/providers/types.js';
import { failure, makeContext, makeDeployment, makePrincipal, makeTenant } from './fixtures.js';

function rule(over: Partial<LimitRule> & Pick<LimitRule, 'id'>): LimitRule {
  return { scope: 'tenant', subject: null, metric: 'requests', window: 'minute', limit: 10, burst: null, models: null, ...over };
}

// 1 µ-unit per input token, 10 per output token. The upstream model is not an OpenAI one, so
// prompts are estimated (bytes / 4): "Hello world!" is 3 tokens whether or not an encoding loaded.
const PRICED: Deployment = makeDeployment('gpt-4o-mini', {
  upstreamModel: 'local-model',
  prices: { inputPerMTok: 1_000_000, outputPerMTok: 10_000_000, cachedInputPerMTok: 0, perRequest: 0 },
});

function setup(rules: LimitRule[], over: Partial<TenantLimits> = {}, clock = { now: Date.UTC(2026, 10, 23, 12) }) {
  const limits: TenantLimits = { plan: null, weight: 1, rules, timeZone: 'UTC', budgetAction: 'reject', ...over };
  const tenant = makeTenant('acme', { limits });
  const service: LimitService = createLimitService({ logger: createLogger('silent'), now: () => clock.now });
  const stage = admit({
    limits: service,
    leaseMs: 60_000,
    defaultMaxOutputTokens: 100,
    weightOf: () => 1,
    failModeOf: () => 'closed',
    now: () => clock.now,
  });
  function ctx(body: Record<string, unknown> = { model: 'gpt-4o-mini', prompt: 'Hello world!' }, keyId = 'key-1'): RequestContext {
    return makeContext({
      endpoint: { op: 'completions' },
      fields: { tenant, principal: makePrincipal(tenant, { keyId }), model: 'gpt-4o-mini', body },
    });
  }
  async function run(c: RequestContext, deployment: Deployment = PRICED): Promise<RequestContext> {
    c.deployment = deployment;
    c.operation = 'completions';
    await stage(c);
    return c;
  }
  function finish(c: RequestContext, usage: Usage | undefined, status = 200): void {
    const outcome: RequestOutcome = { status, usage, clientAborted: false, upstreamMs: 5 };
    for (const f of c.finishers ?? []) f(outcome, c);
  }
  return { stage, ctx, run, finish, clock, service };
}

const usage = (prompt: number, completion: number): Usage => ({
  promptTokens: prompt,
  completionTokens: completion,
  totalTokens: prompt + completion,
  cachedTokens: 0,
});

describe('admission stage', () => {
  it('does nothing (no headers, no finishers) for a tenant without rules', async () => {
    const { run, ctx } = setup([]);
    const c = await run(ctx());
    expect(c.finishers).toBeUndefined();
    expect(c.extraHeaders).toBeUndefined();
  });

  it('admits up to the burst, then refuses with 429, Retry-After and the limit named', async () => {
    const { run, ctx } = setup([rule({ id: 'rpm', limit: 2, scope: 'key' })]);
    const first = await run(ctx());
    expect(first.extraHeaders).toMatchObject({ 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '1' });
    await run(ctx());
    const err = await failure(() => run(ctx()));
    expect(err.status).toBe(429);
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.message).toContain("requests per minute for this API key (rule 'rpm')");
    expect(Number(err.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(err.headers['x-ratelimit-remaining-requests']).toBe('0');
    // Another key has its own counter.
    await expect(run(ctx(undefined, 'key-2'))).resolves.toBeDefined();
  });

  it('reserves the worst case, tells the upstream the bound, and settles at the real usage', async () => {
    const { run, ctx, finish } = setup([rule({ id: 'tpd', metric: 'tokens', window: 'day', limit: 300 })]);
    const a = await run(ctx());
    expect(a.body?.max_tokens).toBe(100); // the default bound is sent upstream
    expect(a.extraHeaders?.['x-ratelimit-remaining-tokens']).toBe(String(300 - 103)); // 3 prompt + 100
    const b = await run(ctx());
    // A third worst case (103) no longer fits in the 94 left...
    expect((await failure(() => run(ctx()))).code).toBe('quota_exceeded');
    // ...until the first two settle at what they really used (2 + 10 each).
    finish(a, usage(2, 10));
    finish(b, usage(2, 10));
    const c = await run(ctx());
    expect(c.extraHeaders?.['x-ratelimit-remaining-tokens']).toBe(String(300 - 24 - 103));
  });

  it('reserves the output of every prompt of a batch of prompts (legacy completions)', async () => {
    const { run, ctx } = setup([rule({ id: 'tpd', metric: 'tokens', window: 'day', limit: 10_000 })]);
    // Five prompts of 1 token each ("four" is 4 bytes), 8 output tokens each, 2 choices each.
    const batch = await run(ctx({ model: 'gpt-4o-mini', prompt: ['four', 'five', 'nine', 'zero', 'once'], max_tokens: 8, n: 2 }));
    expect(batch.extraHeaders?.['x-ratelimit-remaining-tokens']).toBe(String(10_000 - 5 - 5 * 2 * 8));
    // An array of token ids is one prompt.
    const tokens = await run(ctx({ model: 'gpt-4o-mini', prompt: [1, 2, 3, 4], max_tokens: 8 }));
    expect(tokens.extraHeaders?.['x-ratelimit-remaining-tokens']).toBe(String(10_000 - 85 - 4 - 8));
  });

  it('never lets concurrent requests spend past a budget', async () => {
    // Worst case per request: 3 input µ + 100 output × 10 µ = 1003 µ; budget 5000 → 4 at once.
    const { run, ctx, finish } = setup([rule({ id: 'budget', metric: 'cost', window: 'month', limit: 5000 })]);
    const admitted: RequestContext[] = [];
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      try {
        admitted.push(await run(ctx()));
      } catch (err) {
        refused++;
        expect((err as { code: string }).code).toBe('budget_exceeded');
      }
    }
    expect(admitted).toHaveLength(4);
    expect(refused).toBe(16);
    // Each used its whole bound: the settled spend is 4 × 1003 ≤ 5000.
    for (const c of admitted) finish(c, usage(3, 100));
    const err = await failure(() => run(ctx()));
    expect(err.headers['x-gatehouse-budget-remaining']).toBe('0.000988');
  });

  it('clamps max_tokens to what the budget still covers when the tenant asks for it', async () => {
    const { run, ctx } = setup([rule({ id: 'budget', metric: 'cost', window: 'month', limit: 1500 })], { budgetAction: 'clamp' });
    await run(ctx()); // 1003 reserved, 497 left
    const c = await run(ctx());
    // (497 - 3 input) / 10 per output token = 49 tokens.
    expect(c.body?.max_tokens).toBe(49);
    expect(c.extraHeaders?.['x-gatehouse-max-tokens-clamped']).toBe('49');
    // Below 16 output tokens a clamp is no answer: refused.
    expect((await failure(() => run(ctx()))).code).toBe('budget_exceeded');
  });

  it('resets a daily quota at the tenant’s local midnight, not UTC’s', async () => {
    // Auckland is UTC+13 in November: local midnight is 11:00 UTC.
    const clock = { now: Date.UTC(2026, 10, 23, 10, 59) };
    const { run, ctx } = setup([rule({ id: 'rpd', window: 'day', limit: 1 })], { timeZone: 'Pacific/Auckland' }, clock);
    await run(ctx());
    const err = await failure(() => run(ctx()));
    expect(err.code).toBe('quota_exceeded');
    expect(err.headers['retry-after']).toBe('60');
    clock.now = Date.UTC(2026, 10, 23, 11, 0, 1);
    await expect(run(ctx())).resolves.toBeDefined();
  });

  it('gives a concurrency slot back when the response is over, whatever its status', async () => {
    const { run, ctx, finish } = setup([rule({ id: 'conc', metric: 'concurrency', window: null, limit: 1 })]);
    const a = await run(ctx());
    expect((await failure(() => run(ctx()))).code).toBe('rate_limit_exceeded');
    finish(a, undefined, 502);
    await expect(run(ctx())).resolves.toBeDefined();
  });

  it('counts per end user from the user field, and rejects an oversized user id', async () => {
    const { run, ctx } = setup([rule({ id: 'per-user', scope: 'user', limit: 1 })]);
    await run(ctx({ model: 'gpt-4o-mini', prompt: 'x', user: 'alice' }));
    expect((await failure(() => run(ctx({ model: 'gpt-4o-mini', prompt: 'x', user: 'alice' })))).status).toBe(429);
    await run(ctx({ model: 'gpt-4o-mini', prompt: 'x', user: 'bob' }));
    const bad = await failure(() => run(ctx({ model: 'gpt-4o-mini', prompt: 'x', user: 'u'.repeat(257) })));
    expect(bad.status).toBe(400);
    expect(bad.param).toBe('user');
  });
});

describe('admission and a client that already left', () => {
  it('settles at once when the response closed while the reservation was being made', async () => {
    const { run, ctx } = setup([rule({ id: 'conc', metric: 'concurrency', window: null, limit: 1 })]);
    const c = ctx();
    c.closed = { status: 200, clientAborted: true }; // the server saw the socket close first
    await run(c);
    expect(c.finishers).toBeUndefined();
    // The slot is free again: no lease to wait out.
    await expect(run(ctx())).resolves.toBeDefined();
  });
});

describe('the output bound sent upstream', () => {
  it('clamps the field the client used, never adding the other one', async () => {
    const { run, ctx } = setup([rule({ id: 'budget', metric: 'cost', window: 'month', limit: 1500 })], { budgetAction: 'clamp' });
    await run(ctx({ model: 'gpt-4o-mini', prompt: 'Hello world!', max_completion_tokens: 100 }));
    const c = await run(ctx({ model: 'gpt-4o-mini', prompt: 'Hello world!', max_completion_tokens: 100 }));
    expect(c.body?.max_completion_tokens).toBe(49);
    expect(c.body).not.toHaveProperty('max_tokens');
  });
});
