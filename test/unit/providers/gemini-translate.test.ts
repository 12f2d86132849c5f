/**
 * The Gemini translators against fixtures shaped like Google's documented examples
 * (test/fixtures/gemini/README.md): request bodies, JSON answers, SSE streams, embeddings, errors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveProviders } from '../../../src/config/resolve.js';
import { configSchema } from '../../../src/config/schema.js';
import { GatewayError } from '../../../src/errors.js';
import { geminiHeaders, geminiPaths } from '../../../src/providers/gemini/index.js';
import { geminiHooks } from '../../../src/providers/gemini/hooks.js';
import { imagePart, toBatchEmbedRequest, toGeminiSchema, toGenerateContentRequest } from '../../../src/providers/gemini/request.js';
import { type TranslationContext, finishReason, toChatCompletion, toEmbeddingList } from '../../../src/providers/gemini/response.js';
import { GeminiStreamTranslator } from '../../../src/providers/gemini/stream.js';
import type { GeminiGenerateContentResponse } from '../../../src/providers/gemini/wire.js';
import { UpstreamHttpError } from '../../../src/providers/upstream-errors.js';
import { Cancellation } from '../../../src/providers/cancel.js';

const DIR = join(import.meta.dirname, '../../fixtures/gemini');
const text = (name: string): string => readFileSync(join(DIR, name), 'utf8');
const json = <T = Record<string, unknown>>(name: string): T => JSON.parse(text(name)) as T;

const ctx: TranslationContext = { id: 'chatcmpl-fixture', created: 1_700_000_000, model: 'public-model', callId: (n) => `call_fixture_${n}` };

function chunksOf(sse: string): { data: unknown[]; done: boolean } {
  const lines = sse.split('\n\n').filter((e) => e !== '');
  for (const l of lines) expect(l.startsWith('data: ')).toBe(true);
  const payloads = lines.map((l) => l.slice(6));
  const done = payloads[payloads.length - 1] === '[DONE]';
  return { data: payloads.filter((p) => p !== '[DONE]').map((p) => JSON.parse(p) as unknown), done };
}

/** Feeds the SSE text in awkward slices (mid-line, mid-CRLF) to prove chunk boundaries do not matter. */
function translateStream(sse: string, includeUsage: boolean, slice = 7): { out: string; t: GeminiStreamTranslator } {
  const t = new GeminiStreamTranslator(ctx, includeUsage);
  const bytes = Buffer.from(sse);
  let out = '';
  for (let i = 0; i < bytes.length; i += slice) out += t.push(bytes.subarray(i, i + slice));
  out += t.end();
  return { out, t };
}

