/**
 * Copies an upstream body as it passes to the client, up to a bound, and reports the whole of it
 * once the upstream ended normally. The client gets every chunk as soon as it arrives (the copy
 * is a reference to the same Buffer); an answer larger than the bound stops being copied and is
 * never reported; an upstream that fails or is cut off (client gone, deadline) never reports.
 */
import { Transform, type Readable } from 'node:stream';

export function captureBody(source: Readable, maxBytes: number, onComplete: (body: Buffer) => void, onOverflow?: () => void): Readable {
  let chunks: Buffer[] | undefined = [];
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (chunks !== undefined) {
        bytes += chunk.length;
        if (bytes > maxBytes) {
          chunks = undefined;
          onOverflow?.();
        }
        else chunks.push(chunk);
      }
      callback(null, chunk);
    },
    flush(callback) {
      callback();
      if (chunks !== undefined) onComplete(Buffer.concat(chunks, bytes));
      chunks = undefined;
    },
  });
  source.once('error', (err: Error) => tap.destroy(err));
  // Destroyed without an error (a cancelled upstream call): the copy is incomplete, and the
  // client side must learn the body is over.
  source.once('close', () => {
    if (!source.readableEnded) {
      chunks = undefined;
      if (!tap.destroyed) tap.destroy(new Error('upstream body closed before its end'));
    }
  });
  source.pipe(tap);
  return tap;
}
