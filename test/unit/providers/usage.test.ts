import { describe, expect, it } from 'vitest';
import { JsonUsageScanner, SseUsageScanner, type UsageScanner, extractUsage, toUsage } from '../../../src/providers/usage.js';

const USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18, prompt_tokens_details: { cached_tokens: 4 } };
const MAPPED = { promptTokens: 11, completionTokens: 7, totalTokens: 18, cachedTokens: 4 };

/** Feeds chunks to a scanner; returns the usage at the end. */
function run(scanner: UsageScanner, chunks: string[]): { usage: unknown } {
  for (const c of chunks) scanner.push(Buffer.from(c));
  return { usage: scanner.end() };
}

describe('extractUsage / toUsage', () => {
  it('finds the usage member of a chat completion and maps it', () => {
    const body = JSON.stringify({ id: 'x', choices: [{ message: { content: 'hi' } }], usage: USAGE, system_fingerprint: 'fp' });
    expect(extractUsage(Buffer.from(body))).toEqual(MAPPED);
  });

  it('ignores "usage" inside strings and usage: null', () => {
    const body = JSON.stringify({ choices: [{ message: { content: '"usage": {"prompt_tokens": 999}' } }], usage: null });
    expect(extractUsage(Buffer.from(body))).toBeUndefined();
    const nested = JSON.stringify({ usage: USAGE, choices: [{ message: { content: 'say "usage":{ and }' } }] });
    expect(extractUsage(Buffer.from(nested))).toEqual(MAPPED);
  });

  it('tolerates whitespace and fills total and cached when absent', () => {
    expect(extractUsage(Buffer.from('{ "usage" :\n { "prompt_tokens": 5 } }'))).toEqual({
      promptTokens: 5,
      completionTokens: 0,
      totalTokens: 5,
      cachedTokens: 0,
    });
  });

  it('rejects shapes without token counts', () => {
    expect(toUsage({ foo: 1 })).toBeUndefined();
    expect(toUsage('x')).toBeUndefined();
    expect(toUsage({ prompt_tokens: -1 })).toBeUndefined();
    expect(extractUsage(Buffer.from('{"usage":{"prompt_tokens":'))).toBeUndefined();
  });
});

describe('JsonUsageScanner', () => {
  it('finds usage across chunk boundaries', () => {
    const body = JSON.stringify({ object: 'list', data: [{ embedding: 'AAAA' }], usage: USAGE });
    for (let i = 0; i <= body.length; i += 7) {
      expect(run(new JsonUsageScanner(), [body.slice(0, i), body.slice(i)]).usage).toEqual(MAPPED);
    }
  });

  it('keeps only a bounded tail of a huge body and still finds trailing usage', () => {
    const big = `{"data":"${'x'.repeat(50_000)}","usage":${JSON.stringify(USAGE)}}`;
    const chunks = big.match(/[\s\S]{1,1000}/g) ?? [];
    expect(run(new JsonUsageScanner(4_096), chunks).usage).toEqual(MAPPED);
  });

  it('reports nothing for a body cut short', () => {
    const scanner = new JsonUsageScanner();
    scanner.push(Buffer.from(`{"usage":${JSON.stringify(USAGE)}`));
    expect(scanner.partial()).toBeUndefined();
  });
});

describe('SseUsageScanner', () => {
  const chunk = (extra: string): string => `data: {"id":"c","object":"chat.completion.chunk","choices":[${extra}]`;
  const stream = [
    `${chunk('{"index":0,"delta":{"content":"hi"}}')},"usage":null}\n\n`,
    `${chunk('{"index":0,"delta":{},"finish_reason":"stop"}')},"usage":null}\n\n`,
    `${chunk('')},"usage":${JSON.stringify(USAGE)}}\n\n`,
    'data: [DONE]\n\n',
  ].join('');

  it('captures the usage chunk however the TCP stream is split', () => {
    for (let i = 0; i <= stream.length; i++) {
      expect(run(new SseUsageScanner(), [stream.slice(0, i), stream.slice(i)]).usage).toEqual(MAPPED);
    }
  });

  it('reports usage already seen when the stream is cut short', () => {
    const scanner = new SseUsageScanner();
    scanner.push(Buffer.from(stream.slice(0, stream.indexOf('data: [DONE]'))));
    expect(scanner.partial()).toEqual(MAPPED);
  });

  it('captures usage split over many small chunks with CRLF line ends', () => {
    const crlf = stream.replace(/\n/g, '\r\n');
    const r = run(new SseUsageScanner(), crlf.match(/[\s\S]{1,3}/g) ?? []);
    expect(r.usage).toEqual(MAPPED);
  });

  it('is undefined without a usage chunk, and the last usage wins', () => {
    expect(run(new SseUsageScanner(), ['data: {"usage":null}\n\ndata: [DONE]\n\n']).usage).toBeUndefined();
    const two = `data: {"usage":{"prompt_tokens":1}}\n\ndata: ${JSON.stringify({ usage: USAGE })}\n\n`;
    expect(run(new SseUsageScanner(), [two]).usage).toEqual(MAPPED);
  });
});

