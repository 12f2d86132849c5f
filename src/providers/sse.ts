/**
 * The one Server-Sent Events line scanner every provider shares (OpenAI, and later Anthropic
 * and Gemini). It sees the bytes of a stream as they pass to the client and reports the `data:`
 * and `event:` fields; it never buffers more than one incomplete line.
 *
 * It is line-oriented on purpose: every upstream we speak to puts one JSON document on one
 * `data:` line, so joining multi-line `data:` fields into one event (WHATWG HTML §9.2.6) buys
 * nothing here and would cost an allocation per event. Lines end with LF or CRLF; a lone CR
 * as a line terminator (allowed by the spec, sent by no provider) is not recognised.
 *
 * It works on bytes: LF (0x0A) never occurs inside a multi-byte UTF-8 sequence, so a line is
 * only decoded once it is complete, even when a chunk boundary splits a character.
 */

export interface SseHandler {
  /** The value of one `data:` line (one leading space removed); `[DONE]` goes to onDone. */
  onData(data: string): void;
  /** The value of one `event:` line. */
  onEvent?(name: string): void;
  /** `data: [DONE]`, OpenAI's end-of-stream marker. */
  onDone?(): void;
  /**
   * A line passed `maxLineBytes` and is being dropped (called once per such line, when it
   * passes). A scanner that only watches (usage) lets it go; a translator, whose client would
   * miss its content, fails the stream.
   */
  onOverflow?(): void;
}

export interface SseScannerOptions {
  /**
   * Hot-path filter: only lines containing these bytes are decoded and reported; every other
   * line is skipped without being turned into a string. Usage capture uses `"usage"`, which
   * costs one native byte search per chunk for streams that carry no usage at all.
   */
  needle?: string;
  /**
   * With `needle`: a finer byte-level check of a hit (`at` is its index in `buf`), so lines
   * whose hit is uninteresting (e.g. `"usage":null`) are not decoded either.
   */
  accept?: (buf: Buffer, at: number) => boolean;
  /** A line longer than this is dropped (its bytes still pass to the client) and reported to onOverflow. Default 1 MiB. */
  maxLineBytes?: number;
}

/** The default `maxLineBytes`. */
export const MAX_LINE_BYTES = 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const DATA = Buffer.from('data:');
const EVENT = Buffer.from('event:');
const DONE = '[DONE]';

export class SseScanner {
  private readonly handler: SseHandler;
  private readonly needle: Buffer | undefined;
  private readonly accept: ((buf: Buffer, at: number) => boolean) | undefined;
  private readonly maxLineBytes: number;
  /** Bytes of the current, not yet terminated line (copied: chunks are not ours to keep). */
  private partial: Buffer | undefined;
  /** True while skipping the rest of an over-long line. */
  private overflow = false;

  constructor(handler: SseHandler, opts: SseScannerOptions = {}) {
    this.handler = handler;
    this.needle = opts.needle === undefined ? undefined : Buffer.from(opts.needle);
    this.accept = opts.accept;
    this.maxLineBytes = opts.maxLineBytes ?? MAX_LINE_BYTES;
  }

  /** Feed the next chunk of the stream. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.partial !== undefined) {
      buf = Buffer.concat([this.partial, chunk]);
      this.partial = undefined;
    }
    const lastLf = buf.lastIndexOf(LF);
    if (lastLf === -1) {
      this.keep(buf, 0);
      return;
    }
    if (this.overflow) {
      // The over-long line ends in this chunk; the bytes before its LF are not reported.
      this.overflow = false;
      const firstLf = buf.indexOf(LF);
      this.scanLines(buf, firstLf + 1, lastLf);
    } else {
      this.scanLines(buf, 0, lastLf);
    }
    this.keep(buf, lastLf + 1);
  }

  /** The stream ended: a final line without a terminator still counts. */
  end(): void {
    const rest = this.partial;
    this.partial = undefined;
    if (rest !== undefined && !this.overflow) this.scanLines(rest, 0, rest.length);
    this.overflow = false;
  }

  /** Reports the complete lines in buf[from, to), where to is the index of the last LF (or the end). */
  private scanLines(buf: Buffer, from: number, to: number): void {
    if (this.needle !== undefined) {
      this.scanHits(buf, from, to, this.needle);
      return;
    }
    let start = from;
    while (start < to) {
      let lf = buf.indexOf(LF, start);
      if (lf === -1 || lf > to) lf = to;
      this.line(buf, start, lf);
      start = lf + 1;
    }
  }

  /** Only the lines holding an accepted needle hit; one native search per hit, none per line. */
  private scanHits(buf: Buffer, from: number, to: number, needle: Buffer): void {
    let hit = buf.indexOf(needle, from);
    while (hit !== -1 && hit < to) {
      if (this.accept !== undefined && !this.accept(buf, hit)) {
        hit = buf.indexOf(needle, hit + 1);
        continue;
      }
      const prevLf = hit === 0 ? -1 : buf.lastIndexOf(LF, hit - 1);
      const start = prevLf >= from ? prevLf + 1 : from;
      let lf = buf.indexOf(LF, hit);
      if (lf === -1 || lf > to) lf = to;
      this.line(buf, start, lf);
      hit = buf.indexOf(needle, lf + 1);
    }
  }

  private line(buf: Buffer, start: number, lfAt: number): void {
    const end = lfAt > start && buf[lfAt - 1] === CR ? lfAt - 1 : lfAt;
    if (startsWith(buf, start, end, DATA)) {
      const value = valueOf(buf, start + DATA.length, end);
      if (value === DONE) this.handler.onDone?.();
      else this.handler.onData(value);
    } else if (this.handler.onEvent !== undefined && startsWith(buf, start, end, EVENT)) {
      this.handler.onEvent(valueOf(buf, start + EVENT.length, end));
    }
  }

  private keep(buf: Buffer, from: number): void {
    if (from >= buf.length) return;
    if (this.overflow) return;
    if (buf.length - from > this.maxLineBytes) {
      this.overflow = true;
      this.handler.onOverflow?.();
      return;
    }
    this.partial = Buffer.from(buf.subarray(from));
  }
}

function startsWith(buf: Buffer, start: number, end: number, prefix: Buffer): boolean {
  if (end - start < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false;
  return true;
}

function valueOf(buf: Buffer, from: number, end: number): string {
  const start = from < end && buf[from] === SPACE ? from + 1 : from;
  return buf.toString('utf8', start, end);
}
