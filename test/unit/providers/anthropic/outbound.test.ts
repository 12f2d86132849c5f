/**
 * The outbound translators (OpenAI chat → Anthropic Messages → OpenAI chat) against Anthropic's
 * documented request, response and stream shapes (test/fixtures/anthropic/).
 */
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../../src/errors.js';
import { DEFAULT_MAX_TOKENS, toAnthropicRequest } from '../../../../src/providers/anthropic/request.js';
import { finishReason, toChatCompletion } from '../../../../src/providers/anthropic/response.js';
import { AnthropicStreamTranslator } from '../../../../src/providers/anthropic/stream.js';
import type { AnthropicResponse } from '../../../../src/providers/anthropic/wire.js';
import { OPENAI_TOOLS_REQUEST, dataLines, fixtureJson, fixtureText } from './fixtures.js';

function translateStream(text: string, includeUsage = true, split = 7): { out: string; t: AnthropicStreamTranslator } {
  const t = new AnthropicStreamTranslator({ includeUsage, created: 1, model: 'fallback' });
  const buf = Buffer.from(text);
  let out = '';
  // Odd-sized chunks: events split across chunk boundaries must translate the same.
  for (let i = 0; i < buf.length; i += split) out += t.push(buf.subarray(i, i + split));
  out += t.end();
  return { out, t };
}

describe('request: OpenAI chat → Anthropic Messages', () => {
  it('translates system, multi-turn, tools, tool results, images, stop and sampling like the documented request', () => {
    const expected = fixtureJson('request-tools.json');
    const got = toAnthropicRequest(OPENAI_TOOLS_REQUEST, 'claude-sonnet-4-5');
    // The fixture puts the tool_result before the image and text of the same user turn; so do we.
    expect(got).toEqual(expected);
  });

  it('defaults max_tokens, prefers max_completion_tokens, clamps temperature and maps tool_choice', () => {
    const base = { messages: [{ role: 'user', content: 'hi' }] };
    expect(toAnthropicRequest(base, 'm').max_tokens).toBe(DEFAULT_MAX_TOKENS);
    expect(toAnthropicRequest({ ...base, max_tokens: 5, max_completion_tokens: 9 }, 'm').max_tokens).toBe(9);
    expect(toAnthropicRequest({ ...base, temperature: 1.7 }, 'm').temperature).toBe(1);
    const tools = [{ type: 'function', function: { name: 'f' } }];
    expect(toAnthropicRequest({ ...base, tools, tool_choice: 'required' }, 'm').tool_choice).toEqual({ type: 'any' });
    expect(toAnthropicRequest({ ...base, tools, tool_choice: 'none' }, 'm').tool_choice).toEqual({ type: 'none' });
    expect(toAnthropicRequest({ ...base, tools, tool_choice: { type: 'function', function: { name: 'f' } } }, 'm').tool_choice).toEqual({
      type: 'tool',
      name: 'f',
    });
    expect(toAnthropicRequest({ ...base, tools }, 'm').tools?.[0]).toEqual({ name: 'f', input_schema: { type: 'object', properties: {} } });
    expect(toAnthropicRequest({ ...base, stop: 'END', stream: true, user: 'u1' }, 'm')).toMatchObject({
      stop_sequences: ['END'],
      stream: true,
      metadata: { user_id: 'u1' },
    });
  });

  it('turns developer messages into system text and http image URLs into url sources', () => {
    const got = toAnthropicRequest(
      {
        messages: [
          { role: 'developer', content: [{ type: 'text', text: 'Be brief.' }] },
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] },
          { role: 'user', content: 'What is it?' },
        ],
      },
      'm',
    );
    expect(got.system).toBe('Be brief.');
    expect(got.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
          { type: 'text', text: 'What is it?' },
        ],
      },
    ]);
  });

  it('asks for JSON with a system instruction (json_object, json_schema with its schema)', () => {
    const base = { messages: [{ role: 'system', content: 'S' }, { role: 'user', content: 'hi' }] };
    expect(toAnthropicRequest({ ...base, response_format: { type: 'json_object' } }, 'm').system).toMatch(/^S\n\nRespond with one valid JSON object/);
    const schema = { type: 'object', properties: { a: { type: 'number' } } };
    expect(toAnthropicRequest({ ...base, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } }, 'm').system).toContain(
      JSON.stringify(schema),
    );
    expect(toAnthropicRequest({ ...base, response_format: { type: 'text' } }, 'm').system).toBe('S');
  });

  it('refuses what Anthropic cannot express with a 400 naming the field', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ messages: [{ role: 'user', content: 'x' }], n: 2 }, 'n'],
      [{ messages: [{ role: 'function', content: 'x' }] }, 'messages[0].role'],
      [{ messages: [{ role: 'system', content: 'only system' }] }, 'messages'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x' } }] }] }, 'messages[0].content[0]'],
      [{ messages: [{ role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] }, 'messages[0].tool_calls[0].function.arguments'],
      [{ messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'f' } }], tool_choice: 'sometimes' }, 'tool_choice'],
    ];
    for (const [body, param] of cases) {
      let caught: unknown;
      try {
        toAnthropicRequest(body, 'm');
      } catch (err) {
        caught = err;
      }
      expect(caught, param).toBeInstanceOf(GatewayError);
      expect((caught as GatewayError).status).toBe(400);
      expect((caught as GatewayError).param).toBe(param);
    }
  });
});

