/**
 * POST /v1/embeddings: deterministic unit vectors (the same input always maps to the same
 * vector, different inputs to different ones). `encoding_format: 'base64'` is the bytes of
 * little-endian float32 values in base64, which is what the openai SDK v6 asks for by default
 * and decodes; 'float' is the same float32 values as JSON numbers.
 */
import { estimateTokens } from './text.js';

export const DEFAULT_DIMENSIONS = 1536;
export const MAX_DIMENSIONS = 8192;
/** Inputs × dimensions of one request at most (the answer's size). */
export const MAX_VALUES = 1_048_576;

export interface EmbeddingInput {
  /** Seeds the vector. */
  key: string;
  tokens: number;
}

/** The inputs of a request, or undefined when `input` has none of the accepted shapes. */
export function embeddingInputs(v: unknown): EmbeddingInput[] | undefined {
  if (typeof v === 'string') return [{ key: v, tokens: Math.max(1, estimateTokens(v)) }];
  if (!Array.isArray(v) || v.length === 0) return undefined;
  if (v.every((x) => typeof x === 'number')) return [tokenInput(v as number[])];
  const out: EmbeddingInput[] = [];
  for (const x of v) {
    if (typeof x === 'string') out.push({ key: x, tokens: Math.max(1, estimateTokens(x)) });
    else if (Array.isArray(x) && x.length > 0 && x.every((t) => typeof t === 'number')) out.push(tokenInput(x as number[]));
    else return undefined;
  }
  return out;
}

function tokenInput(tokens: number[]): EmbeddingInput {
  return { key: `\u0000tokens:${tokens.join(',')}`, tokens: tokens.length };
}

/** FNV-1a over UTF-16 code units: a cheap, stable seed. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function embedding(key: string, dimensions: number): Float32Array {
  const out = new Float32Array(dimensions);
  // mulberry32: a small deterministic PRNG, good enough to spread vectors apart.
  let state = hash(key) || 1;
  let norm = 0;
  for (let i = 0; i < dimensions; i++) {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const v = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
    out[i] = v;
    norm += v * v;
  }
  const scale = 1 / Math.sqrt(norm || 1);
  for (let i = 0; i < dimensions; i++) out[i] = (out[i] as number) * scale;
  return out;
}

export function toBase64(vector: Float32Array): string {
  const buf = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) buf.writeFloatLE(vector[i] as number, i * 4);
  return buf.toString('base64');
}

/** Benchmarks embed the same few inputs over and over; a small cache keeps the mock cheap. */
const cache = new Map<string, string | number[]>();
const CACHE_LIMIT = 256;

function encoded(key: string, dimensions: number, base64: boolean): string | number[] {
  const id = `${dimensions}:${base64 ? 'b' : 'f'}:${key}`;
  const hit = cache.get(id);
  if (hit !== undefined) return hit;
  const v = embedding(key, dimensions);
  const value = base64 ? toBase64(v) : Array.from(v);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  if (key.length <= 4096) cache.set(id, value);
  return value;
}

export function embeddingList(
  inputs: EmbeddingInput[],
  model: string,
  dimensions: number,
  base64: boolean,
): Record<string, unknown> {
  let tokens = 0;
  const data = inputs.map((input, index) => {
    tokens += input.tokens;
    return { object: 'embedding', index, embedding: encoded(input.key, dimensions, base64) };
  });
  return { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
}
