/**
 * Upstreams that misbehave on the wire, through a running gateway, as the official SDKs see it: a
 * body in a content-encoding the gateway did not ask for, an event line too long to translate, and
 * a stream whose body ends (cleanly, at the transport) before the upstream said it had finished.
 * The upstream is a real local HTTP server speaking the OpenAI, Anthropic, Gemini (SSE) and Bedrock
 * (ConverseStream binary event-stream) wire formats, which picks its fault from `MODE:<name>` in
 * the last user message.
 */
import Anthropic from '@anthropic-ai/sdk';
import { type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOCK_AWS, frame } from '../../src/providers/mock/bedrock/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const KEY = 'sk-wire-0123456789abcdef0123456789abcdef';
const BIG = 2 * 1024 * 1024;

let upstream: Server;
let gw: TestGateway;
let openai: OpenAI;
let anthropic: Anthropic;
/** What the upstream was asked, per mode: the accept-encoding request header. */
const asked = new Map<string, string | undefined>();

function modeOf(body: { messages?: { content?: unknown }[]; contents?: { parts?: { text?: string }[] }[]; prompt?: unknown }): string {
  // OpenAI, Anthropic and Bedrock: messages[].content (a string or parts with text); Gemini: contents[].parts; legacy: prompt.
  const last = body.messages?.at(-1)?.content ?? body.contents?.at(-1)?.parts ?? body.prompt;
  const text = typeof last === 'string' ? last : Array.isArray(last) ? last.map((p: { text?: string }) => p.text ?? '').join('') : '';
  return /MODE:([\w-]+)/.exec(text)?.[1] ?? 'normal';
}

const chunk = (content: string, finish: string | null = null): string =>
  `data: ${JSON.stringify({ id: 'chatcmpl-w', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [{ index: 0, delta: finish === null ? { content } : {}, finish_reason: finish }] })}\n\n`;
const usageChunk = `data: ${JSON.stringify({ id: 'chatcmpl-w', object: 'chat.completion.chunk', created: 1, model: 'up', choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } })}\n\n`;

function openaiWire(res: ServerResponse, mode: string, stream: boolean): void {
  const sse = (extra: Record<string, string> = {}) => res.writeHead(200, { 'content-type': 'text/event-stream', ...extra });
  switch (mode) {
    case 'gzip':
      sse({ 'content-encoding': 'gzip' });
      res.end(gzipSync(chunk('zipped') + chunk('', 'stop') + usageChunk + 'data: [DONE]\n\n'));
      return;
    case 'gzip-json': {
      const body = { id: 'chatcmpl-w', object: 'chat.completion', created: 1, model: 'up', choices: [{ index: 0, message: { role: 'assistant', content: 'zipped' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } };
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(JSON.stringify(body)));
      return;
    }
    case 'huge':
      sse();
      res.write(chunk('start '));
      res.write(chunk('y'.repeat(BIG)));
      res.end(chunk('end') + chunk('', 'stop') + usageChunk + 'data: [DONE]\n\n');
      return;
    case 'close-clean':
      // A delta, then the start of a chunk never completed, and a clean end of the body.
      sse();
      res.write(chunk('partial '));
      res.end('data: {"id":"chatcmpl-w","choi');
      return;
    case 'nodone':
      // Finished (finish_reason and usage) but no [DONE]: a complete answer.
      sse();
      res.end(chunk('done ') + chunk('', 'stop') + usageChunk);
      return;
    case 'nofinish':
      // Whole events, a usage chunk even, but neither a finish_reason nor [DONE]: cut short.
      sse();
      res.write(chunk('partial '));
      res.end(chunk('answer') + usageChunk);
      return;
    default:
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'chatcmpl-w', object: 'chat.completion', created: 1, model: 'up', choices: [{ index: 0, message: { role: 'assistant', content: 'plain' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } }));
        return;
      }
      sse();
      res.end(chunk('Hello') + chunk(' there') + chunk('', 'stop') + usageChunk + 'data: [DONE]\n\n');
  }
}

