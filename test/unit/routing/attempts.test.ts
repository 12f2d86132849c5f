import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { Cancellation, type CancelSignal } from '../../../src/providers/cancel.js';
import type { Deployment, UpstreamResponse } from '../../../src/providers/types.js';
import { rateLimited, serverError, transportError } from '../../../src/providers/upstream-errors.js';
import { runAttempts, type AttemptRequest } from '../../../src/routing/attempts.js';
import { candidateDeployments, fallbackGroups } from '../../../src/routing/candidates.js';
import { refusalReason, retryable } from '../../../src/routing/classify.js';
import { createRouter } from '../../../src/routing/router.js';
import { DEFAULT_ROUTING, type ModelPolicy, type RoutingConfig } from '../../../src/routing/types.js';
import type { Tenant } from '../../../src/tenancy/types.js';
import { makeDeployment, makeRegistry, makeTenant } from '../pipeline/fixtures.js';

type Outcome = number | 'reset' | 'timeout' | { status: number; code: string } | 'stall' | 'busy';

function ok(status = 200, body = '{"ok":true}'): UpstreamResponse {
  return { status, headers: {}, body: Readable.from([Buffer.from(body)]), usage: Promise.resolve(undefined) };
}

function answer(o: Outcome, signal: CancelSignal): Promise<UpstreamResponse> {
  if (o === 'stall') {
    return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(transportError(new Error('aborted'), signal))));
  }
  if (o === 'reset') return Promise.reject(transportError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), signal));
  if (o === 'timeout') return Promise.reject(transportError(Object.assign(new Error('t'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), signal));
  if (typeof o === 'object') return Promise.resolve(ok(o.status, JSON.stringify({ error: { message: 'no', type: 'invalid_request_error', code: o.code, param: null } })));
  if (o === 429) return Promise.reject(rateLimited({ 'retry-after': '1' }));
  if (o === 'busy') return Promise.reject(serverError(503, '{}', '', { 'retry-after': '1' }));
  if (o >= 500) return Promise.reject(serverError(o, '{}', ''));
  return Promise.resolve(ok(o, o >= 400 ? '{"error":{"message":"bad","type":"invalid_request_error","code":null,"param":null}}' : '{}'));
}

function config(over: Partial<ModelPolicy> = {}, fallbacks: Record<string, string[]> = {}): RoutingConfig {
  return {
    ...DEFAULT_ROUTING,
    defaults: { ...DEFAULT_ROUTING.defaults, ...over, retry: { ...DEFAULT_ROUTING.defaults.retry, baseBackoffMs: 1, maxBackoffMs: 5, ...over.retry } },
    fallbacks: new Map(Object.entries(fallbacks)),
  };
}

/** A scripted upstream: each deployment answers its outcomes in order (then 200). */
function harness(deployments: Deployment[], script: Map<Deployment, Outcome[]>, cfg: RoutingConfig, tenant: Tenant = makeTenant('t')) {
  const registry = makeRegistry([tenant], [], deployments);
  const router = createRouter({ config: cfg, random: () => 0.5 });
  const sent: Deployment[] = [];
  const moves: [string, string, number][] = [];
  const deps = {
    router,
    send(d: Deployment, signal: CancelSignal) {
      sent.push(d);
      return answer(script.get(d)?.shift() ?? 200, signal);
    },
    moveSlot(_c: null, from: Deployment, to: Deployment, status: number) {
      moves.push([from.id, to.id, status]);
    },
  };
  const run = (model: string, signal: CancelSignal = new Cancellation()) => {
    const candidates = candidateDeployments(registry.current, tenant, model) ?? [];
    const first = router.pick(model, candidates).deployment as Deployment;
    const req: AttemptRequest<null> = {
      context: null,
      model,
      first,
      candidates: () => candidates,
      fallbacks: () => fallbackGroups(registry.current, tenant, null, model, 'chat', router.fallbacksOf(model)),
      signal,
      attempts: 0,
      current: first,
    };
    return { req, done: runAttempts(deps, req) };
  };
  return { run, sent, moves, router };
}

