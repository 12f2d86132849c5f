/**
 * The Gemini adapter against the mock Gemini server (real wire format, Gemini-strict
 * validation): JSON and streamed chat, tool calls, embeddings, every error status, cut-off
 * streams, and cancellation reaching the upstream.
 */
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { GeminiAdapter } from '../../../src/providers/gemini/index.js';
import { createProviderAdapters } from '../../../src/providers/index.js';
import { type MockGemini, startMockGemini } from '../../../src/providers/mock/gemini/index.js';
import type { Deployment } from '../../../src/providers/types.js';
import { UpstreamHttpError } from '../../../src/providers/upstream-errors.js';
import { chatBody, deployment, readAll, sseData, until, upstreamRequest } from './helpers.js';

const KEY = 'AIza-test-CANARY-0123456789';
let mock: MockGemini;
let adapter: GeminiAdapter;
let dep: Deployment;

beforeAll(async () => {
  mock = await startMockGemini({ apiKey: KEY });
  adapter = new GeminiAdapter();
  dep = deployment({ baseUrl: mock.url, provider: 'gemini', apiKey: KEY, upstreamModel: 'gemini-2.5-flash' });
});
afterAll(async () => {
  await adapter.close();
  await mock.close();
});

interface Completion {
  object: string;
  model: string;
  choices: { index: number; message: { content: string | null; tool_calls?: { id: string; function: { name: string; arguments: string } }[] }; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number; prompt_tokens_details: { cached_tokens: number } };
}

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    strict: true,
    parameters: {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      additionalProperties: false,
      properties: { city: { type: 'string' }, days: { type: ['integer', 'null'] } },
      required: ['city'],
    },
  },
};

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  expect(inspect(err, { depth: 6 })).not.toContain(KEY);
  return err as GatewayError;
}