describe('response: Anthropic message → OpenAI chat completion', () => {
  it('translates a text answer with cached-token usage', () => {
    const { body, usage } = toChatCompletion(fixtureJson<AnthropicResponse>('message-text.json'), 1_700_000_000);
    expect(body).toEqual({
      id: 'msg_013Zva2CMHLNnXjNJJKqJ2EF',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: 'claude-sonnet-4-5',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi! My name is Claude.' }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3895, completion_tokens: 503, total_tokens: 4398, prompt_tokens_details: { cached_tokens: 1800 } },
    });
    expect(usage).toEqual({ promptTokens: 3895, completionTokens: 503, totalTokens: 4398, cachedTokens: 1800 });
  });

  it('translates tool_use blocks into tool_calls with JSON-string arguments', () => {
    const { body } = toChatCompletion(fixtureJson<AnthropicResponse>('message-tool-use.json'), 1);
    expect(body.choices).toEqual([
      {
        index: 0,
        logprobs: null,
        finish_reason: 'tool_calls',
        message: {
          role: 'assistant',
          content: "I'll check the current weather in San Francisco for you.",
          tool_calls: [
            {
              id: 'toolu_01A09q90qw90lq917835lq9',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"location":"San Francisco, CA","unit":"celsius"}' },
            },
          ],
        },
      },
    ]);
  });

  it('maps every stop reason', () => {
    expect(finishReason('end_turn')).toBe('stop');
    expect(finishReason('stop_sequence')).toBe('stop');
    expect(finishReason('max_tokens')).toBe('length');
    expect(finishReason('tool_use')).toBe('tool_calls');
    expect(finishReason('refusal')).toBe('content_filter');
    expect(finishReason(null)).toBe('stop');
  });
});

