/**
 * Keeps the first `maxBytes` of an upstream body as it passes to the client, for the request log.
 * Unlike the response cache's copy (src/cache/capture.ts: all or nothing, reported only when the
 * body ended), a log keeps what it can: a prefix when the answer is larger (flagged truncated),
 * and what passed when the stream was cut (flagged incomplete). The client gets every chunk as it
 * arrives; the copy holds references to the same Buffers until the bound, no parsing here (the
 * background writer assembles streams, off the request path).
 */
import { Transform, type Readable } from 'node:stream';

export interface CapturedBody {
  chunks: Buffer[];
  bytes: number;
  /** The body was longer than what was kept. */
  truncated: boolean;
  /** The upstream body ended normally (not cut by an error, the client or the deadline). */
  complete: boolean;
}

export function newCapture(): CapturedBody {
  return { chunks: [], bytes: 0, truncated: false, complete: false };
}

export function tapBody(source: Readable, maxBytes: number, into: CapturedBody): Readable {
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!into.truncated) {
        const room = maxBytes - into.bytes;
        if (chunk.length <= room) {
          into.chunks.push(chunk);
          into.bytes += chunk.length;
        } else {
          if (room > 0) {
            into.chunks.push(chunk.subarray(0, room));
            into.bytes += room;
          }
          into.truncated = true;
        }
      }
      callback(null, chunk);
    },
    flush(callback) {
      into.complete = true;
      callback();
    },
  });
  // As in the cache's copy: an upstream error or a close before the end reaches the client side.
  source.once('error', (err: Error) => tap.destroy(err));
  source.once('close', () => {
    if (!source.readableEnded && !tap.destroyed) tap.destroy(new Error('upstream body closed before its end'));
  });
  source.pipe(tap);
  return tap;
}

/** The captured bytes as one Buffer (for the writer). */
export function capturedBytes(c: CapturedBody): Buffer {
  return c.chunks.length === 1 ? (c.chunks[0] as Buffer) : Buffer.concat(c.chunks, c.bytes);
}
