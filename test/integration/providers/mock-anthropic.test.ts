/**
 * The mock Anthropic server validates and answers like the real Messages API: required headers
 * and fields, alternating turns, Anthropic's error envelope, and SSE events in the documented
 * order (test/fixtures/anthropic/stream-text.sse).
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockAnthropic, startMockAnthropic } from '../../../src/providers/mock/anthropic/index.js';
import { dataLines, fixtureText } from '../../unit/providers/anthropic/fixtures.js';

let mock: MockAnthropic;

beforeAll(async () => {
  mock = await startMockAnthropic({ apiKey: 'sk-ant-mock' });
});
afterAll(async () => {
  await mock.close();
});

const HEADERS = { 'x-api-key': 'sk-ant-mock', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
const BODY = { model: 'claude-mock', max_tokens: 20, messages: [{ role: 'user', content: 'Hello' }] };

async function post(body: unknown, headers: Record<string, string> = HEADERS): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const res = await request(`${mock.url}/v1/messages`, { method: 'POST', headers, body: JSON.stringify(body) });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe('mock Anthropic server', () => {
  it('refuses what the real API refuses, in its error envelope', async () => {
    const cases: [unknown, Record<string, string>, number, string][] = [
      [BODY, { 'anthropic-version': '2023-06-01', 'content-type': 'application/json' }, 401, 'authentication_error'],
      [BODY, { ...HEADERS, 'x-api-key': 'wrong' }, 401, 'authentication_error'],
      [BODY, { 'x-api-key': 'sk-ant-mock', 'content-type': 'application/json' }, 400, 'invalid_request_error'],
      [{ ...BODY, max_tokens: undefined }, HEADERS, 400, 'invalid_request_error'],
      [{ ...BODY, messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] }, HEADERS, 400, 'invalid_request_error'],
      [{ ...BODY, messages: [{ role: 'system', content: 'a' }] }, HEADERS, 400, 'invalid_request_error'],
      [{ ...BODY, temperature: 1.5 }, HEADERS, 400, 'invalid_request_error'],
      [{ ...BODY, model: 'claude-error-529' }, HEADERS, 529, 'overloaded_error'],
    ];
    for (const [body, headers, status, type] of cases) {
      const res = await post(body, headers);
      expect({ status: res.status, body: JSON.parse(res.text) as unknown }).toMatchObject({ status, body: { type: 'error', error: { type } } });
    }
    const limited = await post({ ...BODY, model: 'claude-error-429' });
    expect(limited.headers['retry-after']).toBe('7');
  });

  it('streams the documented event sequence with usage in message_start and message_delta', async () => {
    const res = await post({ ...BODY, stream: true });
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const types = (dataLines(res.text) as { type: string }[]).map((e) => e.type);
    const documented = (dataLines(fixtureText('stream-text.sse')) as { type: string }[]).map((e) => e.type);
    // Same opening and closing; the number of deltas depends on the text.
    expect(types.slice(0, 3)).toEqual(documented.slice(0, 3));
    expect(types.slice(-4)).toEqual(documented.slice(-4));
    expect(new Set(types.slice(3, -4))).toEqual(new Set(['content_block_delta']));
    const lines = res.text.split('\n').filter((l) => l.startsWith('event: ')).map((l) => l.slice(7));
    expect(lines).toEqual(types);
    const events = dataLines(res.text) as { type: string; message?: { usage: { input_tokens: number } }; usage?: { output_tokens: number } }[];
    expect(events[0]?.message?.usage.input_tokens).toBeGreaterThan(0);
    expect(events.find((e) => e.type === 'message_delta')?.usage?.output_tokens).toBe(7);
  });
});
