/**
 * Usage capture on bytes as they pass to the client (DESIGN §2: streams are piped, never
 * buffered): scanners look at each chunk on its way and never hold a stream.
 */
import { SseScanner } from './sse.js';
import type { Usage } from './types.js';

const USAGE_KEY = Buffer.from('"usage"');
const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const OPEN = 0x7b;
const CLOSE = 0x7d;

/**
 * Finds the last `"usage": {...}` member in a JSON text and parses only that object, so a
 * large body (embeddings) is never parsed whole. Occurrences inside strings are escaped
 * (`\"usage\"`) and so skipped. Returns undefined when there is none or it is malformed.
 */
export function extractUsage(buf: Buffer): Usage | undefined {
  let at = buf.lastIndexOf(USAGE_KEY);
  while (at !== -1) {
    if (at === 0 || buf[at - 1] !== BACKSLASH) {
      const open = skipToObject(buf, at + USAGE_KEY.length);
      if (open !== -1) {
        const close = matchingBrace(buf, open);
        if (close !== -1) return toUsage(parseObject(buf.toString('utf8', open, close + 1)));
      }
    }
    at = at === 0 ? -1 : buf.lastIndexOf(USAGE_KEY, at - 1);
  }
  return undefined;
}

/** After the key: optional whitespace, `:`, optional whitespace, `{`. -1 for anything else (e.g. `null`). */
function skipToObject(buf: Buffer, from: number): number {
  let i = from;
  let colon = false;
  for (; i < buf.length; i++) {
    const c = buf[i];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    if (c === 0x3a && !colon) {
      colon = true;
      continue;
    }
    return colon && c === OPEN ? i : -1;
  }
  return -1;
}

/** Index of the `}` closing the object opened at `open`, skipping strings; -1 if it never closes. */
function matchingBrace(buf: Buffer, open: number): number {
  let depth = 0;
  let inString = false;
  for (let i = open; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN) depth++;
    else if (c === CLOSE && --depth === 0) return i;
  }
  return -1;
}

function parseObject(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Maps an OpenAI `usage` object; anything without integer token counts is ignored. */
export function toUsage(raw: unknown): Usage | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const u = raw as Record<string, unknown>;
  const prompt = count(u.prompt_tokens);
  const completion = count(u.completion_tokens);
  if (prompt === undefined && completion === undefined) return undefined;
  const details = u.prompt_tokens_details;
  const cached = typeof details === 'object' && details !== null ? count((details as Record<string, unknown>).cached_tokens) : undefined;
  const promptTokens = prompt ?? 0;
  const completionTokens = completion ?? 0;
  return {
    promptTokens,
    completionTokens,
    totalTokens: count(u.total_tokens) ?? promptTokens + completionTokens,
    cachedTokens: cached ?? 0,
  };
}

function count(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
}

/** True when the `"usage"` key at `at` is a real key (not escaped in a string) holding an object. */
function usageObjectAt(buf: Buffer, at: number): boolean {
  return (at === 0 || buf[at - 1] !== BACKSLASH) && skipToObject(buf, at + USAGE_KEY.length) !== -1;
}

/**
 * Sees the bytes of a successful response as they pass to the client and reports the usage the
 * provider put in them. Never throws.
 */
export interface UsageScanner {
  push(chunk: Buffer): void;
  /** The body ended: the usage it carried, if any. */
  end(): Usage | undefined;
  /** The body was cut short: whatever usage was already seen. */
  partial(): Usage | undefined;
  /**
   * After end(): false when the body ended before the upstream said its answer was complete (a
   * stream whose end marker never came), so the call fails it rather than ending it as complete.
   * Scanners without the notion (JSON bodies) leave it out.
   */
  finished?(): boolean;
}

/**
 * Non-stream JSON: keeps references to the chunks (no copy) and looks for usage once at the
 * end. Past `maxBytes` only the tail is kept, where OpenAI-shaped bodies put `usage`.
 */
export class JsonUsageScanner implements UsageScanner {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private readonly maxBytes: number;

  constructor(maxBytes = 8 * 1024 * 1024) {
    this.maxBytes = maxBytes;
  }

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes > this.maxBytes && this.chunks.length > 1) {
      this.bytes -= (this.chunks.shift() as Buffer).length;
    }
  }

  end(): Usage | undefined {
    const chunks = this.chunks;
    this.chunks = [];
    if (chunks.length === 0) return undefined;
    return extractUsage(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, this.bytes));
  }

  partial(): undefined {
    this.chunks = [];
    return undefined;
  }
}

const CHOICE = Buffer.from('"choices":[{');
const DONE_MARK = Buffer.from('[DONE]');
const FINISH_KEY = Buffer.from('"finish_reason"');
const COLON = 0x3a;
const LF = 0x0a;
/**
 * Bytes of the stream's end kept from one chunk to the next, so that a marker split across chunks
 * is still seen: more than `"finish_reason"` + `: "` with a little whitespace, or `: [DONE]` + CRLF.
 */
const SEAM = 24;

