/**
 * Deterministic text for the mock: the same request always gets the same reply, so tests can
 * assert on content. A "token" is a word with its leading whitespace (" world"); usage counts
 * those for completions and estimates prompts as ceil(characters / 4), the rule of thumb
 * OpenAI documents for English text.
 */

/** The longest part of the user's message echoed back. */
const ECHO_LIMIT = 400;
const PIECE = /\s*\S+|\s+$/g;

export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Splits text into word pieces, whitespace attached to the following word. */
export function toPieces(text: string): string[] {
  return text.match(PIECE) ?? [];
}

/** Splits text into fixed-size pieces (JSON output, tool arguments). */
export function toSlices(text: string, size = 4): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

export function replyText(prompt: string, prefix: string): string {
  const echo = prompt.replace(/\s+/g, ' ').trim().slice(0, ECHO_LIMIT);
  return echo === '' ? prefix.trimEnd() : `${prefix}${echo}`;
}

/** `count` pieces cycling over `base`: long replies for streaming benchmarks, no per-token work. */
export function cyclePieces(base: readonly string[], count: number): string[] {
  const source = base.length > 0 ? base : ['mock'];
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) {
    const piece = source[i % source.length] as string;
    // The first piece of a reply carries no leading space; later repeats need one.
    out[i] = i >= source.length && i % source.length === 0 && !/^\s/.test(piece) ? ` ${piece}` : piece;
  }
  return out;
}

export type FinishReason = 'stop' | 'length';

export interface Limited {
  pieces: string[];
  finish: FinishReason;
}

/**
 * Applies max_tokens (finish 'length') and stop sequences (cut before the earliest one, finish
 * 'stop'), the way generation would have ended.
 */
export function limitPieces(pieces: string[], maxTokens: number | undefined, stop: readonly string[]): Limited {
  let kept = pieces;
  let finish: FinishReason = 'stop';
  if (maxTokens !== undefined && maxTokens < pieces.length) {
    kept = pieces.slice(0, Math.max(0, maxTokens));
    finish = 'length';
  }
  if (stop.length === 0) return { pieces: kept, finish };
  const text = kept.join('');
  let cut = -1;
  for (const s of stop) {
    const at = s === '' ? -1 : text.indexOf(s);
    if (at !== -1 && (cut === -1 || at < cut)) cut = at;
  }
  if (cut === -1) return { pieces: kept, finish };
  return { pieces: cutAt(kept, cut), finish: 'stop' };
}

function cutAt(pieces: readonly string[], offset: number): string[] {
  const out: string[] = [];
  let used = 0;
  for (const p of pieces) {
    if (used + p.length <= offset) {
      out.push(p);
      used += p.length;
      continue;
    }
    const part = p.slice(0, offset - used);
    if (part !== '') out.push(part);
    break;
  }
  return out;
}

/** Text of a message `content`: a string, or the text parts of a content array. */
export function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const part of content) {
    if (typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string') {
      out += (part as { text: string }).text;
    }
  }
  return out;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * A value that satisfies a JSON schema well enough for structured-output tests: objects get
 * their required properties (all properties when none are required) with values of the right
 * primitive type; enums and consts give their first value.
 */
export function valueForSchema(schema: unknown, text: string, depth = 0): Json {
  if (typeof schema !== 'object' || schema === null || depth > 8) return null;
  const s = schema as Record<string, unknown>;
  if ('const' in s) return s.const as Json;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0] as Json;
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const options = s[key];
    if (Array.isArray(options) && options.length > 0) return valueForSchema(firstNonNull(options), text, depth + 1);
  }
  const type = Array.isArray(s.type) ? (s.type.find((t) => t !== 'null') ?? 'null') : s.type;
  switch (type) {
    case 'string':
      return text;
    case 'integer':
      return 42;
    case 'number':
      return 4.2;
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'array':
      return [valueForSchema(s.items, text, depth + 1)];
    default:
      return objectForSchema(s, text, depth);
  }
}

function firstNonNull(options: unknown[]): unknown {
  return options.find((o) => !(typeof o === 'object' && o !== null && (o as { type?: unknown }).type === 'null')) ?? options[0];
}

function objectForSchema(s: Record<string, unknown>, text: string, depth: number): Json {
  const props = typeof s.properties === 'object' && s.properties !== null ? (s.properties as Record<string, unknown>) : {};
  const required = Array.isArray(s.required) ? s.required.filter((r): r is string => typeof r === 'string') : [];
  const names = required.length > 0 ? required : Object.keys(props);
  const out: { [k: string]: Json } = {};
  for (const name of names) out[name] = valueForSchema(props[name] ?? { type: 'string' }, text, depth + 1);
  return out;
}
