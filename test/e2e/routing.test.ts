/**
 * Routing and resilience through the real HTTP server and the mock upstream, whose `mock.fail`
 * field fails chosen requests deterministically (src/providers/mock/faults.ts): retries after
 * 5xx, 429 and 503 with Retry-After and per-attempt timeouts, failover to another deployment on a
 * connection reset, no retry once a stream has started, a stream stalled mid-way, circuit breakers, fallbacks on a
 * context-window refusal, residency under fallback, and client disconnects.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planPricingSchema } from '../../src/billing/plan-pricing.js';
import { PLATFORM_SCOPE_ID } from '../../src/identity/roles.js';
import { billingRepo, plansRepo } from '../../src/store/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const ANY = 'sk-any-0123456789abcdef0123456789abcdef01';
const EU = 'sk-eu-0123456789abcdef0123456789abcdef012';
const PLAIN = 'sk-plain-0123456789abcdef0123456789abcdef';

const YAML = `
demo: { enabled: false }
providers:
  - name: mock
    kind: mock
routing:
  maxAttempts: 3
  baseBackoffMs: 10
  maxBackoffMs: 50
  maxRetryAfterMs: 1500
  models:
    timed: { attemptTimeoutMs: 300 }
    brk: { maxAttempts: 1 }
    shared-brk: { maxAttempts: 1 }
    busy: { maxAttempts: 2 }
    small: { fallbackOn: [context_window] }
  fallbacks:
    big: [elsewhere]
    small: [big]
  breaker: { consecutiveFailures: 3, openMs: 600, maxOpenMs: 2000 }
deployments:
  - { id: solo, model: solo, provider: mock, region: eu }
  - { id: timed, model: timed, provider: mock, region: eu }
  - { id: pair-a, model: pair, provider: mock, region: eu-west, upstreamModel: pair-a }
  - { id: pair-b, model: pair, provider: mock, region: eu-central, upstreamModel: pair-b }
  - { id: brk, model: brk, provider: mock, region: eu }
  - { id: shared-brk, model: shared-brk, provider: mock, region: eu }
  - { id: busy, model: busy, provider: mock, region: eu }
  - { id: idle, model: idle, provider: mock, region: eu, streamIdleTimeoutMs: 1000 }
  - { id: big, model: big, provider: mock, region: eu, upstreamModel: big-eu }
  - { id: elsewhere, model: elsewhere, provider: mock, region: us, upstreamModel: elsewhere-us }
  - { id: small, model: small, provider: mock, region: eu, upstreamModel: small-eu }
plans:
  - { name: no-fallbacks, weight: 1, rules: [] }
tenants:
  - slug: plain
    plan: no-fallbacks
    keys: [{ name: main, value: ${PLAIN} }]
  - slug: anywhere
    keys: [{ name: main, value: ${ANY} }]
  - slug: eu-only
    regions: [eu, eu-west, eu-central]
    keys: [{ name: main, value: ${EU} }]
`;

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ yaml: YAML });
});
afterAll(async () => {
  await gw?.stop();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  ms: number;
}

async function chat(
  model: string,
  mock: Record<string, unknown>,
  opts: { key?: string; stream?: boolean; signal?: AbortSignal; requestId?: string } = {},
): Promise<Answer> {
  const started = Date.now();
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${opts.key ?? ANY}`,
      'content-type': 'application/json',
      ...(opts.requestId === undefined ? {} : { 'x-request-id': opts.requestId }),
    },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], stream: opts.stream === true, mock }),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, ms: Date.now() - started };
}

/** Requests the mock received carrying this fault key. */
function received(key: string): { model: unknown }[] {
  return gw.mock!.requests
    .map((r) => r.body as { model?: unknown; mock?: { fail?: { key?: string } } })
    .filter((b) => b?.mock?.fail?.key === key)
    .map((b) => ({ model: b.model }));
}

function errorOf(a: Answer): { code: string; type: string; message: string } {
  return (JSON.parse(a.text) as { error: { code: string; type: string; message: string } }).error;
}

