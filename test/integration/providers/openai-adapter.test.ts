/**
 * The OpenAI-wire adapter against the real mock server: where requests go, what they carry,
 * what comes back, and the usage captured on the way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProviderAdapters } from '../../../src/providers/index.js';
import { type MockProvider, startMockProvider } from '../../../src/providers/mock/index.js';
import { OpenAIAdapter } from '../../../src/providers/openai/index.js';
import { chatBody, deployment, readAll, sseData, upstreamRequest } from './helpers.js';

const KEY = 'sk-test-CANARY-0123456789';
let mock: MockProvider;
let adapter: OpenAIAdapter;

beforeAll(async () => {
  mock = await startMockProvider({ apiKey: KEY });
  adapter = new OpenAIAdapter();
});
afterAll(async () => {
  await adapter.close();
  await mock.close();
});

describe('request building', () => {
  it('openai: POSTs {baseUrl}/chat/completions with a bearer key and only our headers', async () => {
    const d = deployment({ baseUrl: mock.url, provider: 'openai', upstreamModel: 'gpt-4o-mini' });
    const req = upstreamRequest(chatBody());
    const res = await adapter.send(d, req);
    await readAll(res.body);
    const rec = mock.requests.at(-1);
    expect(rec?.method).toBe('POST');
    expect(rec?.path).toBe('/v1/chat/completions');
    expect(rec?.query).toEqual({});
    expect(rec?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(rec?.headers['api-key']).toBeUndefined();
    expect(rec?.headers['x-request-id']).toBe(req.requestId);
    expect(rec?.headers['user-agent']).toBe('gatehouse/0.1');
    expect(rec?.headers['content-type']).toBe('application/json');
    const names = Object.keys(rec?.headers ?? {}).sort();
    expect(names).toEqual(['accept', 'accept-encoding', 'authorization', 'connection', 'content-length', 'content-type', 'host', 'user-agent', 'x-request-id']);
    expect(rec?.headers['accept-encoding']).toBe('identity');
  });

  it('openai-compatible: tolerates a trailing slash and maps each operation', async () => {
    const d = deployment({ baseUrl: `${mock.url}/`, provider: 'openai-compatible', kind: 'embedding' });
    const emb = await adapter.send(d, upstreamRequest({ model: 'x', input: 'hi', dimensions: 4 }, { operation: 'embeddings' }));
    await readAll(emb.body);
    expect(mock.requests.at(-1)?.path).toBe('/v1/embeddings');
    const cmp = await adapter.send(d, upstreamRequest({ model: 'x', prompt: 'hi' }, { operation: 'completions' }));
    await readAll(cmp.body);
    expect(mock.requests.at(-1)?.path).toBe('/v1/completions');
  });

  it('azure: deployment path, api-version query, api-key header and no authorization', async () => {
    const d = deployment({ baseUrl: mock.origin, provider: 'azure', upstreamModel: 'my-gpt', apiVersion: '2024-10-21' });
    const res = await adapter.send(d, upstreamRequest(chatBody('azure route')));
    expect(res.status).toBe(200);
    expect(await readAll(res.body)).toContain('azure route');
    const rec = mock.requests.at(-1);
    expect(rec?.path).toBe('/openai/deployments/my-gpt/chat/completions');
    expect(rec?.query).toEqual({ 'api-version': '2024-10-21' });
    expect(rec?.headers['api-key']).toBe(KEY);
    expect(rec?.headers.authorization).toBeUndefined();
  });

  it('sends no auth header at all for a deployment without a key', async () => {
    const open = await startMockProvider({});
    try {
      const d = deployment({ baseUrl: open.url, provider: 'openai-compatible', apiKey: '' });
      await readAll((await adapter.send(d, upstreamRequest(chatBody()))).body);
      expect(open.requests.at(-1)?.headers.authorization).toBeUndefined();
    } finally {
      await open.close();
    }
  });

  it('forwards unknown fields untouched, replaces model, and leaves the caller body alone', async () => {
    const d = deployment({ baseUrl: mock.url, upstreamModel: 'upstream-x' });
    const body = chatBody('pass', { vendor_extension: { nested: [1, 'two', null] }, temperature: 0.3, base_url: 'http://evil' });
    const before = structuredClone(body);
    await readAll((await adapter.send(d, upstreamRequest(body))).body);
    expect(body).toEqual(before);
    expect(mock.requests.at(-1)?.body).toEqual({ ...before, model: 'upstream-x' });
  });

  it("provider 'mock' sends the deployment's behaviour; the request's own mock field wins", async () => {
    const behaviour = { latencyMs: 0, tokensPerSecond: 0, errorRate: 0, errorStatus: 500 };
    const d = deployment({ baseUrl: mock.url, provider: 'mock', mock: behaviour });
    await readAll((await adapter.send(d, upstreamRequest(chatBody('m', { mock: { tokens: 3 } })))).body);
    expect((mock.requests.at(-1)?.body as Record<string, unknown>).mock).toEqual({ ...behaviour, tokens: 3 });
    const real = deployment({ baseUrl: mock.url, provider: 'openai', mock: behaviour });
    await readAll((await adapter.send(real, upstreamRequest(chatBody('m')))).body);
    expect((mock.requests.at(-1)?.body as Record<string, unknown>).mock).toBeUndefined();
  });

  it('does not force stream_options on streaming requests', async () => {
    const d = deployment({ baseUrl: mock.url });
    const res = await adapter.send(d, upstreamRequest(chatBody('s', { stream: true })));
    await readAll(res.body);
    const sent = mock.requests.at(-1)?.body as Record<string, unknown>;
    expect(sent.stream).toBe(true);
    expect(sent.stream_options).toBeUndefined();
    expect(mock.requests.at(-1)?.headers.accept).toContain('text/event-stream');
  });

  it('every OpenAI-wire kind is served by the same adapter', async () => {
    const adapters = createProviderAdapters();
    const a = adapters.get('openai');
    expect(adapters.get('azure')).toBe(a);
    expect(adapters.get('openai-compatible')).toBe(a);
    expect(adapters.get('mock')).toBe(a);
    await adapters.close();
  });
});

describe('responses and usage', () => {
  it('JSON: passes status, filtered headers and the exact bytes, and captures usage', async () => {
    const d = deployment({ baseUrl: mock.url, provider: 'mock' });
    const res = await adapter.send(d, upstreamRequest(chatBody('usage please')));
    expect(res.status).toBe(200);
    expect(Object.keys(res.headers).sort()).toEqual(['content-length', 'content-type', 'openai-processing-ms', 'x-upstream-request-id']);
    expect(res.headers['x-upstream-request-id']).toMatch(/^req_/);
    const text = await readAll(res.body);
    expect(Buffer.byteLength(text)).toBe(Number(res.headers['content-length']));
    const parsed = JSON.parse(text) as { usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } };
    expect(await res.usage).toEqual({
      promptTokens: parsed.usage.prompt_tokens,
      completionTokens: parsed.usage.completion_tokens,
      totalTokens: parsed.usage.total_tokens,
      cachedTokens: 0,
    });
  });

  it('embeddings (base64): usage without completion tokens', async () => {
    const d = deployment({ baseUrl: mock.url, kind: 'embedding' });
    const res = await adapter.send(d, upstreamRequest({ model: 'e', input: ['a b c d e f g h'], encoding_format: 'base64' }, { operation: 'embeddings' }));
    await readAll(res.body);
    expect(await res.usage).toEqual({ promptTokens: 4, completionTokens: 0, totalTokens: 4, cachedTokens: 0 });
  });

  it('SSE: pipes the stream unchanged and captures the include_usage chunk', async () => {
    const d = deployment({ baseUrl: mock.url });
    const res = await adapter.send(d, upstreamRequest(chatBody('stream usage', { stream: true, stream_options: { include_usage: true }, mock: { tokens: 50 } })));
    expect(res.headers['content-type']).toContain('text/event-stream');
    expect(res.headers['content-length']).toBeUndefined();
    const data = sseData(await readAll(res.body));
    expect(data.at(-1)).toBe('[DONE]');
    expect(data).toHaveLength(1 + 50 + 1 + 1 + 1);
    expect(await res.usage).toMatchObject({ completionTokens: 50, totalTokens: 50 + Math.ceil('stream usage'.length / 4) });
  });

  it('SSE without include_usage resolves to an estimate: one output token per choice chunk', async () => {
    const d = deployment({ baseUrl: mock.url });
    const res = await adapter.send(d, upstreamRequest(chatBody('x', { stream: true })));
    const text = await readAll(res.body);
    const chunks = text.split('"choices":[{').length - 1;
    expect(chunks).toBeGreaterThan(1);
    expect(await res.usage).toEqual({ promptTokens: 0, completionTokens: chunks, totalTokens: chunks, cachedTokens: 0, estimated: true });
  });

  it('serves many concurrent requests over the pool', async () => {
    const d = deployment({ baseUrl: mock.url, capacity: 4 });
    const all = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const res = await adapter.send(d, upstreamRequest(chatBody(`n${i}`)));
        return readAll(res.body);
      }),
    );
    all.forEach((text, i) => expect(text).toContain(`n${i}`));
  });
});
