/**
 * The mock Gemini server speaks like Google: key required, unknown fields refused, Google's
 * error bodies, SSE with `alt=sse` and a JSON array without, embeddings per request.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockGemini, startMockGemini } from '../../../src/providers/mock/gemini/index.js';

const KEY = 'AIza-mock-key';
let mock: MockGemini;

beforeAll(async () => {
  mock = await startMockGemini({ apiKey: KEY, models: ['gemini-2.5-flash', 'text-embedding-004'] });
});
afterAll(async () => {
  await mock.close();
});

async function post(path: string, body: unknown, headers: Record<string, string> = { 'x-goog-api-key': KEY }): Promise<{ status: number; type: string; text: string }> {
  const res = await request(`${mock.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.statusCode, type: String(res.headers['content-type']), text: await res.body.text() };
}

const hello = { contents: [{ role: 'user', parts: [{ text: 'hello' }] }] };
const GENERATE = '/v1beta/models/gemini-2.5-flash:generateContent';

describe('mock Gemini', () => {
  it('answers generateContent with candidates and usageMetadata', async () => {
    const res = await post(GENERATE, hello);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({
      candidates: [{ content: { role: 'model', parts: [{ text: 'Gemini mock reply: hello' }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 4, totalTokenCount: 6 },
      modelVersion: 'gemini-2.5-flash',
    });
  });

  it('requires the key: missing is 403 PERMISSION_DENIED, wrong is 400 API_KEY_INVALID', async () => {
    const missing = await post(GENERATE, hello, {});
    expect(missing.status).toBe(403);
    expect(JSON.parse(missing.text)).toMatchObject({ error: { code: 403, status: 'PERMISSION_DENIED' } });
    const wrong = await post(GENERATE, hello, { 'x-goog-api-key': 'nope' });
    expect(wrong.status).toBe(400);
    expect(JSON.parse(wrong.text)).toMatchObject({ error: { status: 'INVALID_ARGUMENT', details: [{ reason: 'API_KEY_INVALID' }] } });
  });

  it('refuses unknown fields and bad values the way Gemini does', async () => {
    const unknown = await post(GENERATE, { ...hello, messages: [] });
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.text)).toEqual({
      error: { code: 400, message: 'Invalid JSON payload received. Unknown name "messages": Cannot find field.', status: 'INVALID_ARGUMENT' },
    });
    const schema = await post(GENERATE, {
      ...hello,
      tools: [{ functionDeclarations: [{ name: 'f', parameters: { type: 'object', additionalProperties: false, properties: { a: { type: 'string' } } } }] }],
    });
    expect(schema.text).toContain('Unknown name \\"additionalProperties\\"');
    const role = await post(GENERATE, { contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] });
    expect(role.text).toContain('Please use a valid role: user, model.');
    const model = await post('/v1beta/models/gemini-0:generateContent', hello);
    expect(model.status).toBe(404);
    expect(JSON.parse(model.text)).toMatchObject({ error: { status: 'NOT_FOUND' } });
  });

  it('streams SSE events with CRLF framing under alt=sse, a JSON array without', async () => {
    const sse = await post('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', hello);
    expect(sse.type).toMatch(/^text\/event-stream/);
    const events = sse.text.split('\r\n\r\n').filter((e) => e !== '');
    expect(events.every((e) => e.startsWith('data: '))).toBe(true);
    const last = JSON.parse(events[events.length - 1]?.slice(6) ?? '') as { candidates: { finishReason?: string }[]; usageMetadata: unknown };
    expect(last.candidates[0]?.finishReason).toBe('STOP');
    expect(last.usageMetadata).toEqual({ promptTokenCount: 2, candidatesTokenCount: 4, totalTokenCount: 6 });
    const array = await post('/v1beta/models/gemini-2.5-flash:streamGenerateContent', hello);
    expect(JSON.parse(array.text)).toHaveLength(events.length);
  });

  it('embeds each request of a batch, checking the model of each', async () => {
    const path = '/v1beta/models/text-embedding-004:batchEmbedContents';
    const ok = await post(path, { requests: [{ model: 'models/text-embedding-004', content: { parts: [{ text: 'a' }] }, outputDimensionality: 4 }] });
    expect((JSON.parse(ok.text) as { embeddings: { values: number[] }[] }).embeddings[0]?.values).toHaveLength(4);
    const bad = await post(path, { requests: [{ model: 'models/other', content: { parts: [{ text: 'a' }] } }] });
    expect(bad.status).toBe(400);
  });
});