describe('request translation', () => {
  it('turns a full OpenAI chat request into the documented generateContent body', () => {
    expect(toGenerateContentRequest(json('chat-full.openai.json'))).toEqual(json('chat-full.gemini.json'));
  });

  it('sends a thought signature carried in a tool call id back on its functionCall part', () => {
    const completion = toChatCompletion(json('function-call.response.json'), ctx);
    const calls = completion.choices[0]?.message.tool_calls ?? [];
    const out = toGenerateContentRequest({
      messages: [
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: null, tool_calls: calls },
        { role: 'tool', tool_call_id: calls[0]?.id, content: '{"t":21}' },
        { role: 'tool', tool_call_id: calls[1]?.id, content: '{"now":"14:05"}' },
      ],
    });
    expect(out.contents[1]?.parts).toEqual([
      { functionCall: { name: 'get_weather', args: { city: 'Paris', unit: 'C' } }, thoughtSignature: 'c2lnbmF0dXJlLWE=' },
      { functionCall: { name: 'get_time', args: {} } },
    ]);
    expect(out.contents[2]?.parts.map((p) => p.functionResponse?.name)).toEqual(['get_weather', 'get_time']);
  });

  it('maps tool_choice strings to function calling modes', () => {
    const base = { messages: [{ role: 'user', content: 'hi' }] };
    const mode = (choice: string): unknown => toGenerateContentRequest({ ...base, tool_choice: choice }).toolConfig;
    expect(mode('auto')).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    expect(mode('none')).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    expect(mode('required')).toEqual({ functionCallingConfig: { mode: 'ANY' } });
  });

  it('json_object sets only the JSON MIME type; max_completion_tokens wins over max_tokens', () => {
    const out = toGenerateContentRequest({
      messages: [{ role: 'user', content: 'hi' }],
      response_format: { type: 'json_object' },
      max_tokens: 10,
      max_completion_tokens: 20,
      stop: ['a', 'b'],
    });
    expect(out.generationConfig).toEqual({ responseMimeType: 'application/json', maxOutputTokens: 20, stopSequences: ['a', 'b'] });
  });

  it('sends no generationConfig or systemInstruction when there is nothing to say', () => {
    expect(toGenerateContentRequest({ messages: [{ role: 'user', content: 'hi' }] })).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
    });
  });

  it('rejects what Gemini cannot express with a 400 naming the field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ messages: [{ role: 'tool', tool_call_id: 'nope', content: 'x' }, { role: 'user', content: 'hi' }] }, 'messages[0].tool_call_id'],
      [{ messages: [{ role: 'user', content: [{ type: 'file', file: {} }] }] }, 'messages[0].content[0].type'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }] }, 'messages[0].content[0].image_url.url'],
      [{ messages: [{ role: 'system', content: 'only a system prompt' }] }, 'messages'],
      [{ messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function' }] }, 'tools[0].function'],
      [
        { messages: [{ role: 'assistant', tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: '[1]' } }] }] },
        'messages[0].tool_calls[0].function.arguments',
      ],
      [{ messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    ];
    for (const [body, param] of cases) {
      let err: unknown;
      try {
        toGenerateContentRequest(body);
      } catch (e) {
        err = e;
      }
      expect(err, param).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).status).toBe(400);
      expect((err as GatewayError).param).toBe(param);
    }
  });

  it('guesses MIME types of image URLs from the extension, image/jpeg otherwise', () => {
    expect(imagePart('https://x.test/a/b.PNG?x=1', 'p')).toEqual({ fileData: { mimeType: 'image/png', fileUri: 'https://x.test/a/b.PNG?x=1' } });
    expect(imagePart('https://x.test/photo', 'p').fileData?.mimeType).toBe('image/jpeg');
    expect(imagePart('data:image/webp;base64,AAAA', 'p')).toEqual({ inlineData: { mimeType: 'image/webp', data: 'AAAA' } });
  });

  it('cleans JSON schemas into Gemini Schema (oneOf → anyOf, nested items, no $ref)', () => {
    expect(
      toGeminiSchema({
        type: 'object',
        $defs: { x: { type: 'string' } },
        properties: {
          tags: { type: 'array', items: { type: 'string', examples: ['a'] }, additionalItems: false },
          choice: { oneOf: [{ type: 'string' }, { $ref: '#/$defs/x' }] },
          n: { enum: [1, 2] },
        },
      }),
    ).toEqual({
      type: 'object',
      properties: { tags: { type: 'array', items: { type: 'string' } }, choice: { anyOf: [{ type: 'string' }, {}] }, n: { enum: ['1', '2'] } },
    });
  });

  it('builds batchEmbedContents requests with the model on every request', () => {
    const t = toBatchEmbedRequest({ input: ['a', 'bb'], dimensions: 8, encoding_format: 'base64' }, 'text-embedding-004');
    expect(t.request).toEqual({
      requests: [
        { model: 'models/text-embedding-004', content: { parts: [{ text: 'a' }] }, outputDimensionality: 8 },
        { model: 'models/text-embedding-004', content: { parts: [{ text: 'bb' }] }, outputDimensionality: 8 },
      ],
    });
    expect(t.base64).toBe(true);
    expect(() => toBatchEmbedRequest({ input: [[1, 2, 3]] }, 'm')).toThrow(/token arrays/);
  });

  it('puts the key in x-goog-api-key, never in the URL', () => {
    const paths = geminiPaths({ baseUrl: 'https://generativelanguage.googleapis.com', upstreamModel: 'gemini-2.5-flash' });
    expect(paths).toEqual({
      generate: '/v1beta/models/gemini-2.5-flash:generateContent',
      stream: '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
      embed: '/v1beta/models/gemini-2.5-flash:batchEmbedContents',
    });
    expect(geminiPaths({ baseUrl: 'https://proxy.test/google/', upstreamModel: 'm' }).generate).toBe('/google/v1beta/models/m:generateContent');
    const headers = geminiHeaders('AIzaSECRET', 'application/json');
    expect(headers).toContain('x-goog-api-key');
    expect(headers[headers.indexOf('x-goog-api-key') + 1]).toBe('AIzaSECRET');
    // Bodies are translated as they come: never compressed.
    expect(headers[headers.indexOf('accept-encoding') + 1]).toBe('identity');
    expect(Object.values(paths).join()).not.toContain('key=');
  });
});

