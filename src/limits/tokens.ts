/**
 * Prompt token counts for admission (DESIGN §4: reserve prompt + bounded completion). OpenAI-
 * family models are counted with their real BPE encoding (gpt-tokenizer); every other model gets
 * a documented estimate of one token per 4 UTF-8 bytes, rounded up, which over-counts typical
 * English and code a little and so errs on the side of the budget.
 *
 * The encodings are large (~60 MB resident, ~0.4 s to load), so they are loaded in the
 * background on first need; until one is ready its requests are estimated, never delayed.
 */
type Counter = (text: string) => number;
type Encoding = 'o200k_base' | 'cl100k_base';

const counters = new Map<Encoding, Counter>();
const loading = new Set<Encoding>();

/** Chat message framing per OpenAI's published counting recipe: per message, and the reply primer. */
const TOKENS_PER_MESSAGE = 3;
const TOKENS_PER_REPLY = 3;
/** An image part: the high-detail worst case for a 1024×1024 tile set (85 + 170 × 4). */
const TOKENS_PER_IMAGE = 765;
/** A prompt longer than this is estimated (bytes / 4) instead of encoded: BPE cost grows with length, the estimate does not. */
const MAX_EXACT_CHARS = 64 * 1024;

/** The encoding of an OpenAI model name, or undefined for models of other families. */
export function encodingFor(model: string): Encoding | undefined {
  const m = model.toLowerCase();
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada-002|davinci-002|babbage-002)/.test(m)) return 'cl100k_base';
  return undefined;
}

function load(encoding: Encoding): void {
  if (loading.has(encoding)) return;
  loading.add(encoding);
  const module = encoding === 'o200k_base' ? import('gpt-tokenizer/encoding/o200k_base') : import('gpt-tokenizer/encoding/cl100k_base');
  module.then(
    (m) => counters.set(encoding, (text) => m.countTokens(text)),
    () => loading.delete(encoding), // estimate meanwhile; retried on the next request
  );
}

/** Starts loading the encodings of these models, so the first requests are counted exactly. */
export function preloadTokenizers(models: readonly string[]): void {
  for (const model of models) {
    const encoding = encodingFor(model);
    if (encoding !== undefined) load(encoding);
  }
}

/** Resolves once every encoding that has started loading is ready (tests, benchmarks). */
export async function tokenizersReady(): Promise<void> {
  for (let i = 0; i < 200 && counters.size < loading.size; i++) await new Promise((r) => setTimeout(r, 10));
}

export function estimateTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text, 'utf8') / 4);
}

/** A text counter for this model: exact when its encoding is loaded, else the estimate. */
export function counterFor(model: string): Counter {
  const encoding = encodingFor(model);
  if (encoding === undefined) return estimateTokens;
  const exact = counters.get(encoding);
  if (exact === undefined) {
    load(encoding);
    return estimateTokens;
  }
  return (text) => (text.length > MAX_EXACT_CHARS ? estimateTokens(text) : exact(text));
}

function contentTokens(content: unknown, count: Counter): number {
  if (typeof content === 'string') return count(content);
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const part of content) {
    if (typeof part !== 'object' || part === null) continue;
    const p = part as Record<string, unknown>;
    if (typeof p.text === 'string') n += count(p.text);
    else if (p.type === 'image_url' || p.type === 'input_image' || p.type === 'image') n += TOKENS_PER_IMAGE;
    else if (p.type === 'input_audio' || p.type === 'file') n += count(JSON.stringify(p));
  }
  return n;
}

function chatPromptTokens(body: Record<string, unknown>, count: Counter): number {
  let n = TOKENS_PER_REPLY;
  const messages = Array.isArray(body.messages) ? body.messages : [];
  for (const message of messages) {
    if (typeof message !== 'object' || message === null) continue;
    const m = message as Record<string, unknown>;
    n += TOKENS_PER_MESSAGE + contentTokens(m.content, count);
    if (typeof m.name === 'string') n += count(m.name) + 1;
    if (Array.isArray(m.tool_calls)) n += count(JSON.stringify(m.tool_calls));
    // The deprecated form of the same, still accepted by OpenAI.
    if (typeof m.function_call === 'object' && m.function_call !== null) n += count(JSON.stringify(m.function_call));
  }
  // Tool and schema definitions are sent to the model too; their JSON text bounds their cost.
  if (Array.isArray(body.tools) && body.tools.length > 0) n += count(JSON.stringify(body.tools));
  if (Array.isArray(body.functions) && body.functions.length > 0) n += count(JSON.stringify(body.functions));
  if (typeof body.response_format === 'object' && body.response_format !== null) n += count(JSON.stringify(body.response_format));
  return n;
}

/** Text, array of texts, array of token ids, or array of token-id arrays (OpenAI's input forms). */
function inputTokens(input: unknown, count: Counter): number {
  if (typeof input === 'string') return count(input);
  if (!Array.isArray(input)) return 0;
  let n = 0;
  for (const item of input) {
    if (typeof item === 'string') n += count(item);
    else if (typeof item === 'number') n += 1;
    else if (Array.isArray(item)) n += item.length;
  }
  return n;
}

export type PromptOperation = 'chat' | 'completions' | 'embeddings';

/** Prompt tokens of a validated request body for this model. */
export function promptTokens(op: PromptOperation, body: Record<string, unknown>, model: string): number {
  const count = counterFor(model);
  if (op === 'chat') return chatPromptTokens(body, count);
  if (op === 'completions') return inputTokens(body.prompt, count);
  return inputTokens(body.input, count);
}