/** Legacy completions (`text_completion` chunks, also ending with a finish_reason). */
function completionsWire(res: ServerResponse, mode: string): void {
  const text = (t: string, finish: string | null): string =>
    `data: ${JSON.stringify({ id: 'cmpl-w', object: 'text_completion', created: 1, model: 'up', choices: [{ text: t, index: 0, logprobs: null, finish_reason: finish }] })}\n\n`;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  if (mode === 'close-clean') res.end(text('partial ', null) + text('answer', null));
  else res.end(text('Hello', null) + text(' there', null) + text('', 'stop') + 'data: [DONE]\n\n');
}

/** Gemini `streamGenerateContent?alt=sse`: each data line one GenerateContentResponse. */
function geminiWire(res: ServerResponse, mode: string): void {
  const part = (text: string, finishReason?: string): string =>
    `data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text }] }, index: 0, ...(finishReason === undefined ? {} : { finishReason }) }], modelVersion: 'gemini-up' })}\r\n\r\n`;
  const usage = { promptTokenCount: 4, candidatesTokenCount: 2, totalTokenCount: 6 };
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  if (mode === 'truncated') {
    // Text and even usage, but no candidate ever finished: the body just ends.
    res.write(part('partial '));
    res.end(`data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: 'answer' }] }, index: 0 }], usageMetadata: usage })}\r\n\r\n`);
    return;
  }
  res.end(part('Hello') + `data: ${JSON.stringify({ candidates: [{ content: { role: 'model', parts: [{ text: ' there' }] }, finishReason: 'STOP', index: 0 }], usageMetadata: usage, modelVersion: 'gemini-up' })}\r\n\r\n`);
}

/** Bedrock ConverseStream: binary event-stream frames. */
function bedrockWire(res: ServerResponse, mode: string): void {
  const delta = (text: string): Uint8Array => frame('contentBlockDelta', { contentBlockIndex: 0, delta: { text } });
  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
  res.write(frame('messageStart', { role: 'assistant' }));
  switch (mode) {
    case 'truncated':
      // No contentBlockStop, messageStop or metadata: the body just ends.
      res.end(Buffer.concat([delta('partial '), delta('answer')]));
      return;
    case 'corrupt': {
      // A frame whose message CRC does not match its bytes.
      const bad = Buffer.from(delta('answer'));
      bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
      res.end(Buffer.concat([delta('partial '), bad, frame('messageStop', { stopReason: 'end_turn' })]));
      return;
    }
    default:
      res.end(
        Buffer.concat([
          delta('Hello'),
          delta(' there'),
          frame('contentBlockStop', { contentBlockIndex: 0 }),
          frame('messageStop', { stopReason: 'end_turn' }),
          frame('metadata', { usage: { inputTokens: 4, outputTokens: 2, totalTokens: 6 }, metrics: { latencyMs: 1 } }),
        ]),
      );
  }
}

function anthropicWire(res: ServerResponse, mode: string): void {
  const ev = (type: string, data: Record<string, unknown>): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const start =
    ev('message_start', { message: { id: 'msg_w', type: 'message', role: 'assistant', model: 'up', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 11, output_tokens: 1 } } }) +
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
  const delta = (text: string): string => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
  const tail =
    ev('content_block_stop', { index: 0 }) +
    ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } }) +
    ev('message_stop', {});
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  switch (mode) {
    case 'huge':
      res.write(start + delta('start '));
      res.write(delta('y'.repeat(BIG)));
      res.end(delta('end') + tail);
      return;
    case 'truncated':
      // Ends cleanly mid-answer: no content_block_stop, message_delta or message_stop.
      res.end(start + delta('partial '));
      return;
    default:
      res.end(start + delta('Hello') + delta(' there') + tail);
  }
}

