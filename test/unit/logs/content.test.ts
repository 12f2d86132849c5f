import { describe, expect, it } from 'vitest';
import { newCapture, type CapturedBody } from '../../../src/logs/capture.js';
import { assembleStream, buildContent, cutUtf8, parseLogContent } from '../../../src/logs/content.js';

const sse = (events: unknown[], done = true): Buffer =>
  Buffer.from(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + (done ? 'data: [DONE]\n\n' : ''));

const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices, ...extra });

function captured(bytes: Buffer, over: Partial<CapturedBody> = {}): CapturedBody {
  return { ...newCapture(), chunks: [bytes], bytes: bytes.length, complete: true, ...over };
}

describe('assembleStream', () => {
  it('adds text deltas of each choice, keeps finish reasons and the usage chunk', () => {
    const raw = sse([
      chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
      chunk([{ index: 0, delta: { content: 'Hel' }, finish_reason: null }, { index: 1, delta: { content: 'Hi' }, finish_reason: null }]),
      chunk([{ index: 0, delta: { content: 'lo' }, finish_reason: 'stop' }, { index: 1, delta: {}, finish_reason: 'length' }]),
      chunk([], { usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } }),
    ]);
    expect(assembleStream(raw)).toEqual({
      object: 'chat.completion',
      id: 'chatcmpl-1',
      model: 'gpt-4o-mini',
      created: 1,
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
      choices: [
        { index: 0, message: { role: 'assistant', content: 'Hello' }, finish_reason: 'stop' },
        { index: 1, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'length' },
      ],
      stream_done: true,
    });
  });

  it('assembles tool calls from their argument deltas, by index', () => {
    const raw = sse([
      chunk([{ index: 0, delta: { role: 'assistant', tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] } }]),
      chunk([{ index: 0, delta: { tool_calls: [{ index: 1, id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } }] } }]),
      chunk([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] } }]),
      chunk([{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, finish_reason: 'tool_calls' }]),
    ]);
    const out = assembleStream(raw) as { choices: { message: unknown; finish_reason: unknown }[] };
    expect(out.choices[0]).toEqual({
      index: 0,
      message: {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{}' } },
        ],
      },
      finish_reason: 'tool_calls',
    });
  });

  it('legacy completions become text choices; a cut capture keeps what parsed; an error event is kept', () => {
    const text = assembleStream(sse([{ object: 'text_completion', choices: [{ index: 0, text: 'ab' }] }, { choices: [{ index: 0, text: 'c', finish_reason: 'stop' }] }]));
    expect(text).toMatchObject({ object: 'text_completion', choices: [{ index: 0, text: 'abc', finish_reason: 'stop' }] });

    const whole = sse([chunk([{ index: 0, delta: { content: 'one ' } }]), chunk([{ index: 0, delta: { content: 'two' } }])], false);
    const cut = assembleStream(whole.subarray(0, whole.length - 20));
    expect(cut).toMatchObject({ choices: [{ message: { content: 'one ' } }], stream_done: false });

    const failed = assembleStream(Buffer.from(`${sse([chunk([{ index: 0, delta: { content: 'x' } }])], false).toString()}data: {"error":{"message":"upstream failed","code":"upstream_error"}}\n\n`));
    expect(failed).toMatchObject({ error: { code: 'upstream_error' }, choices: [{ message: { content: 'x' } }] });
  });
});

describe('cutUtf8', () => {
  it('keeps short text whole and cuts long text at a character boundary', () => {
    expect(cutUtf8('hello', 10)).toEqual({ text: 'hello', truncated: false });
    expect(cutUtf8('héllo wörld', 4)).toEqual({ text: 'hél', truncated: true }); // h (1) + é (2) + l (1)
    expect(cutUtf8('héllo wörld', 2)).toEqual({ text: 'h', truncated: true }); // never half of é
    const cut = cutUtf8('€€€€', 5); // 3 bytes each: only one fits
    expect(cut).toEqual({ text: '€', truncated: true });
    expect(Buffer.byteLength(cutUtf8('😀'.repeat(100), 33).text)).toBeLessThanOrEqual(33);
  });
});

describe('buildContent', () => {
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };

  it('keeps a small request and response whole', () => {
    const answer = Buffer.from('{"object":"chat.completion"}');
    const c = buildContent({ body, response: { capture: captured(answer), streamed: false } }, 1000);
    expect(c).toEqual({ v: 1, request: JSON.stringify(body), request_truncated: false, response: answer.toString(), response_truncated: false });
    expect(parseLogContent(Buffer.from(JSON.stringify(c)))).toEqual(c);
  });

  it('within the bound: a large request leaves the response at least half', () => {
    const big = { ...body, messages: [{ role: 'user', content: 'x'.repeat(10_000) }] };
    const answer = Buffer.from(JSON.stringify({ text: 'y'.repeat(10_000) }));
    const c = buildContent({ body: big, response: { capture: captured(answer), streamed: false } }, 1000);
    expect(c.request_truncated).toBe(true);
    expect(c.response_truncated).toBe(true);
    expect(Buffer.byteLength(c.request ?? '')).toBe(500);
    expect(Buffer.byteLength(c.request ?? '') + Buffer.byteLength(c.response ?? '')).toBe(1000);
    // A small answer leaves the rest to the request.
    const small = buildContent({ body: big, response: { capture: captured(Buffer.from('{}')), streamed: false } }, 1000);
    expect(Buffer.byteLength(small.request ?? '')).toBe(998);
    expect(small.response).toBe('{}');
  });

  it('a response cut at capture or not complete is flagged; no response is null', () => {
    const a = buildContent({ body, response: { capture: captured(Buffer.from('{"a":'), { truncated: true }), streamed: false } }, 1000);
    expect(a.response_truncated).toBe(true);
    const b = buildContent({ body, response: { capture: captured(Buffer.from('{}'), { complete: false }), streamed: false } }, 1000);
    expect(b.response_truncated).toBe(true);
    expect(buildContent({ body, response: undefined }, 1000)).toMatchObject({ response: null, response_truncated: false });
  });

  it('a stream is stored assembled, not as its frames', () => {
    const raw = sse([chunk([{ index: 0, delta: { content: 'streamed text' }, finish_reason: 'stop' }])]);
    const c = buildContent({ body, response: { capture: captured(raw), streamed: true } }, 10_000);
    expect(c.response).not.toContain('data:');
    expect(JSON.parse(c.response ?? '')).toMatchObject({ choices: [{ message: { content: 'streamed text' } }] });
  });
});