describe('chat (JSON)', () => {
  it('is the registered adapter of provider kind gemini', async () => {
    const adapters = createProviderAdapters();
    expect(adapters.get('gemini')).toBeInstanceOf(GeminiAdapter);
    expect(adapters.get('gemini')).not.toBe(adapters.get('openai'));
    await adapters.close();
  });

  it('translates both ways, with the key only in x-goog-api-key and usage resolved', async () => {
    const res = await adapter.send(dep, upstreamRequest(chatBody('Hello Gemini [[cached:2]]', { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello Gemini [[cached:2]]' }] })));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    const text = await readAll(res.body);
    expect(res.headers['content-length']).toBe(String(Buffer.byteLength(text)));
    const body = JSON.parse(text) as Completion;
    expect(body.object).toBe('chat.completion');
    expect(body.model).toBe('gemini-2.5-flash');
    expect(body.choices[0]?.message.content).toBe('Gemini mock reply: Hello Gemini');
    expect(body.choices[0]?.finish_reason).toBe('stop');
    expect(body.usage.prompt_tokens_details.cached_tokens).toBe(2);
    const usage = await res.usage;
    expect(usage).toEqual({ promptTokens: body.usage.prompt_tokens, completionTokens: body.usage.completion_tokens, totalTokens: body.usage.total_tokens, cachedTokens: 2 });
    expect(usage?.completionTokens).toBeGreaterThan(0);

    const seen = mock.requests[mock.requests.length - 1];
    expect(seen?.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(seen?.headers['x-goog-api-key']).toBe(KEY);
    expect(seen?.query).toEqual({});
    expect(seen?.headers.authorization).toBeUndefined();
    expect(seen?.body).toMatchObject({ systemInstruction: { parts: [{ text: 'Be brief.' }] } });
  });

  it('tool_choice required → functionCall → tool_calls whose arguments parse; schema cleaned enough for Gemini', async () => {
    const res = await adapter.send(dep, upstreamRequest(chatBody('Weather in Paris?', { tools: [weatherTool], tool_choice: 'required' })));
    const body = JSON.parse(await readAll(res.body)) as Completion;
    const call = body.choices[0]?.message.tool_calls?.[0];
    expect(body.choices[0]?.finish_reason).toBe('tool_calls');
    expect(call?.id).toMatch(/^call_/);
    expect(call?.function.name).toBe('get_weather');
    expect(JSON.parse(call?.function.arguments ?? '')).toEqual({ city: 'example', days: 42 });
  });

  it('a tool round trip (assistant tool_calls + tool result) is accepted and answered', async () => {
    const res = await adapter.send(
      dep,
      upstreamRequest({
        model: 'm',
        tools: [weatherTool],
        messages: [
          { role: 'user', content: 'Weather in Paris?' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_x', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
          { role: 'tool', tool_call_id: 'call_x', content: 'sunny' },
        ],
      }),
    );
    expect(res.status).toBe(200);
    const body = JSON.parse(await readAll(res.body)) as Completion;
    expect(body.choices[0]?.message.content).toBe('Results: get_weather={"content":"sunny"}');
  });

  it('Gemini 3: thought signatures ride in tool call ids and go back with the calls', async () => {
    const g3 = deployment({ ...dep, upstreamModel: 'gemini-3-pro-preview' });
    const first = JSON.parse(await readAll((await adapter.send(g3, upstreamRequest(chatBody('Weather?', { tools: [weatherTool], tool_choice: 'required' })))).body)) as Completion;
    const call = first.choices[0]?.message.tool_calls?.[0];
    expect(call?.id).toContain('__ts_');
    const history = (id: string | undefined): Record<string, unknown> => ({
      model: 'm',
      tools: [weatherTool],
      messages: [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: null, tool_calls: [{ ...call, id }] },
        { role: 'tool', tool_call_id: id, content: 'sunny' },
      ],
    });
    const ok = await adapter.send(g3, upstreamRequest(history(call?.id)));
    const sent = mock.requests[mock.requests.length - 1]?.body as { contents: { parts: { thoughtSignature?: string }[] }[] };
    expect(sent.contents[1]?.parts[0]?.thoughtSignature).toBe(Buffer.from('sig:get_weather').toString('base64'));
    expect(ok.status).toBe(200);
    expect(JSON.parse(await readAll(ok.body))).toMatchObject({ choices: [{ message: { content: 'Results: get_weather={"content":"sunny"}' } }] });

    // A client that dropped the signature gets Gemini's own 400, in the OpenAI envelope.
    const lost = await adapter.send(g3, upstreamRequest(history('call_plain')));
    expect(lost.status).toBe(400);
    expect(await readAll(lost.body)).toContain('thought_signature');
  });

  it('n, max_tokens and json_schema reach Gemini as candidateCount, maxOutputTokens and responseSchema', async () => {
    const res = await adapter.send(dep, upstreamRequest(chatBody('one two three four five six', { n: 2, max_tokens: 3 })));
    const body = JSON.parse(await readAll(res.body)) as Completion;
    expect(body.choices).toHaveLength(2);
    expect(body.choices.map((c) => c.finish_reason)).toEqual(['length', 'length']);

    const json = await adapter.send(
      dep,
      upstreamRequest(
        chatBody('a person', {
          response_format: { type: 'json_schema', json_schema: { name: 'p', strict: true, schema: { type: 'object', additionalProperties: false, properties: { age: { type: 'integer' } }, required: ['age'] } } },
        }),
      ),
    );
    const parsed = JSON.parse((JSON.parse(await readAll(json.body)) as Completion).choices[0]?.message.content ?? '') as unknown;
    expect(parsed).toEqual({ age: 42 });
  });

  it('completions are not served by Gemini: a clear 400', async () => {
    const err = await failure(adapter.send(dep, upstreamRequest({ model: 'm', prompt: 'x' }, { operation: 'completions' })));
    expect(err.code).toBe('unsupported_operation');
  });
});

describe('chat (stream)', () => {
  it('streams role, content deltas, finish and the usage chunk, then [DONE]; usage resolves', async () => {
    const res = await adapter.send(dep, upstreamRequest(chatBody('Count for me please', { stream: true, stream_options: { include_usage: true } })));
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const data = sseData(await readAll(res.body));
    expect(data[data.length - 1]).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as { choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[]; usage?: Completion['usage'] });
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(content).toBe('Gemini mock reply: Count for me please');
    const finish = chunks.filter((c) => c.choices[0]?.finish_reason != null);
    expect(finish).toHaveLength(1);
    expect(finish[0]?.choices[0]?.finish_reason).toBe('stop');
    const usageChunk = chunks[chunks.length - 1];
    expect(usageChunk?.choices).toEqual([]);
    // The mock counts one token per word piece, one piece per chunk.
    const pieces = chunks.filter((c) => c.choices[0]?.delta.content !== undefined && c.choices[0]?.delta.role === undefined).length;
    expect(pieces).toBe(7);
    expect(usageChunk?.usage?.completion_tokens).toBe(pieces);
    expect(await res.usage).toMatchObject({ completionTokens: pieces, totalTokens: usageChunk?.usage?.total_tokens });
    expect(mock.requests[mock.requests.length - 1]?.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent');
    expect(mock.requests[mock.requests.length - 1]?.query).toEqual({ alt: 'sse' });
  });

  it('streams tool-call deltas that reassemble into the call, and finish tool_calls', async () => {
    const res = await adapter.send(
      dep,
      upstreamRequest(chatBody('weather?', { stream: true, tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'get_weather' } } })),
    );
    const chunks = sseData(await readAll(res.body))
      .filter((d) => d !== '[DONE]')
      .map((d) => JSON.parse(d) as { choices: { delta: { tool_calls?: { index: number; id?: string; function: { name?: string; arguments: string } }[] }; finish_reason: string | null }[] });
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.index).toBe(0);
    expect(calls[0]?.id).toMatch(/^call_/);
    expect(calls[0]?.function.name).toBe('get_weather');
    expect(JSON.parse(calls[0]?.function.arguments ?? '')).toHaveProperty('city');
    expect(chunks[chunks.length - 1]?.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('a stream cut off upstream errors the body and resolves the usage seen so far', async () => {
    const res = await adapter.send(dep, upstreamRequest(chatBody('[[chunks:10]] [[cut]]', { stream: true })));
    await expect(readAll(res.body)).rejects.toBeInstanceOf(GatewayError);
    // The chunks before the cut carried the prompt count only.
    const usage = await res.usage;
    expect(usage?.promptTokens).toBeGreaterThan(0);
    expect(usage?.estimated).toBeUndefined();

    const bare = await adapter.send(dep, upstreamRequest(chatBody('[[chunks:10]] [[cut]] [[no-usage]]', { stream: true })));
    await expect(readAll(bare.body)).rejects.toBeInstanceOf(GatewayError);
    expect(await bare.usage).toEqual({ promptTokens: 0, completionTokens: 5, totalTokens: 5, cachedTokens: 0, estimated: true });
  });

  it('an error event inside the 200 stream fails the body (the server ends the client stream with an error)', async () => {
    const res = await adapter.send(dep, upstreamRequest(chatBody('[[chunks:5]] [[stream-error]]', { stream: true })));
    const err = await readAll(res.body).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).message).toContain('UNAVAILABLE');
    expect((await res.usage)?.promptTokens).toBeGreaterThan(0);
  });

  it('a client that stops reading (body destroyed) cancels the upstream request', async () => {
    const before = mock.aborted;
    const res = await adapter.send(dep, upstreamRequest(chatBody('[[chunks:200]] [[delay:20]]', { stream: true })));
    const first = await new Promise<Buffer>((resolve) => res.body.once('data', resolve));
    expect(first.toString()).toContain('"role":"assistant"');
    res.body.destroy();
    await until(() => mock.aborted === before + 1);
    expect((await res.usage)?.estimated).toBeUndefined();
  });

  it('the request signal (client disconnect) cancels a running stream and the upstream', async () => {
    const before = mock.aborted;
    const controller = new AbortController();
    const res = await adapter.send(dep, upstreamRequest(chatBody('[[chunks:200]] [[delay:20]]', { stream: true }), { signal: controller.signal }));
    await new Promise((resolve) => res.body.once('data', resolve));
    const ended = new Promise<unknown>((resolve) => res.body.once('error', resolve));
    controller.abort(new Error('client disconnected'));
    expect(String(await ended)).toContain('client disconnected');
    await until(() => mock.aborted === before + 1);
  });
});

describe('embeddings', () => {
  it('batchEmbedContents → OpenAI list (float and base64) with estimated usage', async () => {
    const res = await adapter.send(dep, upstreamRequest({ model: 'embed', input: ['hello world', 'bye'], dimensions: 16 }, { operation: 'embeddings' }));
    const body = JSON.parse(await readAll(res.body)) as { object: string; data: { index: number; embedding: number[] }[]; usage: { prompt_tokens: number } };
    expect(body.object).toBe('list');
    expect(body.data.map((d) => d.index)).toEqual([0, 1]);
    expect(body.data[0]?.embedding).toHaveLength(16);
    expect(body.usage.prompt_tokens).toBe(4);
    expect(await res.usage).toEqual({ promptTokens: 4, completionTokens: 0, totalTokens: 4, cachedTokens: 0, estimated: true });
    expect(mock.requests[mock.requests.length - 1]?.path).toBe('/v1beta/models/gemini-2.5-flash:batchEmbedContents');

    const b64 = await adapter.send(dep, upstreamRequest({ model: 'embed', input: 'hello world', dimensions: 16, encoding_format: 'base64' }, { operation: 'embeddings' }));
    const encoded = (JSON.parse(await readAll(b64.body)) as { data: { embedding: string }[] }).data[0]?.embedding ?? '';
    const floats = Buffer.from(encoded, 'base64');
    expect(floats.length).toBe(64);
    expect(floats.readFloatLE(0)).toBeCloseTo(body.data[0]?.embedding[0] ?? NaN, 5);
  });
  it('more than 100 inputs go as consecutive batches of at most 100, joined in order', async () => {
    const inputs = Array.from({ length: 250 }, (_, i) => `text number ${i}`);
    const before = mock.requests.length;
    const res = await adapter.send(dep, upstreamRequest({ model: 'embed', input: inputs, dimensions: 8 }, { operation: 'embeddings' }));
    expect(res.status).toBe(200);
    const body = JSON.parse(await readAll(res.body)) as { data: { index: number; embedding: number[] }[] };
    expect(body.data.map((d) => d.index)).toEqual(inputs.map((_, i) => i));
    expect(mock.requests.length - before).toBe(3); // 100 + 100 + 50: Gemini refuses more than 100
    // Joined in order: each input's vector is the one it gets on its own.
    const single = await adapter.send(dep, upstreamRequest({ model: 'embed', input: inputs[173], dimensions: 8 }, { operation: 'embeddings' }));
    const alone = JSON.parse(await readAll(single.body)) as { data: { embedding: number[] }[] };
    expect(body.data[173]?.embedding).toEqual(alone.data[0]?.embedding);
  });

  it('a failing batch is the answer, and no later batch is sent', async () => {
    const inputs = Array.from({ length: 150 }, (_, i) => (i === 20 ? '[[error:400]]' : `t${i}`));
    const before = mock.requests.length;
    const res = await adapter.send(dep, upstreamRequest({ model: 'embed', input: inputs }, { operation: 'embeddings' }));
    expect(res.status).toBe(400);
    expect(mock.requests.length - before).toBe(1);
  });
});

describe('errors', () => {
  it.each([
    [400, 400],
    [404, 404],
  ])('Gemini %i → the client error %i in the OpenAI envelope', async (status, expected) => {
    const res = await adapter.send(dep, upstreamRequest(chatBody(`[[error:${status}]]`)));
    expect(res.status).toBe(expected);
    const body = JSON.parse(await readAll(res.body)) as { error: { message: string; type: string; code: string } };
    expect(body.error).toEqual({ message: `Mock Gemini injected HTTP ${status}.`, type: 'invalid_request_error', code: `upstream_http_${status}`, param: null });
    expect(await res.usage).toBeUndefined();
  });

  it.each([403, 500, 503, 504])('Gemini %i → upstream_error (502) with the status as cause', async (status) => {
    const err = await failure(adapter.send(dep, upstreamRequest(chatBody(`[[error:${status}]]`))));
    expect(err.status).toBe(502);
    expect((err.cause as UpstreamHttpError).status).toBe(status);
  });

  it('429 RESOURCE_EXHAUSTED → rate_limit_exceeded with Retry-After from RetryInfo', async () => {
    const err = await failure(adapter.send(dep, upstreamRequest(chatBody('[[error:429]]', { stream: true }))));
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.headers['retry-after']).toBe('7');
  });

  it('a wrong or missing gateway key is a 502, never the client authentication error', async () => {
    const wrong = await failure(adapter.send(deployment({ ...dep, apiKey: 'AIza-wrong-key-000000' }), upstreamRequest(chatBody())));
    expect(wrong.code).toBe('upstream_error');
    expect((wrong.cause as UpstreamHttpError).status).toBe(400);
    const missing = await failure(adapter.send(deployment({ ...dep, apiKey: '' }), upstreamRequest(chatBody())));
    expect((missing.cause as UpstreamHttpError).status).toBe(403);
  });

  it('input Gemini cannot express is rejected before any upstream call', async () => {
    const count = mock.requests.length;
    const err = await failure(adapter.send(dep, upstreamRequest({ model: 'm', messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'f' } }] }] })));
    expect(err.status).toBe(400);
    expect(err.param).toBe('messages[0].content[0].type');
    expect(mock.requests.length).toBe(count);
  });
});
