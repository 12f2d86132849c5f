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

/**
 * SSE: the shared scanner reports only `data:` lines that mention usage; the last one wins.
 * Content chunks are counted on the side (one native search per chunk): when the provider
 * reports no usage (a stream cut off, or sent without include_usage), the count is the
 * estimate of output tokens, since OpenAI-style streams carry about one token per chunk.
 */
export class SseUsageScanner implements UsageScanner {
  private seen: Usage | undefined;
  private chunks = 0;
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
  }

  end(): Usage | undefined {
    this.scanner.end();
    return this.seen ?? this.estimate();
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

/** The OpenAI `usage` object of a canonical Usage (adapters translating other APIs write it). */
export function openAIUsage(u: Usage): Record<string, unknown> {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.totalTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
  };
}
