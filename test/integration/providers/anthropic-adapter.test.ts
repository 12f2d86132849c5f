/**
 * The Anthropic adapter against the mock Anthropic server (real HTTP, real wire format): JSON,
 * streams, tools, error mapping, usage for metering, and cancellation.
 */
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { AnthropicAdapter } from '../../../src/providers/anthropic/index.js';
import { type MockAnthropic, startMockAnthropic } from '../../../src/providers/mock/anthropic/index.js';
import { UpstreamHttpError } from '../../../src/providers/upstream-errors.js';
import { chatBody, deployment, readAll, sseData, upstreamRequest } from './helpers.js';

const KEY = 'sk-ant-test-CANARY-0123456789';
let mock: MockAnthropic;
let adapter: AnthropicAdapter;

beforeAll(async () => {
  mock = await startMockAnthropic({ apiKey: KEY });
  adapter = new AnthropicAdapter();
});
afterAll(async () => {
  await adapter.close();
  await mock.close();
});

const dep = (over: Parameters<typeof deployment>[0] extends infer P ? Partial<P> : never = {}) =>
  deployment({ baseUrl: mock.url, provider: 'anthropic', apiKey: KEY, upstreamModel: 'claude-mock', ...over });

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather',
    parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
  },
};

async function failure(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

describe('Anthropic adapter', () => {
  it('sends a Messages request with only its own headers and translates the JSON answer', async () => {
    const res = await adapter.send(dep(), upstreamRequest(chatBody('Hello there', { messages: [{ role: 'system', content: 'Be nice.' }, { role: 'user', content: 'Hello there' }], max_tokens: 50 })));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    const body = JSON.parse(await readAll(res.body)) as { object: string; model: string; choices: { message: { content: string }; finish_reason: string }[]; usage: { prompt_tokens: number } };
    expect(body.object).toBe('chat.completion');
    expect(body.model).toBe('claude-mock');
    expect(body.choices[0]?.message.content).toBe('Hello from mock Claude. You said: Hello there');
    expect(body.choices[0]?.finish_reason).toBe('stop');
    const usage = await res.usage;
    expect(usage?.completionTokens).toBe(8);
    expect(usage?.promptTokens).toBeGreaterThan(0);
    expect(body.usage.prompt_tokens).toBe(usage?.promptTokens);

    const sent = mock.requests.at(-1);
    expect(sent?.path).toBe('/v1/messages');
    expect(sent?.headers['x-api-key']).toBe(KEY);
    expect(sent?.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent?.headers['accept-encoding']).toBe('identity');
    expect(sent?.headers.authorization).toBeUndefined();
    expect(sent?.body).toMatchObject({ model: 'claude-mock', max_tokens: 50, system: 'Be nice.', messages: [{ role: 'user', content: 'Hello there' }] });
  });

  it('maps max_tokens to finish_reason length', async () => {
    const res = await adapter.send(dep(), upstreamRequest(chatBody('one two three four five', { max_tokens: 2 })));
    const body = JSON.parse(await readAll(res.body)) as { choices: { finish_reason: string }[] };
    expect(body.choices[0]?.finish_reason).toBe('length');
  });

  it('returns tool calls with JSON-string arguments', async () => {
    const res = await adapter.send(dep(), upstreamRequest(chatBody('What is the weather in Paris?', { tools: [WEATHER_TOOL] })));
    const body = JSON.parse(await readAll(res.body)) as { choices: { message: { tool_calls: { id: string; function: { name: string; arguments: string } }[] }; finish_reason: string }[] };
    const call = body.choices[0]?.message.tool_calls[0];
    expect(body.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.id).toMatch(/^toolu_/);
    expect(call?.function.name).toBe('get_weather');
    expect(JSON.parse(call?.function.arguments ?? '')).toEqual({ location: 'San Francisco, CA' });
  });

  it('sends a tool result back as a tool_result block in a user turn', async () => {
    const messages = [
      { role: 'user', content: 'weather?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'sunny, 21C' },
    ];
    const res = await adapter.send(dep(), upstreamRequest({ model: 'x', messages, tools: [WEATHER_TOOL] }));
    const body = JSON.parse(await readAll(res.body)) as { choices: { message: { content: string } }[] };
    expect(body.choices[0]?.message.content).toBe('The tool said: sunny, 21C');
    expect(mock.requests.at(-1)?.body).toMatchObject({
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny, 21C' }] },
      ],
    });
  });

  it('streams text as chat.completion.chunk SSE with a usage chunk and [DONE]', async () => {
    const res = await adapter.send(dep(), upstreamRequest(chatBody('Stream me', { stream: true, stream_options: { include_usage: true } })));
    expect(res.headers['content-type']).toBe('text/event-stream');
    const data = sseData(await readAll(res.body));
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as { object: string; choices: { delta: { content?: string }; finish_reason: string | null }[]; usage?: { completion_tokens: number } });
    expect(chunks.every((c) => c.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('Hello from mock Claude. You said: Stream me');
    expect(chunks.filter((c) => c.choices[0]?.finish_reason === 'stop')).toHaveLength(1);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(8);
    expect((await res.usage)?.completionTokens).toBe(8);
  });

  it('streams tool calls as tool-call deltas whose fragments join to the arguments', async () => {
    const res = await adapter.send(dep(), upstreamRequest(chatBody('Use a tool please', { stream: true, tools: [WEATHER_TOOL], tool_choice: 'required' })));
    const chunks = sseData(await readAll(res.body)).slice(0, -1).map((d) => JSON.parse(d) as { choices: { delta: { tool_calls?: { index: number; id?: string; function: { name?: string; arguments: string } }[] }; finish_reason: string | null }[]; usage?: unknown });
    const deltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(deltas[0]).toMatchObject({ index: 0, id: expect.stringMatching(/^toolu_/), function: { name: 'get_weather', arguments: '' } });
    expect(deltas.length).toBeGreaterThan(2);
    expect(JSON.parse(deltas.map((d) => d.function.arguments).join(''))).toEqual({ location: 'San Francisco, CA' });
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
    expect(chunks.some((c) => c.usage !== undefined)).toBe(false);
    // Metered even though the client did not ask to see usage.
    expect((await res.usage)?.promptTokens).toBeGreaterThan(0);
    expect(mock.requests.at(-1)?.body).toMatchObject({ tool_choice: { type: 'any' }, stream: true });
  });

  it('fails a stream whose upstream sends an error event', async () => {
    const res = await adapter.send(dep({ upstreamModel: 'claude-stream-error' }), upstreamRequest(chatBody('x', { stream: true })));
    await expect(readAll(res.body)).rejects.toThrow(/overloaded_error/);
    expect((await res.usage)?.promptTokens).toBeGreaterThan(0);
  });

  it('maps Anthropic errors like the OpenAI adapter maps OpenAI errors', async () => {
    const send = (model: string) => adapter.send(dep({ upstreamModel: model }), upstreamRequest(chatBody('x')));
    const limited = await failure(send('claude-error-429'));
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('7');
    const overloaded = await failure(send('claude-error-529'));
    expect(overloaded.status).toBe(503);
    expect((overloaded.cause as UpstreamHttpError).status).toBe(529);
    for (const status of [401, 403, 500]) {
      const err = await failure(send(`claude-error-${status}`));
      expect(err.status, String(status)).toBe(502);
      expect((err.cause as UpstreamHttpError).status).toBe(status);
    }
    for (const status of [400, 404, 413]) {
      const res = await send(`claude-error-${status}`);
      expect(res.status).toBe(status);
      const body = JSON.parse(await readAll(res.body)) as { error: { message: string; type: string; code: string } };
      expect(body.error).toMatchObject({ type: 'invalid_request_error', code: `upstream_http_${status}` });
      expect(body.error.message).toContain('Injected error');
    }
  });

  it('a wrong provider credential is a 502 whose message does not echo the key', async () => {
    const err = await failure(adapter.send(dep({ apiKey: 'sk-ant-wrong-CANARY-987654321' }), upstreamRequest(chatBody('x'))));
    expect(err.status).toBe(502);
    expect(err.message).not.toContain('CANARY');
  });

  it('refuses embeddings and completions with a 400 unsupported_operation', async () => {
    const err = await failure(adapter.send(dep(), upstreamRequest({ input: 'x' }, { operation: 'embeddings' })));
    expect(err).toMatchObject({ status: 400, code: 'unsupported_operation' });
    const before = mock.requests.length;
    await failure(adapter.send(dep(), upstreamRequest({ prompt: 'x' }, { operation: 'completions' })));
    expect(mock.requests.length).toBe(before);
  });

  it('destroying the translated body mid-stream aborts the upstream request', async () => {
    const slow = await startMockAnthropic({ apiKey: KEY, eventDelayMs: 30 });
    try {
      const res = await adapter.send(dep({ baseUrl: slow.url }), upstreamRequest(chatBody('a b c d e f g h i j k l m n o p', { stream: true })));
      await firstChunk(res.body);
      res.body.destroy();
      await expect.poll(() => slow.aborted, { timeout: 3_000 }).toBe(1);
      expect(slow.completed).toBe(0);
      expect((await res.usage)?.promptTokens).toBeGreaterThan(0);
    } finally {
      await slow.close();
    }
  });

  it('aborting the signal mid-stream errors the body with the reason and aborts the upstream', async () => {
    const slow = await startMockAnthropic({ apiKey: KEY, eventDelayMs: 30 });
    try {
      const ac = new AbortController();
      const res = await adapter.send(dep({ baseUrl: slow.url }), upstreamRequest(chatBody('a b c d e f g h', { stream: true }), { signal: ac.signal }));
      await firstChunk(res.body);
      const failed = readAll(res.body);
      ac.abort(new Error('client went away'));
      await expect(failed).rejects.toThrow('client went away');
      await expect.poll(() => slow.aborted, { timeout: 3_000 }).toBe(1);
    } finally {
      await slow.close();
    }
  });
});

function firstChunk(body: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    body.once('error', reject);
    body.once('readable', () => {
      const chunk = body.read() as Buffer | null;
      if (chunk === null) reject(new Error('no data'));
      else resolve(chunk);
    });
  });
}
