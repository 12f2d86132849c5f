/**
 * The inbound translators of POST /v1/messages (Anthropic request → canonical chat body, OpenAI
 * answers → Anthropic), against the documented shapes, and the round trips through the outbound
 * translators: Anthropic → canonical → Anthropic must give back what the client sent.
 */
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../../src/errors.js';
import { fromAnthropicRequest } from '../../../../src/providers/anthropic/inbound/request.js';
import { OpenAIJsonToAnthropic, errorType, toAnthropicMessage } from '../../../../src/providers/anthropic/inbound/response.js';
import { OpenAIStreamToAnthropic } from '../../../../src/providers/anthropic/inbound/stream.js';
import { toAnthropicRequest } from '../../../../src/providers/anthropic/request.js';
import { toChatCompletion } from '../../../../src/providers/anthropic/response.js';
import { AnthropicStreamTranslator } from '../../../../src/providers/anthropic/stream.js';
import type { AnthropicResponse, StreamEvent } from '../../../../src/providers/anthropic/wire.js';
import { OPENAI_TOOLS_REQUEST, dataLines, fixtureJson, fixtureText } from './fixtures.js';

function invalid(body: unknown): GatewayError {
  try {
    fromAnthropicRequest(body);
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('accepted');
}

function thrown(f: () => unknown): GatewayError {
  try {
    f();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

/** Runs a translator over a text in small chunks. */
function run(t: { push(b: Buffer): string; end(): string }, text: string, size = 11): string {
  const buf = Buffer.from(text);
  let out = '';
  for (let i = 0; i < buf.length; i += size) out += t.push(buf.subarray(i, i + size));
  return out + t.end();
}

describe('request: Anthropic Messages → canonical chat', () => {
  it('translates the documented tools request into the equivalent OpenAI request', () => {
    const canonical = fromAnthropicRequest(fixtureJson('request-tools.json'));
    expect(canonical).toEqual({ ...OPENAI_TOOLS_REQUEST, model: 'claude-sonnet-4-5', tool_choice: 'auto' });
  });

  it('round-trips through the outbound translator unchanged', () => {
    const original = fixtureJson('request-tools.json');
    expect(toAnthropicRequest(fromAnthropicRequest(original), 'claude-sonnet-4-5')).toEqual(original);
  });

  it('asks streams for usage, maps tool_choice and user ids, and drops fields OpenAI lacks', () => {
    const tools = [{ name: 'f', input_schema: { type: 'object' } }];
    const got = fromAnthropicRequest({
      model: 'm',
      max_tokens: 5,
      stream: true,
      top_k: 3,
      tools,
      tool_choice: { type: 'tool', name: 'f' },
      metadata: { user_id: 'u-1' },
      system: [{ type: 'text', text: 'A' }, { type: 'text', text: 'B' }],
      messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/x.png' } }] }],
    });
    expect(got).toEqual({
      model: 'm',
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
      user: 'u-1',
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
      messages: [
        { role: 'system', content: 'A\nB' },
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/x.png' } }] },
      ],
    });
  });

  it('refuses bad input with a 400 naming the field', () => {
    const base = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] };
    expect(invalid({ ...base, max_tokens: undefined }).param).toBe('max_tokens');
    expect(invalid({ ...base, messages: [] }).param).toBe('messages');
    expect(invalid({ ...base, messages: [{ role: 'system', content: 'x' }] }).param).toBe('messages.0.role');
    expect(invalid({ ...base, temperature: 1.5 }).param).toBe('temperature');
    expect(invalid({ ...base, tools: [{ name: 'f' }] }).param).toBe('tools.0.input_schema');
    expect(invalid({ ...base, tool_choice: { type: 'any' } }).param).toBe('tool_choice');
    expect(invalid({ ...base, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'file:///etc/passwd' } }] }] }).status).toBe(400);
    expect(invalid({ ...base, messages: [{ role: 'user', content: [{ type: 'tool_use', id: 'a', name: 'f', input: {} }] }] }).param).toBe('messages');
  });
});

describe('response: OpenAI chat completion → Anthropic message', () => {
  it('round-trips the documented tool_use message', () => {
    const original = fixtureJson<AnthropicResponse>('message-tool-use.json');
    const back = toAnthropicMessage(toChatCompletion(original, 1).body);
    expect(back).toEqual({ ...original, usage: { ...original.usage, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } });
  });

  it('keeps cached tokens apart from input tokens', () => {
    const original = fixtureJson<AnthropicResponse>('message-text.json');
    // Cache writes are counted as input by OpenAI's format; they come back as plain input tokens.
    const back = toAnthropicMessage(toChatCompletion(original, 1).body);
    expect(back.usage).toEqual({ input_tokens: 2095, output_tokens: 503, cache_creation_input_tokens: 0, cache_read_input_tokens: 1800 });
    expect(back.stop_reason).toBe('end_turn');
  });

  it('turns an OpenAI error envelope into Anthropic’s, typed by status', () => {
    const t = new OpenAIJsonToAnthropic(404);
    const out = run(t, JSON.stringify({ error: { message: 'The model `x` does not exist', type: 'invalid_request_error', code: 'model_not_found', param: 'model' } }));
    expect(JSON.parse(out)).toEqual({ type: 'error', error: { type: 'not_found_error', message: 'The model `x` does not exist' } });
    expect([400, 401, 403, 404, 413, 429, 500, 502, 503, 504].map(errorType)).toEqual([
      'invalid_request_error',
      'authentication_error',
      'permission_error',
      'not_found_error',
      'request_too_large',
      'rate_limit_error',
      'api_error',
      'api_error',
      'overloaded_error',
      'api_error',
    ]);
  });
});

