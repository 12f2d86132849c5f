/**
 * The mock's other endpoints in the real wire format, checked with the official SDK (v6):
 * legacy completions, embeddings (the SDK's default base64 included), models, auth, the Azure
 * forms, injected errors and malformed bodies.
 */
import OpenAI, { AzureOpenAI } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockProvider, startMockProvider } from '../../../src/providers/mock/index.js';

let mock: MockProvider;
let client: OpenAI;

beforeAll(async () => {
  mock = await startMockProvider({ apiKey: 'sk-mock-secret' });
  client = new OpenAI({ baseURL: mock.url, apiKey: 'sk-mock-secret', maxRetries: 0 });
});
afterAll(() => mock.close());

describe('legacy completions', () => {
  it('answers text_completion objects for each prompt and n', async () => {
    const r = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: ['one', 'two'], n: 2 });
    expect(r.object).toBe('text_completion');
    expect(r.id).toMatch(/^cmpl-/);
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(r.choices[0]?.text).toContain('one');
    expect(r.choices[2]?.text).toContain('two');
    expect(r.usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('streams text pieces, a finish event and a usage chunk', async () => {
    const stream = await client.completions.create({
      model: 'i',
      prompt: 'stream it',
      max_tokens: 3,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.Completion[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.text ?? '').join('')).toBe(' This is a');
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('length');
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(3);
  });
});

describe('embeddings', () => {
  it('decodes the SDK default (base64 float32 little-endian) into unit vectors of 1536 dims', async () => {
    const r = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'] });
    const sent = mock.requests.at(-1)?.body as Record<string, unknown>;
    expect(sent.encoding_format).toBe('base64');
    expect(r.data).toHaveLength(2);
    const [a, b] = r.data.map((d) => d.embedding);
    expect(a).toHaveLength(1536);
    const norm = Math.sqrt((a ?? []).reduce((s, v) => s + v * v, 0));
    expect(norm).toBeCloseTo(1, 4);
    expect(a).not.toEqual(b);
    expect(r.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it('gives the same vector as floats and as base64, and honours dimensions', async () => {
    const floats = await client.embeddings.create({ model: 'e', input: 'same', encoding_format: 'float', dimensions: 8 });
    const decoded = await client.embeddings.create({ model: 'e', input: 'same', dimensions: 8 });
    expect(floats.data[0]?.embedding).toHaveLength(8);
    expect(decoded.data[0]?.embedding).toEqual(floats.data[0]?.embedding);
  });

  it('accepts token arrays and rejects an invalid input in the envelope', async () => {
    const r = await client.embeddings.create({ model: 'e', input: [[1, 2, 3], [4, 5]], encoding_format: 'float' });
    expect(r.usage.prompt_tokens).toBe(5);
    await expect(client.embeddings.create({ model: 'e', input: [{ bad: true }] as unknown as string[] })).rejects.toBeInstanceOf(
      OpenAI.BadRequestError,
    );
  });

  it('refuses a batch whose answer would be huge (inputs × dimensions over 2^20), in the envelope', async () => {
    const inputs = Array.from({ length: 200 }, (_, i) => `t${i}`);
    await expect(client.embeddings.create({ model: 'e', input: inputs, dimensions: 8192 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    expect((await client.embeddings.create({ model: 'e', input: inputs, dimensions: 64 })).data).toHaveLength(200);
  });
});

describe('models and auth', () => {
  it('lists and retrieves models; unknown ids are 404', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toContain('mock-model');
    const one = await client.models.retrieve('gpt-4o-mini');
    expect(one).toMatchObject({ id: 'gpt-4o-mini', object: 'model', owned_by: 'gatehouse-mock' });
    await expect(client.models.retrieve('nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('answers 401 in the envelope for a wrong key, without echoing it', async () => {
    const bad = new OpenAI({ baseURL: mock.url, apiKey: 'sk-wrong-key', maxRetries: 0 });
    const err = await bad.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('invalid_api_key');
    expect(String((err as Error).message)).not.toContain('sk-wrong-key');
  });
});

describe('Azure forms', () => {
  it('serves chat and embeddings on /openai/deployments/{name}/... with api-version and api-key', async () => {
    const azure = new AzureOpenAI({ endpoint: mock.origin, apiKey: 'sk-mock-secret', apiVersion: '2024-10-21', deployment: 'my-gpt', maxRetries: 0 });
    const r = await azure.chat.completions.create({ model: '', messages: [{ role: 'user', content: 'azure hi' }] });
    expect(r.choices[0]?.message.content).toContain('azure hi');
    const rec = mock.requests.at(-1);
    expect(rec?.path).toBe('/openai/deployments/my-gpt/chat/completions');
    expect(rec?.query).toEqual({ 'api-version': '2024-10-21' });
    expect(rec?.headers['api-key']).toBe('sk-mock-secret');
    const e = await azure.embeddings.create({ model: 'x', input: 'v', dimensions: 4 });
    expect(e.data[0]?.embedding).toHaveLength(4);
  });

  it('requires api-version (400) and an api-key header (401)', async () => {
    const post = (path: string, headers: Record<string, string>): Promise<Response> =>
      fetch(mock.origin + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"messages":[{"role":"user","content":"x"}]}' });
    const noVersion = await post('/openai/deployments/d/chat/completions', { 'api-key': 'sk-mock-secret' });
    expect(noVersion.status).toBe(400);
    expect(((await noVersion.json()) as { error: { param: string } }).error.param).toBe('api-version');
    const noKey = await post('/openai/deployments/d/chat/completions?api-version=1', { authorization: 'Bearer sk-mock-secret' });
    expect(noKey.status).toBe(401);
  });
});

describe('behaviour and bad requests', () => {
  it('injects errors per request: 429 with Retry-After raises RateLimitError', async () => {
    const err = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'x' }], mock: { errorRate: 1, errorStatus: 429 } } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers?.get('retry-after')).toBe('1');
  });

  it('injects 5xx as InternalServerError and delays by latencyMs', async () => {
    const t0 = Date.now();
    const err = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'x' }], mock: { errorRate: 1, errorStatus: 503, latencyMs: 60 } } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming)
      .catch((e: unknown) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
  });

  it('answers malformed JSON and missing messages with 400 envelopes', async () => {
    const res = await fetch(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-mock-secret', 'content-type': 'application/json' },
      body: '{"model": "m", "messages": [',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { message: string; type: string } };
    expect(body.error.type).toBe('invalid_request_error');
    await expect(client.chat.completions.create({ model: 'm', messages: [] })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('records the last 100 requests with method, path, query, headers and body', async () => {
    for (let i = 0; i < 105; i++) await fetch(`${mock.url}/models?i=${i}`, { headers: { authorization: 'Bearer sk-mock-secret' } });
    expect(mock.requests).toHaveLength(100);
    expect(mock.requests.at(-1)).toMatchObject({ method: 'GET', path: '/v1/models', query: { i: '104' } });
    expect(mock.requests[0]?.query).toEqual({ i: '5' });
  });
});
