import { describe, expect, it } from 'vitest';
import { SseScanner, type SseScannerOptions } from '../../../src/providers/sse.js';

interface Seen {
  data: string[];
  events: string[];
  done: number;
}

function scan(chunks: (string | Buffer)[], opts?: SseScannerOptions): Seen {
  const seen: Seen = { data: [], events: [], done: 0 };
  const scanner = new SseScanner(
    {
      onData: (d) => seen.data.push(d),
      onEvent: (e) => seen.events.push(e),
      onDone: () => seen.done++,
    },
    opts,
  );
  for (const c of chunks) scanner.push(typeof c === 'string' ? Buffer.from(c) : c);
  scanner.end();
  return seen;
}

/** Every way of cutting `text` in two. */
function splits(text: string): [string, string][] {
  return Array.from({ length: text.length + 1 }, (_, i) => [text.slice(0, i), text.slice(i)]);
}

const STREAM =
  'event: message\r\ndata: {"a":1}\r\n\r\n: comment\ndata:{"b":"x y"}\n\nid: 7\nretry: 100\ndata: {"usage":{"prompt_tokens":3}}\n\ndata: [DONE]\n\n';

describe('SseScanner', () => {
  it('reports data and event lines, [DONE], and ignores comments and other fields', () => {
    expect(scan([STREAM])).toEqual({
      data: ['{"a":1}', '{"b":"x y"}', '{"usage":{"prompt_tokens":3}}'],
      events: ['message'],
      done: 1,
    });
  });

  it('gives the same result however the stream is split (CRLF split between \\r and \\n included)', () => {
    const whole = scan([STREAM]);
    for (const [a, b] of splits(STREAM)) expect(scan([a, b])).toEqual(whole);
  });

  it('handles one byte per chunk', () => {
    expect(scan([...Buffer.from(STREAM)].map((b) => Buffer.from([b])))).toEqual(scan([STREAM]));
  });

  it('decodes multi-byte UTF-8 split across chunks', () => {
    const bytes = Buffer.from('data: {"t":"héllo 🌍"}\n\n');
    for (let i = 0; i <= bytes.length; i++) {
      expect(scan([bytes.subarray(0, i), bytes.subarray(i)]).data).toEqual(['{"t":"héllo 🌍"}']);
    }
  });

  it('reports a final line without a terminator at end()', () => {
    expect(scan(['data: one\ndata: two']).data).toEqual(['one', 'two']);
  });

  it('with a needle, reports only lines containing it, wherever the chunks split', () => {
    const stream = 'data: {"choices":[]}\n\ndata: {"x":1,"usage":null}\n\ndata: {"usage":{"total_tokens":9}}\n\ndata: [DONE]\n\n';
    const expected = ['{"x":1,"usage":null}', '{"usage":{"total_tokens":9}}'];
    for (const [a, b] of splits(stream)) {
      const seen = scan([a, b], { needle: '"usage"' });
      expect(seen.data).toEqual(expected);
      expect(seen.done).toBe(0);
    }
  });

  it('with accept, decodes only lines whose hit passes the byte-level check', () => {
    const stream = 'data: {"a":"usage","usage":null}\n\ndata: {"b":"usage","usage":{"x":1}}\n\n';
    const accept = (buf: Buffer, at: number): boolean => buf[at + '"usage"'.length + 1] === 0x7b;
    for (const [a, b] of splits(stream)) {
      expect(scan([a, b], { needle: '"usage"', accept }).data).toEqual(['{"b":"usage","usage":{"x":1}}']);
    }
  });

  it('drops over-long lines but keeps scanning after them', () => {
    const long = `data: ${'x'.repeat(100)}\n`;
    const seen = scan([long.slice(0, 40), long.slice(40, 80), long.slice(80), 'data: ok\n'], { maxLineBytes: 32 });
    expect(seen.data).toEqual(['ok']);
  });

  it('reports each over-long line to onOverflow once, as it passes the limit, and nothing else', () => {
    const long = `data: ${'x'.repeat(100)}\n`;
    const run = (chunks: string[]): { data: string[]; overflows: number[] } => {
      const seen = { data: [] as string[], overflows: [] as number[] };
      let pushed = 0;
      const scanner = new SseScanner({ onData: (d) => seen.data.push(d), onOverflow: () => seen.overflows.push(pushed) }, { maxLineBytes: 32 });
      for (const c of chunks) {
        pushed++;
        scanner.push(Buffer.from(c));
      }
      scanner.end();
      return seen;
    };
    // Reported with the chunk that takes it past 32 bytes (the second), not again after.
    expect(run([long.slice(0, 30), long.slice(30, 60), long.slice(60), 'data: ok\n', long.slice(0, 50), long.slice(50)])).toEqual({
      data: ['ok'],
      overflows: [2, 5],
    });
    // Lines within the limit, however split, are never reported.
    expect(run(['data: 0123456789012345678', '9\ndata: short\n']).overflows).toEqual([]);
  });

  it('keeps no reference to the caller chunk (copies the partial line)', () => {
    const seen: string[] = [];
    const scanner = new SseScanner({ onData: (d) => seen.push(d) });
    const chunk = Buffer.from('data: abc');
    scanner.push(chunk);
    chunk.fill(0x7a);
    scanner.push(Buffer.from('def\n'));
    expect(seen).toEqual(['abcdef']);
  });
});