describe('attempt loop', () => {
  it('retries a 5xx on the same deployment and answers with the retry', async () => {
    const d = makeDeployment('m');
    const h = harness([d], new Map([[d, [503]]]), config());
    const { req, done } = h.run('m');
    const r = await done;
    expect(r.response.status).toBe(200);
    expect(r.attempts).toBe(2);
    expect(req.attempts).toBe(2);
    expect(h.sent).toEqual([d, d]);
    expect(h.moves).toEqual([]); // same deployment: the slot stays
  });

  it('moves to another deployment after a reset, and moves the scheduler slot with the failed status', async () => {
    const a = makeDeployment('m');
    const b = makeDeployment('m');
    const h = harness([a, b], new Map([[a, ['reset']], [b, ['reset']]]), config());
    const r = await h.run('m').done;
    expect(r.attempts).toBe(3);
    expect(new Set(h.sent.slice(0, 2))).toEqual(new Set([a, b]));
    // One move per change of deployment (the third attempt may go back to either), each with the failure.
    const changes = h.sent.filter((d, i) => i > 0 && d !== h.sent[i - 1]).length;
    expect(h.moves).toHaveLength(changes);
    expect(h.moves[0]).toEqual([h.sent[0]?.id, h.sent[1]?.id, 502]);
  });

  it('never retries a client error (4xx other than 429)', async () => {
    const d = makeDeployment('m');
    const h = harness([d], new Map([[d, [400]]]), config());
    const r = await h.run('m').done;
    expect(r.response.status).toBe(400);
    expect(r.attempts).toBe(1);
  });

  it('gives up after maxAttempts with the last upstream error', async () => {
    const d = makeDeployment('m');
    const h = harness([d], new Map([[d, [500, 502, 504, 200]]]), config({ retry: { ...DEFAULT_ROUTING.defaults.retry, maxAttempts: 3 } }));
    const err = await h.run('m').done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).message).toContain('HTTP 504');
    expect(h.sent).toHaveLength(3);
  });

  it('waits for a 429 Retry-After (capped) before retrying the same deployment', async () => {
    const d = makeDeployment('m');
    const h = harness([d], new Map([[d, [429]]]), config({ retry: { ...DEFAULT_ROUTING.defaults.retry, maxRetryAfterMs: 300 } }));
    const started = Date.now();
    await h.run('m').done;
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(290); // Retry-After 1 s, capped at 300 ms
    expect(waited).toBeLessThan(900);
  });

  it('waits for a 503 Retry-After (capped like 429) before retrying the same deployment', async () => {
    const d = makeDeployment('m');
    const h = harness([d], new Map([[d, ['busy']]]), config({ retry: { ...DEFAULT_ROUTING.defaults.retry, maxRetryAfterMs: 300 } }));
    const started = Date.now();
    const r = await h.run('m').done;
    const waited = Date.now() - started;
    expect(r.attempts).toBe(2);
    expect(waited).toBeGreaterThanOrEqual(290); // Retry-After 1 s, capped at 300 ms
    expect(waited).toBeLessThan(900);
    // A 503 without the header waits only the jittered backoff (≤ 5 ms here).
    const h2 = harness([d], new Map([[d, [503]]]), config({ retry: { ...DEFAULT_ROUTING.defaults.retry, maxRetryAfterMs: 300 } }));
    const t0 = Date.now();
    await h2.run('m').done;
    expect(Date.now() - t0).toBeLessThan(250);
  });

  it("does not wait for a 503's Retry-After when the retry goes to another deployment", async () => {
    const a = makeDeployment('m');
    const b = makeDeployment('m');
    const h = harness([a, b], new Map([[a, ['busy']], [b, ['busy']]]), config({ retry: { ...DEFAULT_ROUTING.defaults.retry, maxAttempts: 2, maxRetryAfterMs: 2000 } }));
    const started = Date.now();
    const err = await h.run('m').done.catch((e: unknown) => e);
    expect((err as GatewayError).headers['retry-after']).toBe('1');
    expect(h.sent).toHaveLength(2);
    expect(h.sent[0]).not.toBe(h.sent[1]);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('times an attempt out and retries; the total timeout ends the loop', async () => {
    const d = makeDeployment('m');
    const h = harness([d], new Map([[d, ['stall']]]), config({ attemptTimeoutMs: 100 }));
    const r = await h.run('m').done;
    expect(r.attempts).toBe(2);

    const h2 = harness([d], new Map([[d, ['stall', 'stall', 'stall']]]), config({ attemptTimeoutMs: 100, totalTimeoutMs: 150 }));
    const started = Date.now();
    const err = (await h2.run('m').done.catch((e: unknown) => e)) as GatewayError;
    expect(err.code).toBe('upstream_timeout');
    expect(Date.now() - started).toBeLessThan(400);
    expect(h2.sent.length).toBeLessThanOrEqual(2);
  });

  it('stops at once when the client cancels: no further attempt', async () => {
    const d = makeDeployment('m');
    const h = harness([d], new Map([[d, ['stall', 200]]]), config());
    const signal = new Cancellation();
    const { done } = h.run('m', signal);
    setTimeout(() => signal.abort(new Error('client disconnected')), 30);
    await expect(done).rejects.toThrow('client disconnected');
    expect(h.sent).toHaveLength(1);
  });

  it('falls back across models only within the tenant regions: a fallback elsewhere is never used', async () => {
    const tenant = makeTenant('eu', { regions: ['eu'] });
    const primary = makeDeployment('big', { region: 'eu' });
    const fallbackUs = makeDeployment('small', { region: 'us' });
    const h = harness([primary, fallbackUs], new Map([[primary, [503, 503, 503]]]), config({}, { big: ['small'] }), tenant);
    const err = (await h.run('big').done.catch((e: unknown) => e)) as GatewayError;
    expect(err.code).toBe('upstream_error');
    expect(h.sent.every((d) => d.region === 'eu')).toBe(true);

    const fallbackEu = makeDeployment('small', { region: 'eu' });
    const h2 = harness([primary, fallbackUs, fallbackEu], new Map([[primary, [503]]]), config({}, { big: ['small'] }), tenant);
    const r = await h2.run('big').done;
    expect(r.deployment).toBe(fallbackEu);
  });

  it('falls back to the next model on a context-window refusal only when configured', async () => {
    const big = makeDeployment('big');
    const small = makeDeployment('small');
    const refusal = { status: 400, code: 'context_length_exceeded' };
    const off = harness([big, small], new Map([[small, [refusal]]]), config({}, { small: ['big'] }));
    const r1 = await off.run('small').done;
    expect([r1.response.status, r1.deployment]).toEqual([400, small]);
    // The refusal body still reaches the client intact.
    const chunks: Buffer[] = [];
    for await (const c of r1.response.body) chunks.push(c as Buffer);
    expect(JSON.parse(Buffer.concat(chunks).toString()).error.code).toBe('context_length_exceeded');

    const on = harness([big, small], new Map([[small, [refusal]]]), config({ fallbackOn: ['context_window'] }, { small: ['big'] }));
    const r2 = await on.run('small').done;
    expect([r2.response.status, r2.deployment, r2.attempts]).toEqual([200, big, 2]);

    const policy = harness([big, small], new Map([[small, [{ status: 400, code: 'content_filter' }]]]), config({ fallbackOn: ['context_window'] }, { small: ['big'] }));
    expect((await policy.run('small').done).response.status).toBe(400);
  });
});