describe('SseUsageScanner.finished: did the upstream say its stream was complete', () => {
  const head = '"id":"c","object":"chat.completion.chunk","created":1,"model":"m"';
  const delta = (content: string, index = 0): string =>
    `data: {${head},"choices":[{"index":${index},"delta":{"content":${JSON.stringify(content)}},"logprobs":null,"finish_reason":null}]}\n\n`;
  const finish = (reason: string, index = 0): string =>
    `data: {${head},"choices":[{"index":${index},"delta":{},"logprobs":null,"finish_reason":"${reason}"}]}\n\n`;
  const usage = `data: {${head},"choices":[],"usage":${JSON.stringify(USAGE)}}\n\n`;
  const done = 'data: [DONE]\n\n';
  const finishedAfter = (chunks: string[]): boolean => {
    const s = new SseUsageScanner();
    for (const c of chunks) s.push(Buffer.from(c));
    s.end();
    return s.finished();
  };
  /** Every split of the stream in two, and the stream a byte at a time. */
  const everySplit = (stream: string): boolean[] => {
    const out = [];
    for (let i = 0; i <= stream.length; i++) out.push(finishedAfter([stream.slice(0, i), stream.slice(i)]));
    out.push(finishedAfter(stream.split('')));
    return out;
  };

  it('a stream with finish_reason and [DONE], with usage (include_usage) or without, however split', () => {
    for (const s of [delta('hi') + finish('stop') + done, delta('hi') + finish('length') + usage + done]) {
      expect(everySplit(s).every(Boolean)).toBe(true);
    }
  });

  it('[DONE] alone, or a finish_reason alone (no [DONE]: complete, the lenient rule), however split', () => {
    expect(everySplit(delta('hi') + done).every(Boolean)).toBe(true);
    expect(everySplit(delta('hi') + done.replace('data: ', 'data:')).every(Boolean)).toBe(true);
    expect(everySplit(delta('hi') + 'data: [DONE]').every(Boolean)).toBe(true);
    expect(everySplit(delta('hi') + finish('stop') + usage).every(Boolean)).toBe(true);
    expect(everySplit((delta('hi') + finish('tool_calls')).replace(/\n/g, '\r\n')).every(Boolean)).toBe(true);
    // A server that writes JSON with spaces.
    expect(everySplit(`data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n`).every(Boolean)).toBe(true);
  });

  it('neither: not finished, even when the content or null finish_reasons mention them', () => {
    expect(everySplit(delta('partial ')).some(Boolean)).toBe(false);
    expect(everySplit(delta('partial ') + 'data: {"id":"chatcmpl-w","choi').some(Boolean)).toBe(false);
    expect(everySplit(delta('say "finish_reason":"stop" or [DONE]\n, then [DONE]') + delta('x', 1)).some(Boolean)).toBe(false);
    expect(everySplit(`data: {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": null}]}\n\n`).some(Boolean)).toBe(false);
    expect(finishedAfter([])).toBe(false);
  });

  it('legacy completions (text_completion) and n > 1 streams', () => {
    const text = (t: string, i: number, f: string | null): string =>
      `data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"text":${JSON.stringify(t)},"index":${i},"logprobs":null,"finish_reason":${f === null ? 'null' : `"${f}"`}}]}\n\n`;
    expect(everySplit(text('a', 0, null) + text('b', 1, null) + text('', 0, 'stop') + text('', 1, 'length') + done).every(Boolean)).toBe(true);
    expect(everySplit(text('a', 0, null) + text('b', 1, null)).some(Boolean)).toBe(false);
    expect(everySplit(delta('a', 0) + delta('b', 1) + finish('stop', 0) + finish('stop', 1) + usage + done).every(Boolean)).toBe(true);
  });
});
