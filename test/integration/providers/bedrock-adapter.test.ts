/**
 * The Bedrock adapter against the mock Bedrock Runtime (which verifies every SigV4 signature):
 * Converse JSON, ConverseStream event streams with tool deltas and usage, Titan embeddings,
 * the error mapping, and cancellation of the upstream when the client goes away.
 */
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { BedrockAdapter } from '../../../src/providers/bedrock/index.js';
import { MOCK_AWS, startMockBedrock, type MockBedrock } from '../../../src/providers/mock/bedrock/index.js';
import type { Deployment, UpstreamResponse } from '../../../src/providers/types.js';
import { UpstreamHttpError } from '../../../src/providers/upstream-errors.js';
import { chatBody, deployment, readAll, sseData, upstreamRequest } from './helpers.js';

let mock: MockBedrock;
let adapter: BedrockAdapter;
let d: Deployment;

beforeAll(async () => {
  mock = await startMockBedrock();
  adapter = new BedrockAdapter();
  d = bedrockDeployment();
});
afterAll(async () => {
  await adapter.close();
  await mock.close();
});

function bedrockDeployment(over: Partial<Deployment> = {}): Deployment {
  return deployment({
    baseUrl: mock.url,
    provider: 'bedrock',
    apiKey: '',
    upstreamModel: 'anthropic.claude-3-haiku-20240307-v1:0',
    aws: MOCK_AWS,
    ...over,
  });
}

const weatherTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};

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

async function json(res: UpstreamResponse): Promise<Record<string, unknown>> {
  return JSON.parse(await readAll(res.body)) as Record<string, unknown>;
}

describe('chat (Converse)', () => {
  it('answers a signed request with an OpenAI chat completion and its usage', async () => {
    const res = await adapter.send(d, upstreamRequest(chatBody('Hello there', { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }] })));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['x-upstream-request-id']).toMatch(/^0{8}-/);
    const body = await json(res);
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'anthropic.claude-3-haiku-20240307-v1:0',
      choices: [{ index: 0, message: { role: 'assistant', content: 'You said: Hello there' }, finish_reason: 'stop' }],
    });
    expect(Number(res.headers['content-length'])).toBeGreaterThan(0);
    // Input: "Be brief." + "Hello there" = 4 words; output: 4 words.
    expect(await res.usage).toEqual({ promptTokens: 4, completionTokens: 4, totalTokens: 8, cachedTokens: 0 });
    expect((body.usage as Record<string, unknown>).total_tokens).toBe(8);
  });

  it('returns tool calls, then answers from the tool result', async () => {
    const first = await json(await adapter.send(d, upstreamRequest(chatBody('What is the weather in Paris?', { tools: [weatherTool], tool_choice: 'required' }))));
    const choice = (first.choices as Array<{ finish_reason: string; message: { tool_calls: Array<{ id: string; function: { name: string; arguments: string } }> } }>)[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    const call = choice?.message.tool_calls[0];
    expect(call?.function.name).toBe('get_weather');
    expect(JSON.parse(call?.function.arguments ?? '')).toEqual({ city: 'Paris' });

    const second = await json(
      await adapter.send(
        d,
        upstreamRequest({
          messages: [
            { role: 'user', content: 'What is the weather in Paris?' },
            { role: 'assistant', content: null, tool_calls: [{ id: call?.id, type: 'function', function: call?.function }] },
            { role: 'tool', tool_call_id: call?.id, content: 'sunny, 21C' },
          ],
          tools: [weatherTool],
        }),
      ),
    );
    expect(second).toMatchObject({ choices: [{ message: { content: 'The tool answered: sunny, 21C' }, finish_reason: 'stop' }] });
  });

  it('maps max_tokens and stop to length and stop', async () => {
    const cut = await json(await adapter.send(d, upstreamRequest(chatBody('one two three four five', { max_tokens: 2 }))));
    expect(cut).toMatchObject({ choices: [{ message: { content: 'You said:' }, finish_reason: 'length' }] });
    const stopped = await json(await adapter.send(d, upstreamRequest(chatBody('alpha beta gamma', { stop: 'gamma' }))));
    expect(stopped).toMatchObject({ choices: [{ finish_reason: 'stop' }] });
  });

  it('refuses a remote image URL before calling upstream', async () => {
    const before = mock.requests;
    const body = { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://example.com/a.png' } }] }] };
    await expect(adapter.send(d, upstreamRequest(body))).rejects.toMatchObject({ status: 400, code: 'invalid_request' });
    expect(mock.requests).toBe(before);
  });
});