describe('classification', () => {
  it('retries overload, server errors and transport failures; never client errors', () => {
    for (const s of [429, 500, 502, 503, 504, 529]) expect(retryable(s === 429 ? rateLimited({}) : serverError(s, '', ''))).toBeDefined();
    for (const s of [401, 403, 501]) expect(retryable(serverError(s, '', ''))).toBeUndefined();
    expect(retryable(transportError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), new Cancellation()))).toBeDefined();
    expect(retryable(new GatewayError('invalid_request', 'no'))).toBeUndefined();
    expect(retryable(new Error('bug'))).toBeUndefined();
    expect(retryable(rateLimited({}))?.breaker).toBe(false);
  });

  it('reads context-window and content-policy refusals from the envelope', () => {
    const env = (code: string | null, message = 'x') => JSON.stringify({ error: { code, message } });
    expect(refusalReason(400, env('context_length_exceeded'))).toBe('context_window');
    expect(refusalReason(400, env(null, "This model's maximum context length is 8192 tokens"))).toBe('context_window');
    expect(refusalReason(400, env('content_filter'))).toBe('content_policy');
    expect(refusalReason(400, env('content_policy_violation'))).toBe('content_policy');
    expect(refusalReason(400, env('invalid_value'))).toBeUndefined();
    expect(refusalReason(404, env('context_length_exceeded'))).toBeUndefined();
    expect(refusalReason(400, 'not json')).toBeUndefined();
  });
});