beforeAll(async () => {
  upstream = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as Parameters<typeof modeOf>[0] & { stream?: boolean };
      const mode = modeOf(body);
      const url = req.url ?? '';
      const wire = url.endsWith('/v1/messages')
        ? 'anthropic'
        : url.includes(':streamGenerateContent')
          ? 'gemini'
          : url.endsWith('/converse-stream')
            ? 'bedrock'
            : url.endsWith('/v1/completions')
              ? 'completions'
              : 'openai';
      asked.set(`${wire}:${mode}`, req.headers['accept-encoding']);
      if (wire === 'anthropic') anthropicWire(res, mode);
      else if (wire === 'gemini') geminiWire(res, mode);
      else if (wire === 'bedrock') bedrockWire(res, mode);
      else if (wire === 'completions') completionsWire(res, mode);
      else openaiWire(res, mode, body.stream === true);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startTestGateway({
    yaml: `
demo: { enabled: false }
routing: { maxAttempts: 1 }
providers:
  - { name: wire, kind: openai-compatible, baseUrl: "http://127.0.0.1:${port}/v1" }
  - { name: wire-anth, kind: anthropic, baseUrl: "http://127.0.0.1:${port}", apiKey: sk-ant-wire-0123456789 }
  - { name: wire-gem, kind: gemini, baseUrl: "http://127.0.0.1:${port}", apiKey: AIza-wire-0123456789 }
  - name: wire-aws
    kind: bedrock
    baseUrl: "http://127.0.0.1:${port}"
    aws:
      accessKeyId: { env: WIRE_AWS_ACCESS_KEY_ID }
      secretAccessKey: { env: WIRE_AWS_SECRET_ACCESS_KEY }
      region: us-east-1
deployments:
  - { model: wire-model, provider: wire }
  - { model: wire-legacy, provider: wire, kind: completion }
  - { model: wire-anth-model, provider: wire-anth, upstreamModel: up }
  - { model: wire-gem-model, provider: wire-gem, upstreamModel: gemini-up }
  - { model: wire-aws-model, provider: wire-aws, upstreamModel: "anthropic.claude-up-v1:0" }
tenants:
  - slug: wire
    keys: [{ name: main, value: ${KEY} }]
`,
    env: { WIRE_AWS_ACCESS_KEY_ID: MOCK_AWS.accessKeyId, WIRE_AWS_SECRET_ACCESS_KEY: MOCK_AWS.secretAccessKey },
  });
  openai = new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: KEY, baseURL: gw.url, maxRetries: 0 });
});
afterAll(async () => {
  await gw?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

/** Streams with the OpenAI SDK: the text seen and the error raised, if any. */
async function openaiStream(model: string, mode: string): Promise<{ text: string; finish: string | null; err: unknown }> {
  let text = '';
  let finish: string | null = null;
  try {
    const stream = await openai.chat.completions.create({
      model,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: `MODE:${mode}` }],
    });
    for await (const c of stream) {
      text += c.choices[0]?.delta?.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    return { text, finish, err: undefined };
  } catch (err) {
    return { text, finish, err };
  }
}

/** Streams with the Anthropic SDK: the final message, or the error it raised. */
async function anthropicStream(model: string, mode: string): Promise<{ text: string; final?: Anthropic.Message; err?: unknown }> {
  let text = '';
  const stream = anthropic.messages.stream({ model, max_tokens: 100, messages: [{ role: 'user', content: `MODE:${mode}` }] });
  stream.on('text', (t) => (text += t));
  try {
    return { text, final: await stream.finalMessage() };
  } catch (err) {
    return { text, err };
  }
}

describe('a body in a content-encoding the gateway did not ask for', () => {
  it('upstreams are asked for identity', async () => {
    await openaiStream('wire-model', 'normal');
    await openaiStream('wire-anth-model', 'normal');
    expect(asked.get('openai:normal')).toBe('identity');
    expect(asked.get('anthropic:normal')).toBe('identity');
  });

  it('a gzip stream is a 502 upstream_error naming the coding, not an empty completion', async () => {
    const { text, err } = await openaiStream('wire-model', 'gzip');
    expect(text).toBe('');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).toMatchObject({ status: 502, code: 'upstream_error', type: 'upstream_error' });
    expect((err as Error).message).toContain("'gzip'");
  });

  it('a gzip JSON answer is a 502 upstream_error, not gzip bytes', async () => {
    const err = await openai.chat.completions.create({ model: 'wire-model', messages: [{ role: 'user', content: 'MODE:gzip-json' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).toMatchObject({ status: 502, code: 'upstream_error' });
    expect((err as Error).message).toContain("'gzip'");
  });

  it('on /v1/messages, in Anthropic’s envelope', async () => {
    const { err } = await anthropicStream('wire-model', 'gzip');
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err).toMatchObject({ status: 502 });
    expect((err as Error).message).toContain("'gzip'");
  });
});

describe('an event line too long to translate ends the stream with the dialect’s error event', () => {
  it('OpenAI upstream → /v1/messages: the Anthropic SDK raises instead of ending with end_turn and a hole', async () => {
    const { text, final, err } = await anthropicStream('wire-model', 'huge');
    expect(final).toBeUndefined();
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as Error).message).toMatch(/larger than 1 MiB/);
    expect(text).toBe('start ');
  });

  it('Anthropic upstream → OpenAI client: the OpenAI SDK raises instead of a finish_reason and [DONE]', async () => {
    const { text, finish, err } = await openaiStream('wire-anth-model', 'huge');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toMatch(/larger than 1 MiB/);
    expect(text).toBe('start ');
    expect(finish).toBeNull();
  });

  it('on the wire: the Anthropic `error` event is the last one, with no message_stop', async () => {
    const res = await request(`${gw.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'wire-model', max_tokens: 100, stream: true, messages: [{ role: 'user', content: 'MODE:huge' }] }),
    });
    const text = await res.body.text();
    const last = text.trim().split('\n\n').at(-1) ?? '';
    expect(last).toMatch(/^event: error\ndata: /);
    expect(JSON.parse(last.split('\ndata: ')[1] as string)).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    expect(text).not.toContain('message_stop');
  });
});

describe('a stream that ends before the upstream finished is not reported as complete', () => {
  it('OpenAI upstream (no finish_reason, no [DONE]) → /v1/messages: the Anthropic SDK raises', async () => {
    const { text, final, err } = await anthropicStream('wire-model', 'close-clean');
    expect(final).toBeUndefined();
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as Error).message).toMatch(/ended before the upstream finished/);
    expect(text).toBe('partial ');
  });

  it('Anthropic upstream (no message_stop, no stop reason) → OpenAI client: the OpenAI SDK raises', async () => {
    const { text, finish, err } = await openaiStream('wire-anth-model', 'truncated');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as Error).message).toMatch(/ended before the upstream finished/);
    expect(text).toBe('partial ');
    expect(finish).toBeNull();
  });

  it('Anthropic upstream → /v1/messages (translated both ways): the Anthropic SDK raises', async () => {
    const { final, err } = await anthropicStream('wire-anth-model', 'truncated');
    expect(final).toBeUndefined();
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as Error).message).toMatch(/ended before the upstream finished/);
  });

  it('a stream that finished (finish_reason and usage) without [DONE] is still complete', async () => {
    const { final, err } = await anthropicStream('wire-model', 'nodone');
    expect(err).toBeUndefined();
    expect(final).toMatchObject({ stop_reason: 'end_turn', usage: { input_tokens: 5, output_tokens: 3 } });
  });

  it('complete streams are unaffected', async () => {
    expect((await anthropicStream('wire-model', 'normal')).final).toMatchObject({ stop_reason: 'end_turn', content: [{ type: 'text', text: 'Hello there' }] });
    expect((await anthropicStream('wire-anth-model', 'normal')).final).toMatchObject({ stop_reason: 'end_turn', content: [{ type: 'text', text: 'Hello there' }] });
    expect(await openaiStream('wire-anth-model', 'normal')).toMatchObject({ text: 'Hello there', finish: 'stop', err: undefined });
  });
});

describe('the other paths: a stream that ends before the upstream finished ends with the error event', () => {
  it('Gemini (no candidate finishReason) → OpenAI client: the OpenAI SDK raises instead of a finish_reason and [DONE]', async () => {
    const { text, finish, err } = await openaiStream('wire-gem-model', 'truncated');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).toMatchObject({ code: 'upstream_error', type: 'upstream_error' });
    expect((err as Error).message).toMatch(/ended before the upstream finished the answer/);
    expect(text).toBe('partial answer');
    expect(finish).toBeNull();
  });

  it('Gemini → /v1/messages: the Anthropic SDK raises', async () => {
    const { final, err } = await anthropicStream('wire-gem-model', 'truncated');
    expect(final).toBeUndefined();
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as Error).message).toMatch(/ended before the upstream finished/);
  });

  it('Bedrock (no messageStop) → OpenAI client: the OpenAI SDK raises instead of [DONE]', async () => {
    const { text, finish, err } = await openaiStream('wire-aws-model', 'truncated');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).toMatchObject({ code: 'upstream_error' });
    expect((err as Error).message).toMatch(/ended before the upstream finished the answer/);
    expect(text).toBe('partial answer');
    expect(finish).toBeNull();
  });

  it('Bedrock, a frame failing its checksum: upstream_error naming it (was internal_error), after the text before it', async () => {
    const { text, err } = await openaiStream('wire-aws-model', 'corrupt');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err).toMatchObject({ code: 'upstream_error', type: 'upstream_error' });
    expect((err as Error).message).toMatch(/malformed event stream \(The message checksum/);
    expect(text).toBe('partial ');
  });

  it('OpenAI-compatible passthrough (neither finish_reason nor [DONE]): the OpenAI SDK raises instead of ending silently', async () => {
    for (const mode of ['close-clean', 'nofinish']) {
      const { text, finish, err } = await openaiStream('wire-model', mode);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err).toMatchObject({ code: 'upstream_error', type: 'upstream_error' });
      expect((err as Error).message).toMatch(/ended before the upstream finished the answer/);
      expect(text).toBe(mode === 'nofinish' ? 'partial answer' : 'partial ');
      expect(finish).toBeNull();
    }
  });

  it('on the wire: the passthrough stream ends with the error event on an event boundary (the half event is dropped)', async () => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'wire-model', stream: true, messages: [{ role: 'user', content: 'MODE:close-clean' }] }),
    });
    const events = (await res.body.text()).trim().split('\n\n');
    expect(events).toHaveLength(2);
    expect(JSON.parse((events[1] as string).slice(6))).toMatchObject({ error: { code: 'upstream_error' } });
    expect(events.join('')).not.toContain('"choi\n');
  });

  it('legacy completions passthrough: the same rule', async () => {
    const cut = async (mode: string): Promise<{ text: string; err: unknown }> => {
      let text = '';
      try {
        const stream = await openai.completions.create({ model: 'wire-legacy', prompt: `MODE:${mode}`, stream: true });
        for await (const c of stream) text += c.choices[0]?.text ?? '';
        return { text, err: undefined };
      } catch (err) {
        return { text, err };
      }
    };
    const broken = await cut('close-clean');
    expect(broken.err).toMatchObject({ code: 'upstream_error' });
    expect(broken.text).toBe('partial answer');
    expect(await cut('normal')).toEqual({ text: 'Hello there', err: undefined });
  });

  it('finished streams are unaffected: passthrough with or without [DONE], Gemini, Bedrock', async () => {
    expect(await openaiStream('wire-model', 'normal')).toMatchObject({ text: 'Hello there', finish: 'stop', err: undefined });
    expect(await openaiStream('wire-model', 'nodone')).toMatchObject({ text: 'done ', finish: 'stop', err: undefined });
    expect(await openaiStream('wire-gem-model', 'normal')).toMatchObject({ text: 'Hello there', finish: 'stop', err: undefined });
    expect(await openaiStream('wire-aws-model', 'normal')).toMatchObject({ text: 'Hello there', finish: 'stop', err: undefined });
    expect((await anthropicStream('wire-gem-model', 'normal')).final).toMatchObject({ stop_reason: 'end_turn', content: [{ type: 'text', text: 'Hello there' }] });
  });
});