/**
 * SSE: the shared scanner reports only `data:` lines that mention usage; the last one wins.
 * Content chunks are counted on the side (one native search per chunk): when the provider
 * reports no usage (a stream cut off, or sent without include_usage), the count is the
 * estimate of output tokens, since OpenAI-style streams carry about one token per chunk.
 */
export class SseUsageScanner implements UsageScanner {
  private seen: Usage | undefined;
  private chunks = 0;
  /**
   * The upstream said its answer is complete: `data: [DONE]`, or a choice's finish_reason (a
   * string, not null; a stream with a finish_reason and no [DONE] is complete). Found by a native
   * byte search per chunk, no parsing, and not looked for any more once seen (OpenAI streams send
   * it at their end, so the search runs over every content chunk, which carries
   * `"finish_reason":null`). The keys are never escaped, so text inside a string does not match.
   */
  private complete = false;
  /** The stream's last bytes (up to SEAM), then the next chunk's first: a marker split in two. */
  private readonly seam = Buffer.allocUnsafe(2 * SEAM);
  private seamBytes = 0;
  // Only lines where `"usage"` holds an object are decoded: OpenAI sends `"usage":null` on
  // every chunk once include_usage is set, and the real one on the last.
  private readonly scanner = new SseScanner(
    { onData: (data) => this.onData(data) },
    { needle: '"usage"', accept: usageObjectAt },
  );

  push(chunk: Buffer): void {
    this.scanner.push(chunk);
    let at = chunk.indexOf(CHOICE);
    while (at !== -1) {
      this.chunks++;
      at = chunk.indexOf(CHOICE, at + CHOICE.length);
    }
    if (!this.complete) this.watch(chunk);
  }

  end(): Usage | undefined {
    this.scanner.end();
    // `data: [DONE]` as the body's very last bytes, with no line end after it.
    if (!this.complete && this.seamBytes > 0) this.complete = hasEndMarker(this.seam.subarray(0, this.seamBytes), true);
    return this.seen ?? this.estimate();
  }

  /** Whether the stream so far carried [DONE] or a finish_reason. */
  finished(): boolean {
    return this.complete;
  }

  private watch(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (hasEndMarker(chunk, false)) {
      this.complete = true;
      return;
    }
    const seam = this.seam;
    const head = Math.min(SEAM, chunk.length);
    // A chunk that ends a line (the usual: whole events) leaves nothing to carry: no marker spans lines.
    const endsLine = chunk[chunk.length - 1] === LF;
    if (this.seamBytes > 0) {
      chunk.copy(seam, this.seamBytes, 0, head);
      const joined = this.seamBytes + head;
      if (hasEndMarker(seam.subarray(0, joined), false)) {
        this.complete = true;
        return;
      }
      if (head < SEAM && !endsLine) {
        // A small chunk: the stream's last SEAM bytes span it and what came before.
        const keep = Math.min(SEAM, joined);
        seam.copy(seam, 0, joined - keep, joined);
        this.seamBytes = keep;
        return;
      }
    }
    this.seamBytes = endsLine ? 0 : chunk.copy(seam, 0, chunk.length - head);
  }

  partial(): Usage | undefined {
    return this.seen ?? this.estimate();
  }

  private estimate(): Usage | undefined {
    if (this.chunks === 0) return undefined;
    return { promptTokens: 0, completionTokens: this.chunks, totalTokens: this.chunks, cachedTokens: 0, estimated: true };
  }

  private onData(data: string): void {
    const chunk = parseObject(data);
    if (typeof chunk !== 'object' || chunk === null) return;
    const usage = toUsage((chunk as Record<string, unknown>).usage);
    if (usage !== undefined) this.seen = usage;
  }
}

/**
 * `[DONE]` as a data line's value (followed by a line end, or by the body's end when `last`), or a
 * `"finish_reason"` key holding a string. Either may be cut off at the end of `buf`; the caller
 * looks again once the next bytes are there.
 */
function hasEndMarker(buf: Buffer, last: boolean): boolean {
  let at = buf.indexOf(DONE_MARK);
  while (at !== -1) {
    const next = at + DONE_MARK.length;
    const ends = next === buf.length ? last : buf[next] === 0x0a || buf[next] === 0x0d;
    if (ends && at > 0 && (buf[at - 1] === COLON || buf[at - 1] === 0x20)) return true;
    at = buf.indexOf(DONE_MARK, next);
  }
  at = buf.indexOf(FINISH_KEY);
  while (at !== -1) {
    let i = at + FINISH_KEY.length;
    while (i < buf.length && isSpace(buf[i] as number)) i++;
    if (buf[i] === COLON) {
      i++;
      while (i < buf.length && isSpace(buf[i] as number)) i++;
      if (buf[i] === QUOTE) return true;
    }
    at = buf.indexOf(FINISH_KEY, at + FINISH_KEY.length);
  }
  return false;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** The OpenAI `usage` object of a canonical Usage (adapters translating other APIs write it). */
export function openAIUsage(u: Usage): Record<string, unknown> {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.totalTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
  };
}