describe('response translation', () => {
  it('text answer → chat.completion with usage (thinking counted as output, cached tokens kept)', () => {
    expect(toChatCompletion(json('text.response.json'), ctx)).toEqual(json('text.expected.json'));
  });

  it('function calls → tool_calls with generated ids and JSON-string arguments; thoughts are dropped', () => {
    expect(toChatCompletion(json('function-call.response.json'), ctx)).toEqual(json('function-call.expected.json'));
  });

  it('maps finish reasons', () => {
    expect(finishReason('STOP', false)).toBe('stop');
    expect(finishReason('STOP', true)).toBe('tool_calls');
    expect(finishReason('MAX_TOKENS', true)).toBe('length');
    for (const r of ['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII']) expect(finishReason(r, false)).toBe('content_filter');
    expect(finishReason('OTHER', false)).toBe('stop');
  });

  it('a blocked prompt (no candidates) is one content_filter choice', () => {
    const r: GeminiGenerateContentResponse = { promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 3, totalTokenCount: 3 } };
    const out = toChatCompletion(r, ctx);
    expect(out.choices).toEqual([{ index: 0, message: { role: 'assistant', content: null, refusal: null }, logprobs: null, finish_reason: 'content_filter' }]);
    expect(out.usage?.prompt_tokens).toBe(3);
  });

  it('embeddings → OpenAI list, float or base64 float32, with estimated usage', () => {
    const r = json('batch-embed.response.json');
    const list = toEmbeddingList(r, ['hello world', 'x'], 'embed-model', false);
    expect(list.data).toEqual([
      { object: 'embedding', index: 0, embedding: [0.0123, -0.0456, 0.0789] },
      { object: 'embedding', index: 1, embedding: [-0.5, 0.25, 0.125] },
    ]);
    expect(list.usage).toEqual({ prompt_tokens: 4, total_tokens: 4 });
    const b64 = toEmbeddingList(r, ['a', 'b'], 'm', true).data[1]?.embedding as string;
    const buf = Buffer.from(b64, 'base64');
    expect([buf.readFloatLE(0), buf.readFloatLE(4), buf.readFloatLE(8)]).toEqual([-0.5, 0.25, 0.125]);
  });
});