describe('retries', () => {
  it('retries an upstream 503 and answers with the retry; headers say where and after how many attempts', async () => {
    const a = await chat('solo', { fail: { key: 'r-503', times: 1, status: 503 } });
    expect(a.status).toBe(200);
    expect(a.headers['x-gatehouse-attempts']).toBe('2');
    expect(a.headers['x-gatehouse-region']).toBe('eu');
    expect(a.headers['x-gatehouse-model']).toBe('solo');
    expect(received('r-503')).toHaveLength(2);
  });

  it('reports one attempt when the first one answers', async () => {
    const a = await chat('solo', {});
    expect(a.status).toBe(200);
    expect(a.headers['x-gatehouse-attempts']).toBe('1');
  });

  it('never retries an upstream 400: the client gets it as it was', async () => {
    const a = await chat('solo', { fail: { key: 'r-400', times: 1, status: 400, code: 'invalid_value' } });
    expect(a.status).toBe(400);
    expect(errorOf(a).code).toBe('invalid_value');
    expect(received('r-400')).toHaveLength(1);
  });

  it("waits for an upstream 429's Retry-After before retrying", async () => {
    const a = await chat('solo', { fail: { key: 'r-429', times: 1, status: 429, retryAfter: 1 } });
    expect(a.status).toBe(200);
    expect(a.headers['x-gatehouse-attempts']).toBe('2');
    expect(a.ms).toBeGreaterThanOrEqual(950);
  });

  it("waits for an upstream 503's Retry-After before retrying, and passes it on when every attempt fails", async () => {
    const a = await chat('solo', { fail: { key: 'r-503-ra', times: 1, status: 503, retryAfter: 1 } });
    expect(a.status).toBe(200);
    expect(a.headers['x-gatehouse-attempts']).toBe('2');
    expect(a.ms).toBeGreaterThanOrEqual(950);
    // Every attempt refused: the client's 502 says when to come back, as the upstream did.
    const b = await chat('busy', { fail: { key: 'r-503-ra-all', status: 503, retryAfter: 1 } });
    expect(b.status).toBe(502);
    expect(errorOf(b).code).toBe('upstream_error');
    expect(b.headers['retry-after']).toBe('1');
    expect(received('r-503-ra-all')).toHaveLength(2);
  });

  it('times out an attempt that stalls before its headers and answers from the next one', async () => {
    const a = await chat('timed', { fail: { key: 'r-stall', times: 1, mode: 'stall', stallMs: 10_000 } });
    expect(a.status).toBe(200);
    expect(a.headers['x-gatehouse-attempts']).toBe('2');
    expect(a.ms).toBeLessThan(3000);
  });

  it('answers 504 in the envelope when every attempt times out', async () => {
    const a = await chat('timed', { fail: { key: 'r-stall-all', mode: 'stall', stallMs: 10_000 } });
    expect(a.status).toBe(504);
    expect(errorOf(a)).toMatchObject({ code: 'upstream_timeout', type: 'timeout_error' });
    expect(a.headers['x-gatehouse-attempts']).toBe('3');
  });
});

