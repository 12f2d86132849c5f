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
 * primitive type; enums and consts give their first value. Local `$ref`s ("#", "#/$defs/x",
 * "#/definitions/x") are followed, as OpenAI's structured outputs allow (recursive schemas, and
 * the SDK's zod helper writes a reused or recursive sub-schema so); past NEST levels an array is
 * empty and an optional (nullable) value null, so a recursive schema ends in a valid leaf.
 */
export function valueForSchema(schema: unknown, text: string, depth = 0, root: unknown = schema): Json {
  if (typeof schema !== 'object' || schema === null || depth > MAX_DEPTH) return null;
  const s = schema as Record<string, unknown>;
  if (typeof s.$ref === 'string') return valueForSchema(resolveRef(root, s.$ref), text, depth + 1, root);
  if ('const' in s) return s.const as Json;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0] as Json;
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const options = s[key];
    if (Array.isArray(options) && options.length > 0) {
      const nullable = depth >= NEST && options.some(isNullSchema);
      return nullable ? null : valueForSchema(firstNonNull(options), text, depth + 1, root);
    }
  }
  const type = Array.isArray(s.type) ? (depth >= NEST && s.type.includes('null') ? 'null' : (s.type.find((t) => t !== 'null') ?? 'null')) : s.type;
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
      return depth >= NEST ? [] : [valueForSchema(s.items, text, depth + 1, root)];
    default:
      return objectForSchema(s, text, depth, root);
  }
}

/** Levels past which a recursive schema is ended (an empty array, a null where null is allowed). */
const NEST = 6;
/** A schema that recurses only through required non-null objects has no valid finite value. */
const MAX_DEPTH = 64;

function isNullSchema(o: unknown): boolean {
  return typeof o === 'object' && o !== null && (o as { type?: unknown }).type === 'null';
}

/** A local JSON pointer ("#", "#/$defs/a~1b") into the root schema; anything else resolves to nothing. */
function resolveRef(root: unknown, ref: string): unknown {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let at: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    if (typeof at !== 'object' || at === null) return undefined;
    let key: string;
    try {
      key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    } catch {
      return undefined;
    }
    at = Object.hasOwn(at, key) ? (at as Record<string, unknown>)[key] : undefined;
  }
  return at;
}

function firstNonNull(options: unknown[]): unknown {
  return options.find((o) => !(typeof o === 'object' && o !== null && (o as { type?: unknown }).type === 'null')) ?? options[0];
}

function objectForSchema(s: Record<string, unknown>, text: string, depth: number, root: unknown): Json {
  const props = typeof s.properties === 'object' && s.properties !== null ? (s.properties as Record<string, unknown>) : {};
  const required = Array.isArray(s.required) ? s.required.filter((r): r is string => typeof r === 'string') : [];
  const names = required.length > 0 ? required : Object.keys(props);
  const out: { [k: string]: Json } = {};
  for (const name of names) out[name] = valueForSchema(props[name] ?? { type: 'string' }, text, depth + 1, root);
  return out;
}
