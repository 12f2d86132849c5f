/**
 * The per-tenant response cache (issue 7) through the gateway with the mock provider: hit and
 * miss headers, a hit never reaches the upstream, identical requests of two tenants never share
 * an answer, Cache-Control no-store / no-cache, a tenant at its cache_bytes quota stores nothing
 * more, streamed answers replay as SSE, and a hit is charged as a request at zero tokens.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { REDIS_URL, redisAvailable } from '../helpers/services.js';

const ACME = 'sk-acme-cache-0123456789abcdef0123456789ab';
const GLOBEX = 'sk-globex-cache-0123456789abcdef0123456789';
const TINY = 'sk-tiny-cache-0123456789abcdef0123456789ab';
const OFF = 'sk-off-cache-0123456789abcdef0123456789abc';

const YAML = `
deployments:
  - model: gpt-4o-mini
    provider: mock
  - model: text-embedding-3-small
    provider: mock
    kind: embedding
plans:
  - name: tiny-cache
    weight: 1
    rules:
      - { id: cache-bytes, metric: cache_bytes, limit: 1500 }
tenants:
  - slug: acme
    cache: { enabled: true, ttlSeconds: 600 }
    keys: [{ name: main, value: ${ACME} }]
    limits:
      - { id: rpd, metric: requests, window: day, limit: 1000 }
      - { id: tokens-day, metric: tokens, window: day, limit: 1000000 }
  - slug: globex
    cache: { enabled: true, ttlSeconds: 600 }
    keys: [{ name: main, value: ${GLOBEX} }]
  - slug: tiny
    plan: tiny-cache
    cache: { enabled: true }
    keys: [{ name: main, value: ${TINY} }]
  - slug: off
    keys: [{ name: main, value: ${OFF} }]
`;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ yaml: YAML });
  // A tenant's first model request on an instance loads its cache settings and keys in the
  // background (no request waits on the database) and goes uncached.
  for (const key of [ACME, GLOBEX, TINY, OFF]) {
    const first = await chat(key, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'warm up' }] });
    expect(first.headers['x-gatehouse-cache']).toBeUndefined();
  }
  await new Promise((r) => setTimeout(r, 300));
}, 120_000);
afterAll(async () => {
  await gw?.stop();
});

async function post(key: string, path: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await request(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}
const chat = (key: string, body: Record<string, unknown>, headers?: Record<string, string>) => post(key, '/v1/chat/completions', body, headers);

/** Responses the mock upstream has written: a hit must not add one. */
const upstreamCalls = () => (gw.mock?.completed ?? 0) + (gw.mock?.aborted ?? 0);