describe('failover', () => {
  it('moves to the other deployment when one resets its connections', async () => {
    for (let i = 0; i < 4; i++) {
      const a = await chat('pair', { fail: { key: 'f-reset', mode: 'reset', models: ['pair-a'] } });
      expect(a.status).toBe(200);
      expect(a.headers['x-gatehouse-region']).toBe('eu-central');
      expect(a.headers['x-gatehouse-model-version']).toBe('pair-b');
    }
  });

  it('never retries a stream that broke after its first byte: the client gets the error event', async () => {
    const a = await chat('solo', { fail: { key: 'f-break', times: 1, mode: 'break', afterChunks: 2 }, tokensPerSecond: 200 }, { stream: true });
    expect(a.status).toBe(200);
    expect(a.text).toContain('chat.completion.chunk');
    const last = a.text.trim().split('\n\n').at(-1) ?? '';
    expect(last).toMatch(/^data: \{"error":/);
    // The upstream was reached: the event says where it failed.
    expect((JSON.parse(last.slice('data: '.length)) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'upstream_error',
      message: expect.stringContaining('in the middle of the response') as unknown,
    });
    expect(a.text).not.toContain('[DONE]');
    expect(received('f-break')).toHaveLength(1);
  });

  it('ends a stream that breaks or stalls in the middle of an event with its error event on a clean boundary', async () => {
    for (const [model, fail] of [
      ['solo', { key: 'f-break-mid', times: 1, mode: 'break', afterChunks: 2, midEvent: true }],
      ['idle', { key: 's-idle-mid', times: 1, mode: 'stall-stream', afterChunks: 2, midEvent: true, stallMs: 30_000 }],
    ] as const) {
      const a = await chat(model, { fail, tokensPerSecond: 200 }, { stream: true });
      expect(a.status).toBe(200);
      const events = a.text.split('\n\n').filter((e) => e !== '');
      // Every event parses, the half-sent one never reached the client, and the last is the error.
      for (const e of events) expect(() => JSON.parse(e.replace(/^data: /, ''))).not.toThrow();
      expect(events).toHaveLength(3);
      expect(events.at(-1)).toMatch(/^data: \{"error":/);
    }
  });

  it('ends a stream that stalls mid-way after streamIdleTimeoutMs: error event, upstream cancelled, no retry, estimate settled', async () => {
    const abortedBefore = gw.mock!.aborted;
    const a = await chat(
      'idle',
      { fail: { key: 's-idle', times: 1, mode: 'stall-stream', afterChunks: 3, stallMs: 30_000 }, tokens: 20 },
      { stream: true, requestId: 'stalled-stream-1' },
    );
    expect(a.status).toBe(200);
    // Ended by the 1 s idle timeout (undici's coarse timers: up to ~1.5 s), not by the 30 s stall.
    expect(a.ms).toBeGreaterThanOrEqual(900);
    expect(a.ms).toBeLessThan(10_000);
    const events = a.text.trim().split('\n\n');
    expect(events.filter((e) => e.includes('chat.completion.chunk'))).toHaveLength(3);
    const last = JSON.parse((events.at(-1) ?? '').replace(/^data: /, '')) as { error: { code: string; type: string; message: string } };
    expect(last.error).toMatchObject({ code: 'upstream_timeout', type: 'timeout_error' });
    expect(last.error.message).toContain('1000 ms');
    expect(a.text).not.toContain('[DONE]');
    expect(received('s-idle')).toHaveLength(1);
    // The upstream call was cancelled: the mock saw its client go away mid-stream.
    await expect.poll(() => gw.mock!.aborted, { timeout: 5_000 }).toBeGreaterThan(abortedBefore);

    // Metered (and settled) with the estimate of what was streamed, like a stream cut by its client.
    await gw.metering.drain(10_000);
    const tenantId = await gw.store.platform(
      async (tx) => (await tx.query<{ id: string }>("SELECT id FROM tenants WHERE slug = 'anywhere'")).rows[0]?.id as string,
    );
    const rows = await gw.store.withTenant(tenantId, async (tx) =>
      (await tx.query<{ usage_estimated: boolean; output_tokens: string; streamed: boolean; status: number }>(
        'SELECT usage_estimated, output_tokens, streamed, status FROM usage_events WHERE request_id = $1',
        ['stalled-stream-1'],
      )).rows,
    );
    expect(rows).toHaveLength(1);
    // Recorded as the failure it ended with (the headers had said 200).
    expect(rows[0]).toMatchObject({ usage_estimated: true, streamed: true, status: 504 });
    expect(Number(rows[0]?.output_tokens)).toBeGreaterThan(0);
    expect(Number(rows[0]?.output_tokens)).toBeLessThan(20);
  });

  it('lets a stream that pauses for less than its idle timeout finish', async () => {
    const a = await chat('idle', { fail: { key: 's-pause', times: 1, mode: 'stall-stream', afterChunks: 2, stallMs: 200 } }, { stream: true });
    expect(a.status).toBe(200);
    expect(a.text).toContain('[DONE]');
    expect(a.text).not.toContain('"error"');
  });

  it('falls back to the next model on a context-window refusal; the headers name the model that served', async () => {
    const a = await chat('small', { fail: { key: 'f-ctx', status: 400, code: 'context_length_exceeded', models: ['small-eu'] } });
    expect(a.status).toBe(200);
    expect(a.headers['x-gatehouse-model']).toBe('big');
    expect(a.headers['x-gatehouse-attempts']).toBe('2');
    expect(received('f-ctx').map((r) => r.model)).toEqual(['small-eu', 'big-eu']);
  });

  it("never falls back to another model for a tenant whose plan leaves fallbacks out (a plan feature)", async () => {
    // The plan's pricing says `fallbacks: false`; its change reaches the snapshot by notification.
    await gw.store.withTenant(PLATFORM_SCOPE_ID, async (tx) => {
      const plan = await plansRepo.getByName(tx, 'no-fallbacks');
      if (plan === null) throw new Error('plan missing');
      await billingRepo.setPlanPricing(tx, plan.id, planPricingSchema.parse({ features: { fallbacks: false } }));
    });
    let a: Answer | undefined;
    for (let i = 0; i < 40; i++) {
      a = await chat('small', { fail: { key: `f-plain-${i}`, status: 400, code: 'context_length_exceeded', models: ['small-eu'] } }, { key: PLAIN });
      if (a.status === 400) {
        expect(received(`f-plain-${i}`).map((r) => r.model)).toEqual(['small-eu']);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(a?.status).toBe(400);
    expect(errorOf(a as Answer).code).toBe('context_length_exceeded');
    // The same request of a tenant on no plan (every feature) still falls back.
    const other = await chat('small', { fail: { key: 'f-any-again', status: 400, code: 'context_length_exceeded', models: ['small-eu'] } });
    expect(other.status).toBe(200);
    expect(other.headers['x-gatehouse-model']).toBe('big');
  });
});

describe('residency', () => {
  // First: the residency case below opens big's breaker (three failures in a row).
  it('falls back to a model in another region for a tenant allowed everywhere', async () => {
    const a = await chat('big', { fail: { key: 'res-any', times: 1, status: 503, models: ['big-eu'] } });
    expect(a.status).toBe(200);
    expect(a.headers['x-gatehouse-model']).toBe('elsewhere');
    expect(a.headers['x-gatehouse-region']).toBe('us');
  });

  it('never falls back out of the tenant regions: the client gets the error instead', async () => {
    const a = await chat('big', { fail: { key: 'res-eu', status: 503, models: ['big-eu'] } }, { key: EU });
    expect(a.status).toBe(502);
    expect(errorOf(a).code).toBe('upstream_error');
    // Retried in its region until the attempts ran out (or big's breaker opened), never elsewhere.
    const models = received('res-eu').map((r) => r.model);
    expect(models.length).toBeGreaterThanOrEqual(2);
    expect(new Set(models)).toEqual(new Set(['big-eu']));
  });

  it('keeps every attempt of a region-limited tenant inside its regions', async () => {
    for (let i = 0; i < 6; i++) {
      const a = await chat('pair', { fail: { key: 'res-pair', times: 1, status: 500 } }, { key: EU });
      expect(a.status).toBe(200);
      expect(['eu-west', 'eu-central']).toContain(a.headers['x-gatehouse-region']);
    }
  });
});

describe('circuit breaker', () => {
  it('opens after consecutive failures (503 with Retry-After, no upstream call), then half-opens and closes on a good probe', async () => {
    const fail = { fail: { key: 'brk', status: 500 } };
    for (let i = 0; i < 3; i++) expect((await chat('brk', fail)).status).toBe(502);
    const refused = await chat('brk', fail);
    expect(refused.status).toBe(503);
    expect(errorOf(refused).code).toBe('upstream_unavailable');
    expect(refused.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(received('brk')).toHaveLength(3);

    let metrics = await (await request(`${gw.url}/metrics`)).body.text();
    expect(metrics).toMatch(/^gatehouse_deployment_breaker_state\{deployment="brk"\} 2$/m);
    expect(gw.logs.filter((l) => l.includes('circuit breaker opened') && l.includes('"brk"'))).toHaveLength(1);

    await new Promise((r) => setTimeout(r, 700));
    const probe = await chat('brk', {});
    expect(probe.status).toBe(200);
    metrics = await (await request(`${gw.url}/metrics`)).body.text();
    expect(metrics).toMatch(/^gatehouse_deployment_breaker_state\{deployment="brk"\} 0$/m);
  });
});

describe('circuit breaker shared by tenants', () => {
  it("one tenant's failures leave it closed for the others; failures of a second tenant open it", async () => {
    expect((await chat('shared-brk', {}, { key: PLAIN })).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await chat('shared-brk', { fail: { key: `sb-any-${i}`, status: 500 } })).status).toBe(502);
    // Five failures in a row, all of one tenant's requests: the other tenant is still served.
    expect((await chat('shared-brk', {}, { key: PLAIN })).status).toBe(200);
    expect((await chat('shared-brk', { fail: { key: 'sb-any-5', status: 500 } })).status).toBe(502);
    expect((await chat('shared-brk', { fail: { key: 'sb-plain', status: 500 } }, { key: PLAIN })).status).toBe(502);
    expect((await chat('shared-brk', { fail: { key: 'sb-any-6', status: 500 } })).status).toBe(502);
    // Three in a row since the second tenant's success, from both tenants: the deployment is failing.
    const refused = await chat('shared-brk', {}, { key: PLAIN });
    expect(refused.status).toBe(503);
    expect(errorOf(refused).code).toBe('upstream_unavailable');
  });
});

describe('client disconnect', () => {
  it('cancels the attempt in flight and starts no other', async () => {
    const abortedBefore = gw.mock!.aborted;
    const controller = new AbortController();
    const pending = chat('solo', { fail: { key: 'cancel', mode: 'stall', stallMs: 5000 } }, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    await expect(pending).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 500));
    expect(received('cancel')).toHaveLength(1);
    expect(gw.mock!.aborted).toBeGreaterThan(abortedBefore);
  });
});
