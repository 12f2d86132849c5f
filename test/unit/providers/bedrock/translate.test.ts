/** The pure Bedrock translators against fixtures shaped like the Converse API documentation's examples. */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../../src/errors.js';
import { JSON_OBJECT_INSTRUCTION, toConverseRequest, toTitanRequests } from '../../../../src/providers/bedrock/request.js';
import { toChatCompletion, toEmbeddingList } from '../../../../src/providers/bedrock/response.js';
import { ConverseStreamTranslator, eventStreamCodec } from '../../../../src/providers/bedrock/stream.js';
import { exceptionFrame, frame } from '../../../../src/providers/mock/bedrock/index.js';

const fixture = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../../../fixtures/bedrock/${name}`, import.meta.url), 'utf8')) as T;
const meta = { id: 'chatcmpl-1', created: 1700000000, model: 'anthropic.claude-3-haiku-20240307-v1:0' };

function gatewayError(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
}

describe('OpenAI chat request → Converse', () => {
  it('translates system, multi-turn, tool calls, tool results, images, tools and inference settings', () => {
    const { openai, converse } = fixture<{ openai: Record<string, unknown>; converse: unknown }>('chat-request-tools.json');
    const out = toConverseRequest(openai);
    expect(out.request).toEqual(converse);
    expect(out.includeUsage).toBe(false);
  });

  it('maps tool_choice required / named / none', () => {
    const base = {
      messages: [{ role: 'user', content: 'hi' }],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
    };
    expect(toConverseRequest({ ...base, tool_choice: 'required' }).request.toolConfig?.toolChoice).toEqual({ any: {} });
    expect(toConverseRequest({ ...base, tool_choice: { type: 'function', function: { name: 'f' } } }).request.toolConfig?.toolChoice).toEqual({
      tool: { name: 'f' },
    });
    expect(toConverseRequest({ ...base, tool_choice: 'none' }).request.toolConfig).toBeUndefined();
    expect(toConverseRequest({ ...base, max_completion_tokens: 7, stream_options: { include_usage: true } })).toMatchObject({
      request: { inferenceConfig: { maxTokens: 7 } },
      includeUsage: true,
    });
  });

  it('merges consecutive turns of one role and drops empty assistant turns', () => {
    const out = toConverseRequest({
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: '' },
        { role: 'user', content: 'b' },
      ],
    });
    expect(out.request.messages).toEqual([{ role: 'user', content: [{ text: 'a' }, { text: 'b' }] }]);
  });

  it('asks for JSON through the system prompt in JSON mode', () => {
    const out = toConverseRequest({ messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_object' } });
    expect(out.request.system).toEqual([{ text: JSON_OBJECT_INSTRUCTION }]);
    const schema = toConverseRequest({
      messages: [{ role: 'user', content: 'hi' }],
      response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object' } } },
    });
    expect(schema.request.system?.[0]?.text).toContain('{"type":"object"}');
  });

  it('rejects remote image URLs, bad tool arguments, n > 1 and malformed messages with a 400', () => {
    const remote = gatewayError(() =>
      toConverseRequest({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] }] }),
    );
    expect(remote.status).toBe(400);
    expect(remote.param).toBe('messages[0].content[0].image_url.url');
    expect(remote.message).toMatch(/data URL/);
    const args = gatewayError(() =>
      toConverseRequest({
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{oops' } }] },
        ],
      }),
    );
    expect(args.param).toBe('messages[1].tool_calls[0].function.arguments');
    expect(gatewayError(() => toConverseRequest({ messages: [{ role: 'user', content: 'x' }], n: 2 })).status).toBe(400);
    expect(gatewayError(() => toConverseRequest({ messages: [] })).code).toBe('invalid_request');
    expect(gatewayError(() => toConverseRequest({ messages: [{ role: 'wizard', content: 'x' }] })).status).toBe(400);
  });

  it('makes one Titan body per embedding input and rejects token arrays', () => {
    expect(toTitanRequests({ input: ['a', 'b'], dimensions: 256 })).toEqual({
      requests: [
        { inputText: 'a', dimensions: 256 },
        { inputText: 'b', dimensions: 256 },
      ],
      base64: false,
    });
    expect(gatewayError(() => toTitanRequests({ input: [[1, 2, 3]] })).status).toBe(400);
  });
});

describe('Converse response → OpenAI chat completion', () => {
  it('translates a text answer with usage', () => {
    const { body, usage } = toChatCompletion(fixture('converse-response-text.json'), meta);
    expect(body).toEqual({
      id: 'chatcmpl-1',
      object: 'chat.completion',
      created: 1700000000,
      model: meta.model,
      choices: [
        { index: 0, message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null }, logprobs: null, finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21, prompt_tokens_details: { cached_tokens: 0 } },
    });
    expect(usage).toEqual({ promptTokens: 12, completionTokens: 9, totalTokens: 21, cachedTokens: 0 });
  });

  it('translates toolUse into tool_calls; cached input counts into prompt tokens', () => {
    const { body, usage } = toChatCompletion(fixture('converse-response-tool-use.json'), meta);
    const choice = (body.choices as Array<Record<string, unknown>>)[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message).toMatchObject({
      content: "I'll look up the most popular song on that station.",
      tool_calls: [{ id: 'tooluse_kZJMlvQmRJ6eAyJE5GIl7Q', type: 'function', function: { name: 'top_song', arguments: '{"sign":"WZPZ"}' } }],
    });
    expect(usage).toEqual({ promptTokens: 475, completionTokens: 59, totalTokens: 534, cachedTokens: 100 });
  });

  it.each([
    ['max_tokens', 'length'],
    ['stop_sequence', 'stop'],
    ['content_filtered', 'content_filter'],
    ['guardrail_intervened', 'content_filter'],
  ])('maps stopReason %s to %s', (stopReason, finish) => {
    const { body } = toChatCompletion({ output: { message: { role: 'assistant', content: [{ text: 'x' }] } }, stopReason }, meta);
    expect((body.choices as Array<{ finish_reason: string }>)[0]?.finish_reason).toBe(finish);
  });

  it('rejects a malformed answer as an upstream error', () => {
    expect(gatewayError(() => toChatCompletion({ output: {} }, meta)).code).toBe('upstream_error');
  });

  it('maps Titan embeddings to an OpenAI list, base64 as float32 little-endian', () => {
    const { body, usage } = toEmbeddingList([{ embedding: [0.5, -1], inputTextTokenCount: 3 }], 'amazon.titan-embed-text-v2:0', true);
    const b64 = (body.data as Array<{ embedding: string }>)[0]?.embedding ?? '';
    const buf = Buffer.from(b64, 'base64');
    expect([buf.readFloatLE(0), buf.readFloatLE(4)]).toEqual([0.5, -1]);
    expect(usage.promptTokens).toBe(3);
  });
});

async function translate(frames: Uint8Array[], includeUsage: boolean, splitAt = 7): Promise<{ events: unknown[]; text: string; usage: unknown }> {
  // Frames arrive cut at arbitrary byte boundaries.
  const all = Buffer.concat(frames);
  const pieces: Buffer[] = [];
  for (let i = 0; i < all.length; i += splitAt) pieces.push(all.subarray(i, i + splitAt));
  const t = new ConverseStreamTranslator({ ...meta, includeUsage });
  Readable.from(pieces).pipe(t);
  let text = '';
  for await (const c of t) text += String(c);
  const events = text
    .split('\n\n')
    .filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
    .map((l) => JSON.parse(l.slice(6)) as unknown);
  return { events, text, usage: await t.usage };
}

describe('ConverseStream → chat.completion.chunk SSE', () => {
  const { events } = fixture<{ events: Array<{ type: string; payload: Record<string, unknown> }> }>('converse-stream-tool-use.json');
  const frames = events.map((e) => frame(e.type, e.payload));

  it('translates text and tool-use deltas, the finish reason, the usage chunk and [DONE]', async () => {
    const out = await translate(frames, true);
    expect(out.text.endsWith('data: [DONE]\n\n')).toBe(true);
    const deltas = out.events.map((e) => (e as { choices: Array<{ delta: unknown; finish_reason: unknown }> }).choices[0]);
    expect(deltas[0]).toMatchObject({ delta: { role: 'assistant', content: '' }, finish_reason: null });
    expect(deltas[1]).toMatchObject({ delta: { content: 'Let me look that up.' } });
    expect(deltas[2]).toMatchObject({
      delta: { tool_calls: [{ index: 0, id: 'tooluse_Gl6hHAU4Q4yCkeBaUh7xKg', type: 'function', function: { name: 'top_song', arguments: '' } }] },
    });
    const args = [deltas[3], deltas[4]].map((d) => (d as { delta: { tool_calls: Array<{ function: { arguments: string } }> } }).delta.tool_calls[0]?.function.arguments).join('');
    expect(JSON.parse(args)).toEqual({ sign: 'WZPZ' });
    expect(deltas[5]).toMatchObject({ delta: {}, finish_reason: 'tool_calls' });
    expect(out.events[6]).toMatchObject({ object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 375, completion_tokens: 59, total_tokens: 434 } });
    expect(out.events).toHaveLength(7);
    expect(out.usage).toEqual({ promptTokens: 375, completionTokens: 59, totalTokens: 434, cachedTokens: 0 });
  });

  it('sends no usage chunk without include_usage but still resolves usage', async () => {
    const out = await translate(frames, false, 1);
    expect(out.events).toHaveLength(6);
    expect(out.usage).toMatchObject({ promptTokens: 375 });
  });

  it('turns an exception event into an error payload, without [DONE], and estimates usage', async () => {
    const out = await translate([frames[0] as Uint8Array, frames[1] as Uint8Array, exceptionFrame('throttlingException', 'slow down')], true);
    expect(out.text).not.toContain('[DONE]');
    expect(out.events.at(-1)).toMatchObject({ error: { type: 'rate_limit_error', code: 'rate_limit_exceeded' } });
    expect(out.usage).toEqual({ promptTokens: 0, completionTokens: 1, totalTokens: 1, cachedTokens: 0, estimated: true });
  });

  it('fails on a corrupted frame (checksum) instead of passing garbage', async () => {
    const bad = Buffer.from(frames[1] as Uint8Array);
    bad[bad.length - 6] = (bad[bad.length - 6] as number) ^ 0xff;
    await expect(translate([frames[0] as Uint8Array, bad], true)).rejects.toThrow();
  });

  /** Reads the translated body as the server does (flowing) until it ends or fails: the text sent before, and the error. */
  async function translateUntilError(parts: Uint8Array[], splitAt = 7): Promise<{ text: string; err: unknown; usage: unknown }> {
    const all = Buffer.concat(parts);
    const pieces: Buffer[] = [];
    for (let i = 0; i < all.length; i += splitAt) pieces.push(all.subarray(i, i + splitAt));
    const t = new ConverseStreamTranslator({ ...meta, includeUsage: true });
    let text = '';
    const ended = new Promise<unknown>((resolve) => {
      t.on('data', (c: Buffer | string) => (text += String(c)));
      t.once('end', () => resolve(undefined));
      t.once('error', resolve);
    });
    Readable.from(pieces).pipe(t);
    const err = await ended;
    return { text, err, usage: await t.usage };
  }
  const finishReasons = (text: string): unknown[] =>
    text
      .split('\n\n')
      .filter((l) => l.startsWith('data: {'))
      .flatMap((l) => (JSON.parse(l.slice(6)) as { choices: { finish_reason: unknown }[] }).choices.map((c) => c.finish_reason))
      .filter((r) => r !== null);

  it('a stream that ends without messageStop fails as upstream_error, after what was translated, with no finish_reason or [DONE]', async () => {
    const upToArgs = frames.slice(0, 6);
    for (const splitAt of [1, 7, 4096]) {
      const { text, err, usage } = await translateUntilError(upToArgs, splitAt);
      expect(err).toBeInstanceOf(GatewayError);
      expect(err).toMatchObject({ code: 'upstream_error', message: expect.stringMatching(/ended before the upstream finished the answer/) });
      expect(text).toContain('Let me look that up.');
      expect(text).toContain('ZPZ');
      expect(text).not.toContain('[DONE]');
      expect(finishReasons(text)).toEqual([]);
      // Metering still settles, with the estimate.
      expect(usage).toMatchObject({ completionTokens: 3, estimated: true });
    }
    expect((await translateUntilError([])).err).toMatchObject({ code: 'upstream_error' });
  });

  it('messageStop without the metadata after it is a complete answer', async () => {
    const { text, err } = await translateUntilError(frames.slice(0, 8));
    expect(err).toBeUndefined();
    expect(finishReasons(text)).toEqual(['tool_calls']);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('frame errors are upstream_error (never internal_error), naming the fault, after the events before them', async () => {
    const badCrc = Buffer.from(frames[1] as Uint8Array);
    badCrc[badCrc.length - 6] = (badCrc[badCrc.length - 6] as number) ^ 0xff;
    const badPrelude = Buffer.from(frames[1] as Uint8Array);
    badPrelude[9] = (badPrelude[9] as number) ^ 0xff;
    const badLength = Buffer.from(frames[1] as Uint8Array);
    badLength.writeUInt32BE(0x7fffffff, 0);
    const notJson = eventStreamCodec.encode({
      headers: { ':event-type': { type: 'string', value: 'contentBlockDelta' }, ':message-type': { type: 'string', value: 'event' } },
      body: Buffer.from('{"delta":{"text":"private words'),
    });
    const cut = (frames[1] as Uint8Array).subarray(0, 20);
    const cases: Array<[Uint8Array, RegExp]> = [
      [badCrc, /malformed event stream \(The message checksum/],
      [badPrelude, /malformed event stream \(The prelude checksum/],
      [badLength, /malformed event stream \(a frame length of 2147483647 bytes\)/],
      [notJson, /malformed event stream \(a contentBlockDelta event whose payload is not JSON\)/],
      [cut, /malformed event stream \(it ended inside a frame\)/],
    ];
    for (const [bad, message] of cases) {
      const { text, err } = await translateUntilError([frames[0] as Uint8Array, bad]);
      expect(err).toBeInstanceOf(GatewayError);
      expect(err).toMatchObject({ code: 'upstream_error', status: 502 });
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('private words');
      expect(text).toContain('"role":"assistant"');
      expect(text).not.toContain('[DONE]');
    }
  });
});