describe('stream: Anthropic SSE → OpenAI chunks', () => {
  it('translates the documented text stream, usage chunk and [DONE] included', () => {
    const { out, t } = translateStream(fixtureText('stream-text.sse'));
    const events = dataLines(out);
    const chunks = events.slice(0, -1) as { choices: { delta: Record<string, unknown>; finish_reason: string | null }[]; usage?: unknown }[];
    expect(events.at(-1)).toBe('[DONE]');
    expect(chunks[0]?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    const text = chunks.map((c) => (c.choices[0]?.delta.content as string | undefined) ?? '').join('');
    expect(text).toBe('Hello!');
    const finals = chunks.filter((c) => c.choices[0]?.finish_reason != null);
    expect(finals.map((c) => c.choices[0]?.finish_reason)).toEqual(['stop']);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 25, completion_tokens: 15, total_tokens: 40 } });
    expect(chunks.every((c) => (c as unknown as { id: string }).id === 'msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY')).toBe(true);
    expect(t.usage()).toEqual({ promptTokens: 25, completionTokens: 15, totalTokens: 40, cachedTokens: 0 });
  });

  it('translates tool_use blocks into tool-call deltas (id and name first, then argument fragments)', () => {
    const { out } = translateStream(fixtureText('stream-tool-use.sse'), false, 13);
    const chunks = dataLines(out).slice(0, -1) as { choices: { delta: { tool_calls?: unknown[] }; finish_reason: string | null }[]; usage?: unknown }[];
    const calls = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(calls).toEqual([
      { index: 0, id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 0, function: { arguments: '{"location":' } },
      { index: 0, function: { arguments: ' "San Francisco, CA"}' } },
    ]);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
    // No usage chunk without include_usage.
    expect(chunks.some((c) => c.usage !== undefined)).toBe(false);
  });

  it('fails on an error event, keeping the usage seen so far', () => {
    const t = new AnthropicStreamTranslator({ includeUsage: false, created: 1, model: 'm' });
    expect(() => t.push(Buffer.from(fixtureText('stream-error.sse')))).toThrow(/overloaded_error/);
    expect(t.usage()).toMatchObject({ promptTokens: 10, completionTokens: 1, estimated: true });
  });

  it('a stream cut before message_delta is metered by the deltas that passed, with the real input count', () => {
    const text = fixtureText('stream-tool-use.sse');
    const t = new AnthropicStreamTranslator({ includeUsage: false, created: 1, model: 'm' });
    t.push(Buffer.from(text.slice(0, text.indexOf('event: message_delta'))));
    expect(t.usage()).toEqual({ promptTokens: 472, completionTokens: 4, totalTokens: 476, cachedTokens: 0, estimated: true });
  });

  it('fails a stream that ended before the upstream finished, instead of a finish chunk and [DONE]', () => {
    const text = fixtureText('stream-text.sse');
    const t = new AnthropicStreamTranslator({ includeUsage: true, created: 1, model: 'm' });
    const out = t.push(Buffer.from(text.slice(0, text.indexOf('event: content_block_stop'))));
    expect(out).toContain('Hello');
    let err: unknown;
    try {
      t.end();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'upstream_error', status: 502, message: expect.stringMatching(/ended before the upstream finished/) });
    // Metered from what passed.
    expect(t.usage()).toMatchObject({ promptTokens: 25, estimated: true });
  });

  it('ends a stream whose message_delta gave the stop reason, when only message_stop is missing', () => {
    const text = fixtureText('stream-text.sse');
    const events = dataLines(translateStream(text.slice(0, text.indexOf('event: message_stop'))).out);
    expect(events.at(-1)).toBe('[DONE]');
    expect(events.some((e) => (e as { choices?: { finish_reason: string | null }[] }).choices?.[0]?.finish_reason === 'stop')).toBe(true);
  });

  it('fails on an event line too long to translate, instead of dropping its content', () => {
    const t = new AnthropicStreamTranslator({ includeUsage: false, created: 1, model: 'm' });
    const text = fixtureText('stream-text.sse');
    const head = text.slice(0, text.indexOf('event: content_block_delta'));
    const big = Buffer.from(`event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"${'y'.repeat(2 * 1024 * 1024)}"}}\n\n`);
    t.push(Buffer.from(head));
    let err: unknown;
    try {
      for (let i = 0; i < big.length; i += 64 * 1024) t.push(big.subarray(i, i + 64 * 1024));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'upstream_error', message: expect.stringMatching(/larger than 1 MiB/) });
  });
});
