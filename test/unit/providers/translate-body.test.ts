import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { OpenAIStreamToAnthropic } from '../../../src/providers/anthropic/inbound/stream.js';
import { translateBody } from '../../../src/providers/translate-body.js';

const delta = (text: string): string => `data: {"id":"c1","choices":[{"index":0,"delta":{"content":"${text}"},"finish_reason":null}]}\n\n`;

/** Reads a body to its end or error: the text that came out, and the error. */
function drain(body: NodeJS.ReadableStream): Promise<{ text: string; err: unknown }> {
  return new Promise((resolve) => {
    let text = '';
    body.on('data', (c: Buffer | string) => (text += c.toString()));
    body.on('end', () => resolve({ text, err: undefined }));
    body.on('error', (err) => resolve({ text, err }));
  });
}

describe('translateBody', () => {
  it('a translator that fails in end(): what it translated first goes out, then the error; the source is released', async () => {
    const source = new PassThrough();
    const { body, usage } = translateBody(source, new OpenAIStreamToAnthropic('m'));
    const out = drain(body);
    source.write(delta('a'));
    // The last line has no terminator: end() translates it, then finds no finish_reason.
    source.end(delta('b').trimEnd());
    const { text, err } = await out;
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('upstream_error');
    expect(text).toContain('"text":"a"');
    expect(text).toContain('"text":"b"');
    expect(text).not.toContain('message_stop');
    await expect(usage).resolves.toBeUndefined();
    expect(source.destroyed).toBe(true);
  });

  it('a translator that fails in push(): the lines before the failure in the same chunk go out first', async () => {
    const source = new PassThrough();
    const { body } = translateBody(source, new OpenAIStreamToAnthropic('m'));
    const out = drain(body);
    source.write(Buffer.concat([Buffer.from(delta('before')), Buffer.from(`data: ${'y'.repeat(1100 * 1024)}`)]));
    const { text, err } = await out;
    expect((err as GatewayError).message).toMatch(/larger than 1 MiB/);
    expect(text).toContain('"text":"before"');
    expect(source.destroyed).toBe(true);
  });
});