describe('stream: OpenAI chunks → Anthropic SSE', () => {
  /** Anthropic fixture → OpenAI chunks (outbound) → Anthropic events (inbound). */
  function roundTrip(name: string): StreamEvent[] {
    const openai = run(new AnthropicStreamTranslator({ includeUsage: true, created: 1, model: 'm' }), fixtureText(name), 7);
    const text = run(new OpenAIStreamToAnthropic('m'), openai, 5);
    // Every data line is preceded by its event line, with the same type.
    const lines = text.split('\n').filter((l) => l !== '');
    for (let i = 0; i < lines.length; i += 2) {
      expect(lines[i]).toBe(`event: ${(JSON.parse((lines[i + 1] as string).slice(6)) as StreamEvent).type}`);
    }
    return dataLines(text) as StreamEvent[];
  }

  it('reproduces the documented tool_use stream (ping aside), with usage in message_delta', () => {
    const original = (dataLines(fixtureText('stream-tool-use.sse')) as StreamEvent[]).filter((e) => e.type !== 'ping');
    const back = roundTrip('stream-tool-use.sse');
    expect(back.map((e) => e.type)).toEqual(original.map((e) => e.type).filter((_, i) => !isEmptyJsonDelta(original[i])));
    const json = back.flatMap((e) => (e.type === 'content_block_delta' && e.delta.type === 'input_json_delta' ? [e.delta.partial_json] : [])).join('');
    expect(JSON.parse(json)).toEqual({ location: 'San Francisco, CA' });
    expect(back.find((e) => e.type === 'content_block_start' && e.index === 1)).toEqual({
      type: 'content_block_start',
      index: 1,
      content_block: { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: {} },
    });
    expect(back.find((e) => e.type === 'message_delta')).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { input_tokens: 472, output_tokens: 89, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
  });

  it('reproduces the documented text stream', () => {
    const back = roundTrip('stream-text.sse');
    expect(back.map((e) => e.type)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(back[0]).toMatchObject({ message: { id: 'msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY', model: 'claude-sonnet-4-5', role: 'assistant', content: [] } });
  });

  it('ends a stream that finished without [DONE] properly, and turns an in-stream error into an error event', () => {
    const finished = run(
      new OpenAIStreamToAnthropic('m'),
      'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\n' +
        'data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n',
    );
    expect((dataLines(finished) as StreamEvent[]).slice(-2)).toMatchObject([
      { type: 'message_delta', delta: { stop_reason: 'max_tokens' } },
      { type: 'message_stop' },
    ]);
    const failed = run(new OpenAIStreamToAnthropic('m'), 'data: {"error":{"message":"boom","type":"server_error"}}\n\n');
    expect(dataLines(failed)).toEqual([{ type: 'error', error: { type: 'api_error', message: 'boom' } }]);
  });

  it('fails a stream that ended before the upstream finished, instead of reporting end_turn', () => {
    const t = new OpenAIStreamToAnthropic('m');
    // A delta, then the start of a chunk the upstream never completed, then a clean end of the body.
    const sent = t.push(Buffer.from('data: {"id":"c1","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}\n\ndata: {"id":"c1","choi'));
    expect((dataLines(sent) as StreamEvent[]).map((e) => e.type)).toEqual(['message_start', 'content_block_start', 'content_block_delta']);
    const err = thrown(() => t.end());
    expect(err).toMatchObject({ code: 'upstream_error', status: 502 });
    expect(err.message).toMatch(/ended before the upstream finished/);
    // An empty body too.
    expect(thrown(() => new OpenAIStreamToAnthropic('m').end()).code).toBe('upstream_error');
  });

  it('fails on an event line too long to translate, instead of dropping its content', () => {
    const t = new OpenAIStreamToAnthropic('m');
    const delta = (text: string): string => `data: {"id":"c1","choices":[{"index":0,"delta":{"content":"${text}"},"finish_reason":null}]}\n\n`;
    expect(t.push(Buffer.from(delta('before')))).toContain('before');
    const big = Buffer.from(delta('y'.repeat(2 * 1024 * 1024)));
    // Arriving in 64 KiB chunks, as from a socket: the chunk that takes the line past 1 MiB throws.
    let pushed = 0;
    const err = thrown(() => {
      for (; pushed < big.length; pushed += 64 * 1024) t.push(big.subarray(pushed, pushed + 64 * 1024));
    });
    expect(err).toMatchObject({ code: 'upstream_error', status: 502 });
    expect(err.message).toMatch(/larger than 1 MiB/);
    expect(pushed).toBe(16 * 64 * 1024);

    // What came before the long line in the failing chunk is still given out (pending), ahead of the error.
    const u = new OpenAIStreamToAnthropic('m');
    expect(thrown(() => u.push(Buffer.concat([Buffer.from(delta('same-chunk')), big.subarray(0, 1536 * 1024)]))).code).toBe('upstream_error');
    expect(u.pending()).toContain('same-chunk');
  });
});

/** The documented stream opens tool input with an empty fragment, which carries nothing to translate. */
function isEmptyJsonDelta(e: StreamEvent | undefined): boolean {
  return e?.type === 'content_block_delta' && e.delta.type === 'input_json_delta' && e.delta.partial_json === '';
}