describe('chat streaming (ConverseStream)', () => {
  it('streams text chunks, the finish reason, a usage chunk and [DONE]; usage resolves', async () => {
    const res = await adapter.send(d, upstreamRequest(chatBody('Count one two three [cache]', { stream: true, stream_options: { include_usage: true } })));
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const data = sseData(await readAll(res.body));
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((l) => JSON.parse(l) as { choices: Array<{ delta: { content?: string }; finish_reason: string | null }>; usage?: Record<string, number> });
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('You said: Count one two three');
    expect(chunks.filter((c) => c.choices[0]?.finish_reason === 'stop')).toHaveLength(1);
    expect(chunks.at(-1)?.usage).toMatchObject({ completion_tokens: 6, prompt_tokens_details: { cached_tokens: 4 } });
    expect(await res.usage).toEqual({ promptTokens: 9, completionTokens: 6, totalTokens: 15, cachedTokens: 4 });
  });

  it('streams tool-call deltas whose arguments assemble into JSON', async () => {
    const res = await adapter.send(d, upstreamRequest(chatBody('weather in Paris?', { stream: true, tools: [weatherTool] })));
    const chunks = sseData(await readAll(res.body))
      .filter((l) => l !== '[DONE]')
      .map((l) => JSON.parse(l) as { choices: Array<{ delta: { tool_calls?: Array<{ index: number; id?: string; function: { name?: string; arguments?: string } }> }; finish_reason: string | null }> });
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(calls[0]).toMatchObject({ index: 0, function: { name: 'get_weather', arguments: '' } });
    expect(calls[0]?.id).toMatch(/^tooluse_/);
    expect(JSON.parse(calls.map((c) => c.function.arguments ?? '').join(''))).toEqual({ city: 'Paris' });
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
    expect((await res.usage)?.estimated).toBeUndefined();
  });

  it('a stream cut off upstream errors the body and resolves usage with what was seen', async () => {
    const res = await adapter.send(d, upstreamRequest(chatBody('please [cut] now and more words here', { stream: true })));
    await expect(readAll(res.body)).rejects.toThrow();
    expect(await res.usage).toMatchObject({ estimated: true, completionTokens: 2 });
  });

  it('a mid-stream exception event reaches the client as an error payload', async () => {
    const res = await adapter.send(d, upstreamRequest(chatBody('go [exception] with many words here', { stream: true })));
    const data = sseData(await readAll(res.body));
    expect(data).not.toContain('[DONE]');
    expect(JSON.parse(data.at(-1) ?? '{}')).toMatchObject({ error: { type: 'rate_limit_error' } });
  });

  it('destroying the body (client disconnect) cancels the upstream stream', async () => {
    const before = mock.cancelledStreams;
    const res = await adapter.send(d, upstreamRequest(chatBody('[slow]', { stream: true })));
    await firstChunk(res.body);
    res.body.destroy();
    await expect.poll(() => mock.cancelledStreams, { timeout: 3_000 }).toBe(before + 1);
    const usage = await res.usage;
    expect(usage?.estimated).toBe(true);
    expect(usage?.completionTokens).toBeLessThan(200);
  });

  it('aborting the signal mid-stream errors the body with the reason and cancels the upstream', async () => {
    const before = mock.cancelledStreams;
    const ac = new AbortController();
    const res = await adapter.send(d, upstreamRequest(chatBody('[slow]', { stream: true }), { signal: ac.signal }));
    await firstChunk(res.body);
    const reason = new Error('client disconnected');
    ac.abort(reason);
    await expect(readAll(res.body)).rejects.toBe(reason);
    await expect.poll(() => mock.cancelledStreams, { timeout: 3_000 }).toBe(before + 1);
  });
});

describe('embeddings (Titan InvokeModel)', () => {
  it('embeds each input with one signed invoke and sums the token counts', async () => {
    const e = bedrockDeployment({ kind: 'embedding', upstreamModel: 'amazon.titan-embed-text-v2:0' });
    const before = mock.requests;
    const res = await adapter.send(e, upstreamRequest({ input: ['one two', 'three four five'], dimensions: 16 }, { operation: 'embeddings' }));
    const body = await json(res);
    expect(mock.requests - before).toBe(2);
    const data = body.data as Array<{ index: number; embedding: number[] }>;
    expect(data.map((x) => x.index)).toEqual([0, 1]);
    expect(data[0]?.embedding).toHaveLength(16);
    expect(body).toMatchObject({ object: 'list', model: 'amazon.titan-embed-text-v2:0', usage: { prompt_tokens: 5, total_tokens: 5 } });
    expect(await res.usage).toEqual({ promptTokens: 5, completionTokens: 0, totalTokens: 5, cachedTokens: 0 });
  });

  it('refuses legacy completions', async () => {
    await expect(adapter.send(d, upstreamRequest({ prompt: 'x' }, { operation: 'completions' }))).rejects.toMatchObject({ code: 'unsupported_operation' });
  });
});

describe('errors', () => {
  async function failure(type: string): Promise<unknown> {
    return adapter.send(d, upstreamRequest(chatBody(`boom [error:${type}]`))).catch((e: unknown) => e);
  }

  it('ValidationException and ResourceNotFoundException reach the client as 4xx in the OpenAI envelope', async () => {
    const bad = (await failure('ValidationException')) as UpstreamResponse;
    expect(bad.status).toBe(400);
    expect(await json(bad)).toEqual({
      error: { message: 'Injected ValidationException for the test.', type: 'invalid_request_error', code: 'upstream_http_400', param: null },
    });
    const missing = await adapter.send(bedrockDeployment({ upstreamModel: 'missing-model' }), upstreamRequest(chatBody('hi')));
    expect(missing.status).toBe(404);
  });

  it.each([
    ['ThrottlingException', 'rate_limit_exceeded', 429],
    ['AccessDeniedException', 'upstream_error', 403],
    ['ServiceUnavailableException', 'upstream_error', 503],
    ['InternalServerException', 'upstream_error', 500],
    ['ModelTimeoutException', 'upstream_timeout', 408],
  ])('%s → %s', async (type, code, upstreamStatus) => {
    const err = await failure(type);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe(code);
    expect(((err as GatewayError).cause as UpstreamHttpError).status).toBe(upstreamStatus);
    if (code === 'rate_limit_exceeded') expect((err as GatewayError).headers['retry-after']).toBe('1');
  });

  it('a wrong secret is a 502 (our credential), and the secret never appears in the message', async () => {
    const wrong = bedrockDeployment({ aws: { ...MOCK_AWS, secretAccessKey: 'wrong-secret-CANARY-0123' } });
    const err = (await adapter.send(wrong, upstreamRequest(chatBody('hi'))).catch((e: unknown) => e)) as GatewayError;
    expect(err.status).toBe(502);
    expect(err.message).toContain('HTTP 403');
    expect(err.message).not.toContain('CANARY');
  });
});