describe('fallback chain resolution', () => {
  const tenant = makeTenant('acme', { regions: ['eu'], allowedModels: ['gpt-4o', 'gpt-4o-mini', 'embed', 'claude'] });
  const registry = makeRegistry(
    [tenant],
    [],
    [
      makeDeployment('gpt-4o', { region: 'eu' }),
      makeDeployment('gpt-4o-mini', { region: 'us' }), // outside the regions
      makeDeployment('claude', { region: 'eu' }),
      makeDeployment('llama', { region: 'eu' }), // not allowed for the tenant
      makeDeployment('embed', { region: 'eu', kind: 'embedding' }), // another kind
    ],
  );

  it('keeps only allowed models of the same kind with a deployment in the tenant regions, in order', () => {
    const chain = ['gpt-4o', 'gpt-4o-mini', 'llama', 'embed', 'claude', 'unknown'];
    expect(fallbackGroups(registry.current, tenant, null, 'gpt-4o', 'chat', chain).map((g) => g.model)).toEqual(['claude']);
    // A key limited to some models limits its fallbacks too.
    expect(fallbackGroups(registry.current, tenant, ['gpt-4o'], 'gpt-4o', 'chat', chain)).toEqual([]);
  });

  it('lists only deployments inside the tenant regions', () => {
    expect(candidateDeployments(registry.current, tenant, 'gpt-4o-mini')).toEqual([]);
    expect(candidateDeployments(registry.current, tenant, 'nope')).toBeUndefined();
    expect(candidateDeployments(registry.current, makeTenant('any'), 'gpt-4o-mini')).toHaveLength(1);
  });
});

describe('per-deployment attempt timeout', () => {
  it("overrides the model's, and the error says which timeout ran out", async () => {
    const d = makeDeployment('m', { attemptTimeoutMs: 80 });
    const h = harness([d], new Map([[d, ['stall', 'stall', 'stall']]]), config({ attemptTimeoutMs: 10_000 }));
    const started = Date.now();
    const err = (await h.run('m').done.catch((e: unknown) => e)) as GatewayError;
    expect(err.code).toBe('upstream_timeout');
    expect(err.message).toContain('attempt timeout of 80 ms');
    expect(h.sent).toHaveLength(3);
    expect(Date.now() - started).toBeLessThan(1000);

    const total = harness([d], new Map([[d, ['stall', 'stall', 'stall']]]), config({ totalTimeoutMs: 120 }));
    const err2 = (await total.run('m').done.catch((e: unknown) => e)) as GatewayError;
    expect(err2.message).toContain('total timeout of 120 ms');
  });
});