describe('stream translation', () => {
  it('text stream → role chunk, content deltas, finish chunk, usage chunk, [DONE]', () => {
    const { out, t } = translateStream(text('text.sse'), true);
    const { data, done } = chunksOf(out);
    expect(done).toBe(true);
    const deltas = data.map((c) => (c as { choices: { delta: unknown; finish_reason: unknown }[] }).choices[0]);
    expect(deltas.slice(0, 4)).toEqual([
      expect.objectContaining({ delta: { role: 'assistant', content: '' }, finish_reason: null }),
      expect.objectContaining({ delta: { content: 'Paris is' }, finish_reason: null }),
      expect.objectContaining({ delta: { content: ' sunny "today".' }, finish_reason: null }),
      expect.objectContaining({ delta: {}, finish_reason: 'stop' }),
    ]);
    const last = data[4] as { object: string; model: string; choices: unknown[]; usage: unknown };
    expect(last.object).toBe('chat.completion.chunk');
    expect(last.model).toBe('gemini-2.5-flash');
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 });
    expect(data).toHaveLength(5);
    expect(t.resolvedUsage()).toEqual({ promptTokens: 9, completionTokens: 5, totalTokens: 14, cachedTokens: 0 });
  });

  it('without include_usage there is no usage chunk, but usage still resolves for metering', () => {
    const { out, t } = translateStream(text('text.sse'), false, 1);
    const { data } = chunksOf(out);
    expect(data.some((c) => (c as { usage?: unknown }).usage !== undefined)).toBe(false);
    expect(t.resolvedUsage()?.totalTokens).toBe(14);
  });

  it('function call stream → one tool-call delta with id, name and full arguments, finish tool_calls', () => {
    const { out } = translateStream(text('function-call.sse'), false);
    const choices = chunksOf(out).data.map((c) => (c as { choices: { delta: { tool_calls?: unknown }; finish_reason: unknown }[] }).choices[0]);
    expect(choices[1]?.delta.tool_calls).toEqual([
      { index: 0, id: 'call_fixture_0__ts_c2ln', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
    ]);
    expect(choices[choices.length - 1]?.finish_reason).toBe('tool_calls');
  });

  it('an error event inside a 200 stream is reported as a failure, not as a normal end', () => {
    const t = new GeminiStreamTranslator(ctx, false);
    t.push(Buffer.from('data: {"candidates":[{"content":{"parts":[{"text":"a"}]},"index":0}]}\r\n\r\n'));
    expect(t.failure).toBeUndefined();
    t.push(Buffer.from('data: {"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}\r\n\r\n'));
    expect(t.failure).toBe('The upstream provider failed mid-stream (UNAVAILABLE).');
  });

  it('an event line too long to translate is reported as a failure, not dropped', () => {
    const t = new GeminiStreamTranslator(ctx, false);
    t.push(Buffer.from('data: {"candidates":[{"content":{"parts":[{"text":"a"}]},"index":0}]}\r\n\r\n'));
    const big = Buffer.from(`data: {"candidates":[{"content":{"parts":[{"text":"${'y'.repeat(2 * 1024 * 1024)}"}]},"index":0}]}\r\n\r\n`);
    for (let i = 0; i < 1024 * 1024; i += 64 * 1024) t.push(big.subarray(i, i + 64 * 1024));
    expect(t.failure).toBeUndefined();
    t.push(big.subarray(1024 * 1024, 1088 * 1024));
    expect(t.failure).toMatch(/larger than 1 MiB/);
  });

  it('a stream that ends before any candidate finished fails, with what was translated and no finish_reason or [DONE]', () => {
    const sse =
      'data: {"candidates":[{"content":{"parts":[{"text":"Paris"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash"}\r\n\r\n' +
      'data: {"candidates":[{"content":{"parts":[{"text":" is"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":9}}\r\n\r\n';
    const { out, t } = translateStream(sse, true);
    expect(t.failure).toBe('The upstream stream ended before the upstream finished the answer; the answer is incomplete.');
    const { data, done } = chunksOf(out);
    expect(done).toBe(false);
    const choices = data.map((c) => (c as { choices: { delta: { content?: string }; finish_reason: unknown }[] }).choices[0]);
    expect(choices.map((c) => c?.delta.content).join('')).toBe('Paris is');
    expect(choices.every((c) => c?.finish_reason === null)).toBe(true);
    expect(data.some((c) => (c as { usage?: unknown }).usage !== undefined)).toBe(false);
    // An empty body is no answer either; usage still resolves for metering.
    expect(translateStream('', true).t.failure).toMatch(/ended before the upstream finished/);
    expect(t.resolvedUsage()).toMatchObject({ promptTokens: 9 });
  });

  it('a stream whose candidates finished stays complete: an open choice gets its finish, a blocked prompt is one', () => {
    const two =
      'data: {"candidates":[{"content":{"parts":[{"text":"a"}]},"index":0},{"content":{"parts":[{"text":"b"}]},"index":1}]}\n\n' +
      'data: {"candidates":[{"content":{"parts":[{"text":"!"}]},"finishReason":"STOP","index":0}]}\n\n';
    const { out, t } = translateStream(two, false);
    expect(t.failure).toBeUndefined();
    const { data, done } = chunksOf(out);
    expect(done).toBe(true);
    const finishes = data.flatMap((c) => (c as { choices: { index: number; finish_reason: unknown }[] }).choices).filter((c) => c.finish_reason !== null);
    expect(finishes).toEqual([expect.objectContaining({ index: 0, finish_reason: 'stop' }), expect.objectContaining({ index: 1, finish_reason: 'stop' })]);
    const blocked = translateStream('data: {"promptFeedback":{"blockReason":"SAFETY"}}\n\n', false);
    expect(blocked.t.failure).toBeUndefined();
    expect(chunksOf(blocked.out).done).toBe(true);
  });

  it('a stream cut before any usage resolves an estimate from the deltas seen', () => {
    const t = new GeminiStreamTranslator(ctx, true);
    t.push(Buffer.from('data: {"candidates":[{"content":{"parts":[{"text":"a"}]},"index":0}]}\r\n\r\n'));
    t.push(Buffer.from('data: {"candidates":[{"content":{"parts":[{"text":"b"}]},"index":0}]}\r\n\r\n'));
    expect(t.resolvedUsage()).toEqual({ promptTokens: 0, completionTokens: 2, totalTokens: 2, cachedTokens: 0, estimated: true });
  });
});

