/**
 * The output cap's counting (src/pipeline/output-cap.ts) on chunk boundaries a network makes:
 * events split across chunks, many events in one chunk, finish chunks, and a cut that falls
 * between events so the terminal error event the server appends parses on its own.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { capChunks, chunkAllowance } from '../../../src/pipeline/output-cap.js';

const event = (content: string, finish: string | null = null) =>
  `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]}\n\n`;

async function run(chunks: string[], allowed: number): Promise<{ text: string; error: Error | undefined; cut: boolean }> {
  const source = Readable.from(chunks.map((c) => Buffer.from(c)), { objectMode: false });
  let cut = false;
  const out = capChunks(source, allowed, () => new Error('cut'), () => void (cut = true));
  let text = '';
  let error: Error | undefined;
  await new Promise<void>((resolve) => {
    out.on('data', (b: Buffer) => (text += b.toString()));
    out.once('end', () => resolve());
    out.once('error', (err) => {
      error = err;
      resolve();
    });
  });
  return { text, error, cut };
}

describe('output cap', () => {
  it('allows the output plus one first chunk per choice', () => {
    expect(chunkAllowance({ outputTokens: 10, choices: 2 })).toBe(12);
  });

  it('passes a stream within its allowance untouched, finish chunk and [DONE] included', async () => {
    const all = event('') + event('a') + event('b') + event('', 'length') + 'data: [DONE]\n\n';
    const r = await run([all.slice(0, 37), all.slice(37, 200), all.slice(200)], 3);
    expect(r).toEqual({ text: all, error: undefined, cut: false });
  });

  it('cuts between events, whatever the chunking, and forwards exactly the allowance', async () => {
    const events = [event(''), ...Array.from({ length: 20 }, (_, i) => event(`t${i}`))];
    const whole = events.join('');
    const allowed = 1 + 5;
    const expected = events.slice(0, allowed).join('');
    for (const chunks of [[whole], events, whole.match(/[\s\S]{1,7}/g) as string[]]) {
      const r = await run(chunks, allowed);
      expect(r.cut).toBe(true);
      expect(r.error?.message).toBe('cut');
      expect(r.text).toBe(expected);
    }
  });
});