async function metric(outcome: string): Promise<number> {
  const res = await request(`${gw.url}/metrics`);
  const text = await res.body.text();
  const m = new RegExp(`^gatehouse_cache_events_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** Stores happen after the response (off the client's path): wait until `n` more have. */
async function storedAtLeast(n: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await metric('stored')) >= n) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`fewer than ${n} cache stores`);
}

const ask = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  temperature: 0,
  messages: [{ role: 'user', content }],
  ...extra,
});

describe('response cache', () => {
  it('a miss is stored; the identical request is a hit served without the upstream', async () => {
    const stored = await metric('stored');
    const first = await chat(ACME, ask('cache me'));
    expect(first.status).toBe(200);
    expect(first.headers['x-gatehouse-cache']).toBe('miss');
    await storedAtLeast(stored + 1);

    const before = upstreamCalls();
    // Key order and the end-user id do not change the answer, so not the key either.
    const hit = await chat(ACME, { messages: [{ content: 'cache me', role: 'user' }], temperature: 0, model: 'gpt-4o-mini', user: 'u1' });
    expect(hit.status).toBe(200);
    expect(hit.headers['x-gatehouse-cache']).toBe('hit');
    expect(Number(hit.headers.age)).toBeGreaterThanOrEqual(0);
    expect(hit.headers['x-tenant-id']).toBe('acme');
    expect(hit.text).toBe(first.text);
    expect(upstreamCalls()).toBe(before);
  });

  it('a hit still goes through admission: it counts as a request, not as tokens', async () => {
    const stored = await metric('stored');
    const first = await chat(ACME, ask('count me'));
    await storedAtLeast(stored + 1);
    const hit = await chat(ACME, ask('count me'));
    expect(hit.headers['x-gatehouse-cache']).toBe('hit');
    expect(Number(hit.headers['x-ratelimit-remaining-requests'])).toBe(Number(first.headers['x-ratelimit-remaining-requests']) - 1);
    // Token reservations of hits are given back in full: the next request sees the same tokens left.
    await new Promise((r) => setTimeout(r, 50));
    const after = await chat(ACME, ask('count me'));
    expect(after.headers['x-gatehouse-cache']).toBe('hit');
    expect(after.headers['x-ratelimit-remaining-tokens']).toBe(hit.headers['x-ratelimit-remaining-tokens']);
  });

  it('two tenants sending the identical request never see each other\'s answer', async () => {
    const stored = await metric('stored');
    await chat(ACME, ask('shared prompt'));
    await storedAtLeast(stored + 1);
    const before = upstreamCalls();
    const other = await chat(GLOBEX, ask('shared prompt'));
    expect(other.headers['x-gatehouse-cache']).toBe('miss');
    expect(other.headers['x-tenant-id']).toBe('globex');
    expect(upstreamCalls()).toBe(before + 1);
  });

  it('non-deterministic requests bypass the cache; x-gatehouse-cache: on opts one in', async () => {
    const a = await chat(ACME, ask('warm', { temperature: 0.8 }));
    expect(a.headers['x-gatehouse-cache']).toBe('bypass');
    const stored = await metric('stored');
    const forced = await chat(ACME, ask('warm', { temperature: 0.8 }), { 'x-gatehouse-cache': 'on' });
    expect(forced.headers['x-gatehouse-cache']).toBe('miss');
    await storedAtLeast(stored + 1);
    expect((await chat(ACME, ask('warm', { temperature: 0.8 }), { 'x-gatehouse-cache': 'on' })).headers['x-gatehouse-cache']).toBe('hit');
  });

  it('no-store neither serves nor stores; no-cache skips the lookup but stores', async () => {
    const stored = await metric('stored');
    const ns = await chat(ACME, ask('private'), { 'cache-control': 'no-store' });
    expect(ns.headers['x-gatehouse-cache']).toBe('bypass');
    await new Promise((r) => setTimeout(r, 100));
    expect(await metric('stored')).toBe(stored);
    expect((await chat(ACME, ask('private'), { 'cache-control': 'no-store' })).headers['x-gatehouse-cache']).toBe('bypass');

    await chat(ACME, ask('fresh'));
    await storedAtLeast(stored + 1);
    const before = upstreamCalls();
    const nc = await chat(ACME, ask('fresh'), { 'cache-control': 'no-cache' });
    expect(nc.headers['x-gatehouse-cache']).toBe('miss');
    expect(upstreamCalls()).toBe(before + 1);
    expect((await chat(ACME, ask('fresh'), { 'cache-control': 'max-age=600' })).headers['x-gatehouse-cache']).toBe('hit');
  });

  it('a tenant at its cache_bytes quota gets nothing more stored', async () => {
    const stored = await metric('stored');
    const quota = await metric('quota');
    await chat(TINY, ask('one'));
    await storedAtLeast(stored + 1);
    await chat(TINY, ask('two'));
    for (let i = 0; i < 100 && (await metric('quota')) === quota; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await metric('quota')).toBe(quota + 1);
    expect((await chat(TINY, ask('one'))).headers['x-gatehouse-cache']).toBe('hit');
    expect((await chat(TINY, ask('two'))).headers['x-gatehouse-cache']).toBe('miss');
  });

  it('a tenant that did not opt in sees no cache at all', async () => {
    const a = await chat(OFF, ask('nothing'));
    expect(a.headers['x-gatehouse-cache']).toBeUndefined();
  });

  it('embeddings are cached', async () => {
    const stored = await metric('stored');
    const body = { model: 'text-embedding-3-small', input: 'embed me' };
    const first = await post(ACME, '/v1/embeddings', body);
    expect(first.headers['x-gatehouse-cache']).toBe('miss');
    await storedAtLeast(stored + 1);
    const hit = await post(ACME, '/v1/embeddings', body);
    expect(hit.headers['x-gatehouse-cache']).toBe('hit');
    expect(hit.text).toBe(first.text);
  });

  it('a streamed answer is replayed as the same SSE stream', async () => {
    const stored = await metric('stored');
    const body = ask('stream me', { stream: true, stream_options: { include_usage: true } });
    const first = await chat(ACME, body);
    expect(first.headers['content-type']).toContain('text/event-stream');
    expect(first.text).toContain('data: [DONE]');
    await storedAtLeast(stored + 1);
    const before = upstreamCalls();
    const hit = await chat(ACME, body);
    expect(hit.headers['x-gatehouse-cache']).toBe('hit');
    expect(hit.headers['content-type']).toContain('text/event-stream');
    expect(hit.text).toBe(first.text);
    expect(upstreamCalls()).toBe(before);
    // The non-streamed form of the same request is another entry.
    expect((await chat(ACME, ask('stream me'))).headers['x-gatehouse-cache']).toBe('miss');
  });

  it('an Anthropic /v1/messages request is cached too, and replayed in Anthropic\'s format', async () => {
    const stored = await metric('stored');
    const body = { model: 'gpt-4o-mini', max_tokens: 50, temperature: 0, messages: [{ role: 'user', content: 'anthropic cache' }] };
    const first = await post(ACME, '/v1/messages', body, { 'anthropic-version': '2023-06-01' });
    expect(first.status, first.text).toBe(200);
    expect(first.headers['x-gatehouse-cache']).toBe('miss');
    await storedAtLeast(stored + 1);
    const before = upstreamCalls();
    const hit = await post(ACME, '/v1/messages', body, { 'anthropic-version': '2023-06-01' });
    expect(hit.headers['x-gatehouse-cache']).toBe('hit');
    expect(hit.headers.age).toMatch(/^\d+$/);
    expect(first.headers.age).toBeUndefined();
    expect(JSON.parse(hit.text)).toMatchObject({ type: 'message', role: 'assistant' });
    expect(JSON.parse(hit.text).content).toEqual(JSON.parse(first.text).content);
    expect(upstreamCalls()).toBe(before);

    // Streamed: replayed as Anthropic events, with its age too.
    const streamStored = await metric('stored');
    const streamed = { ...body, stream: true, messages: [{ role: 'user', content: 'anthropic cache stream' }] };
    const s1 = await post(ACME, '/v1/messages', streamed, { 'anthropic-version': '2023-06-01' });
    expect(s1.text).toContain('event: message_stop');
    await storedAtLeast(streamStored + 1);
    const s2 = await post(ACME, '/v1/messages', streamed, { 'anthropic-version': '2023-06-01' });
    expect(s2.headers['x-gatehouse-cache']).toBe('hit');
    expect(s2.headers.age).toMatch(/^\d+$/);
    expect(s2.headers['content-type']).toContain('text/event-stream');
    expect(s2.text).toContain('event: message_stop');
  });

  it('a malformed Cache-Control is a 400', async () => {
    const res = await chat(ACME, ask('bad'), { 'cache-control': 'max-age=soon' });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error.param).toBe('cache-control');
  });
});

describe.skipIf(!(await redisAvailable()))('response cache in Redis', () => {
  let rgw: TestGateway;
  beforeAll(async () => {
    rgw = await startTestGateway({ yaml: `${YAML}\ncache:\n  redisUrl: ${REDIS_URL}\n` });
    for (const key of [ACME, GLOBEX]) {
      await request(`${rgw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'warm up' }] }),
      }).then((r) => r.body.text());
    }
    await new Promise((r) => setTimeout(r, 300));
  }, 120_000);
  afterAll(async () => {
    await rgw?.stop();
  });

  const rchat = async (key: string, body: Record<string, unknown>) => {
    const res = await request(`${rgw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify(body),
    });
    return { headers: res.headers, text: await res.body.text() };
  };

  it('hits come from Redis; the other tenant on the same Redis misses', async () => {
    const body = ask(`redis ${Date.now()}`);
    expect((await rchat(ACME, body)).headers['x-gatehouse-cache']).toBe('miss');
    // Stored after the response, off the client's path.
    await new Promise((r) => setTimeout(r, 300));
    const seen = (await rchat(ACME, body)).headers['x-gatehouse-cache'];
    expect(seen).toBe('hit');
    const before = (rgw.mock?.completed ?? 0);
    expect((await rchat(GLOBEX, body)).headers['x-gatehouse-cache']).toBe('miss');
    expect(rgw.mock?.completed).toBe(before + 1);
  });
});