describe('error mapping', () => {
  const hooks = geminiHooks('AIzaSECRETKEY123');
  const reject = (status: number, body: string): unknown => hooks.reject(status, {}, body);

  it('429 RESOURCE_EXHAUSTED → rate_limit_exceeded with the RetryInfo delay as Retry-After', () => {
    const err = reject(429, text('error-429.json')) as GatewayError;
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.headers['retry-after']).toBe('12');
  });

  it('400 API_KEY_INVALID is the gateway credential: 502, not the client error', () => {
    const err = reject(400, text('error-400-key.json')) as GatewayError;
    expect(err.code).toBe('upstream_error');
    expect((err.cause as UpstreamHttpError).status).toBe(400);
  });

  it('400 INVALID_ARGUMENT → the client error, rewrapped in the OpenAI envelope', async () => {
    const res = reject(400, text('error-400.json')) as { status: number; body: AsyncIterable<Buffer> };
    expect(res.status).toBe(400);
    let body = '';
    for await (const c of res.body) body += c.toString();
    expect(JSON.parse(body)).toEqual({
      error: {
        message: '* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be positive.',
        type: 'invalid_request_error',
        code: 'upstream_http_400',
        param: null,
      },
    });
  });

  it('403 / 5xx → upstream_error with the status as cause; transport errors map like OpenAI', () => {
    for (const status of [403, 500, 503, 504]) {
      const err = reject(status, JSON.stringify({ error: { code: status, message: 'x', status: 'S' } })) as GatewayError;
      expect(err.status).toBe(502);
      expect((err.cause as UpstreamHttpError).status).toBe(status);
    }
    const timeout = hooks.transportError(Object.assign(new Error('t'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), new Cancellation()) as GatewayError;
    expect(timeout.code).toBe('upstream_timeout');
  });
});

describe('configuration', () => {
  it('kind gemini defaults its baseUrl to the Generative Language API', () => {
    const config = configSchema.parse({ demo: { enabled: false }, providers: [{ name: 'google', kind: 'gemini' }] });
    const issues: string[] = [];
    const [p] = resolveProviders(config, new Map([[0, 'AIza-key']]), (_path, message) => issues.push(message));
    expect(issues).toEqual([]);
    expect(p).toMatchObject({ kind: 'gemini', baseUrl: 'https://generativelanguage.googleapis.com', apiKey: 'AIza-key' });
  });
});
