import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { captureBody } from '../../../src/cache/capture.js';

async function drain(s: NodeJS.ReadableStream): Promise<string> {
  let out = '';
  for await (const c of s) out += String(c);
  return out;
}

describe('captureBody', () => {
  it('passes every chunk through and reports the whole body once the source ended', async () => {
    const src = new PassThrough();
    let got: string | undefined;
    const tap = captureBody(src, 1000, (b) => (got = b.toString()));
    src.write('data: a\n\n');
    src.end('data: [DONE]\n\n');
    expect(await drain(tap)).toBe('data: a\n\ndata: [DONE]\n\n');
    expect(got).toBe('data: a\n\ndata: [DONE]\n\n');
  });

  it('an answer over the bound still reaches the client but is never reported', async () => {
    const src = new PassThrough();
    let got: Buffer | undefined;
    let overflowed = 0;
    const tap = captureBody(src, 10, (b) => (got = b), () => overflowed++);
    src.write('0123456789');
    src.end('abc');
    expect(await drain(tap)).toBe('0123456789abc');
    expect(got).toBeUndefined();
    expect(overflowed).toBe(1);
  });

  it('a source that fails or is destroyed mid-way is never reported, and the failure reaches the reader', async () => {
    const failing = new PassThrough();
    let got: Buffer | undefined;
    const tap = captureBody(failing, 1000, (b) => (got = b));
    failing.write('partial');
    failing.destroy(new Error('upstream reset'));
    await expect(drain(tap)).rejects.toThrow('upstream reset');

    const cut = new PassThrough();
    const tap2 = captureBody(cut, 1000, (b) => (got = b));
    cut.write('partial');
    cut.destroy();
    await expect(drain(tap2)).rejects.toThrow();
    expect(got).toBeUndefined();
  });
});
