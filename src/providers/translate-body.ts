/**
 * A response body translated on its way to the client, for adapters whose upstream speaks
 * another wire format (Anthropic) and for the edge when the client speaks one (POST
 * /v1/messages). The translator sees each upstream chunk once and returns the bytes to send;
 * nothing is buffered here beyond what the translator keeps.
 *
 * Cancellation runs both ways: the source failing (upstream cut, client gone and the upstream
 * call aborted) destroys the translated body, and the translated body destroyed early destroys
 * the source, which aborts the upstream request (DESIGN §12).
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import type { Usage } from './types.js';

export interface BodyTranslator {
  /** The translated text for one upstream chunk ('' when there is nothing to send yet). May throw. */
  push(chunk: Buffer): string;
  /** The upstream body ended: whatever is left to send. May throw. */
  end(): string;
  /** The usage known so far (final after end()). */
  usage(): Usage | undefined;
  /**
   * After push or end threw: the text translated before the failure, sent ahead of it (the
   * server then ends the stream with its error event). Called only on that path.
   */
  pending?(): string;
}

export function translateBody(source: Readable, translator: BodyTranslator): { body: Readable; usage: Promise<Usage | undefined> } {
  let settle: ((u: Usage | undefined) => void) | undefined;
  const usage = new Promise<Usage | undefined>((resolve) => (settle = resolve));
  const done = (): void => {
    const s = settle;
    settle = undefined;
    s?.(translator.usage());
  };
  const body = new Transform({
    // Same buffering as the upstream body's (see upstream-call.ts).
    highWaterMark: 64 * 1024,
    transform(chunk: Buffer, _enc, cb) {
      let text: string;
      try {
        text = translator.push(chunk);
      } catch (err) {
        fail(this, translator, err, cb);
        return;
      }
      if (text !== '') cb(null, text);
      else cb();
    },
    flush(cb) {
      let text: string;
      try {
        text = translator.end();
      } catch (err) {
        fail(this, translator, err, cb);
        return;
      }
      done();
      if (text !== '') cb(null, text);
      else cb();
    },
    destroy(err, cb) {
      done();
      if (!source.destroyed) source.destroy();
      cb(err);
    },
  });
  source.once('error', (err: Error) => body.destroy(err));
  source.pipe(body);
  return { body, usage };
}

/** The text translated before the failure goes out first (while the body flows), then the error. */
function fail(body: Transform, translator: BodyTranslator, err: unknown, cb: TransformCallback): void {
  const rest = translator.pending?.() ?? '';
  if (rest !== '') body.push(rest);
  cb(err as Error);
}
