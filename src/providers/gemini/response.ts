/**
 * Gemini responses → OpenAI chat completion / embeddings JSON, and the usage the gateway meters.
 * Pure: ids and timestamps come from the caller, so fixtures compare exactly.
 */
import type { Usage } from '../types.js';
import type { GeminiBatchEmbedContentsResponse, GeminiCandidate, GeminiGenerateContentResponse, GeminiUsageMetadata } from './wire.js';

/** What a translation needs besides the upstream body. */
export interface TranslationContext {
  /** `chatcmpl-...` */
  id: string;
  /** Unix seconds. */
  created: number;
  /** Reported as `model` when the upstream names no modelVersion. */
  model: string;
  /** The id of the n-th tool call of the response (0-based, across choices). */
  callId(n: number): string;
}

/**
 * Gemini's thought signatures must go back with the function calls they came with (Gemini 3
 * rejects a function-call turn without them), but OpenAI clients only echo a tool call's id. So
 * the signature rides in the id: `call_..._0__ts_<signature>`. Base64 has no `_`, so the last
 * `__ts_` separates them unambiguously; request.ts takes it apart again.
 */
const SIGNATURE_SEPARATOR = '__ts_';

export function toolCallId(base: string, signature: string | undefined): string {
  return signature === undefined || signature === '' ? base : `${base}${SIGNATURE_SEPARATOR}${signature}`;
}

export function signatureOf(id: string): string | undefined {
  const at = id.lastIndexOf(SIGNATURE_SEPARATOR);
  return at === -1 ? undefined : id.slice(at + SIGNATURE_SEPARATOR.length) || undefined;
}

export type OpenAIFinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls';

const FILTERED = new Set(['SAFETY', 'RECITATION', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY']);

/**
 * STOP → stop (tool_calls when the candidate called a function), MAX_TOKENS → length, the
 * filter reasons → content_filter; anything else (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL...)
 * → stop, the one value every client handles.
 */
export function finishReason(reason: string | undefined, calledTools: boolean): OpenAIFinishReason {
  if (reason === 'MAX_TOKENS') return 'length';
  if (reason !== undefined && FILTERED.has(reason)) return 'content_filter';
  return calledTools ? 'tool_calls' : 'stop';
}

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
}

const n = (v: number | undefined): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);

/**
 * Prompt = promptTokenCount + toolUsePromptTokenCount; completion = candidates + thoughts
 * (Google bills thinking as output); cached = cachedContentTokenCount (a part of the prompt).
 */
export function openAIUsage(u: GeminiUsageMetadata): OpenAIUsage {
  const prompt = n(u.promptTokenCount) + n(u.toolUsePromptTokenCount);
  const reasoning = n(u.thoughtsTokenCount);
  const completion = n(u.candidatesTokenCount) + reasoning;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: u.totalTokenCount === undefined ? prompt + completion : n(u.totalTokenCount),
    prompt_tokens_details: { cached_tokens: n(u.cachedContentTokenCount) },
    completion_tokens_details: { reasoning_tokens: reasoning },
  };
}

export function gatewayUsage(u: OpenAIUsage): Usage {
  return {
    promptTokens: u.prompt_tokens,
    completionTokens: u.completion_tokens,
    totalTokens: u.total_tokens,
    cachedTokens: u.prompt_tokens_details.cached_tokens,
  };
}

export interface OpenAIToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface OpenAIChoice {
  index: number;
  message: { role: 'assistant'; content: string | null; refusal: null; tool_calls?: OpenAIToolCall[] };
  logprobs: null;
  finish_reason: OpenAIFinishReason;
}

export interface OpenAIChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: OpenAIChoice[];
  usage?: OpenAIUsage;
}

/** The answer text of a candidate: text parts that are not thought summaries. */
function answerText(c: GeminiCandidate): string | undefined {
  let out: string | undefined;
  for (const p of c.content?.parts ?? []) {
    if (typeof p.text === 'string' && p.thought !== true) out = (out ?? '') + p.text;
  }
  return out;
}

export function toChatCompletion(r: GeminiGenerateContentResponse, ctx: TranslationContext): OpenAIChatCompletion {
  let calls = 0;
  const candidates = r.candidates ?? [];
  const choices: OpenAIChoice[] = candidates.map((c, i) => {
    const toolCalls: OpenAIToolCall[] = [];
    for (const p of c.content?.parts ?? []) {
      if (p.functionCall === undefined) continue;
      toolCalls.push({
        id: toolCallId(ctx.callId(calls++), p.thoughtSignature),
        type: 'function',
        function: { name: p.functionCall.name, arguments: JSON.stringify(p.functionCall.args ?? {}) },
      });
    }
    const message: OpenAIChoice['message'] = { role: 'assistant', content: answerText(c) ?? null, refusal: null };
    if (toolCalls.length > 0) message.tool_calls = toolCalls;
    return { index: c.index ?? i, message, logprobs: null, finish_reason: finishReason(c.finishReason, toolCalls.length > 0) };
  });
  // A blocked prompt answers with no candidates at all (promptFeedback.blockReason).
  if (choices.length === 0) {
    choices.push({
      index: 0,
      message: { role: 'assistant', content: null, refusal: null },
      logprobs: null,
      finish_reason: r.promptFeedback?.blockReason !== undefined ? 'content_filter' : 'stop',
    });
  }
  const out: OpenAIChatCompletion = {
    id: ctx.id,
    object: 'chat.completion',
    created: ctx.created,
    model: r.modelVersion ?? ctx.model,
    choices,
  };
  if (r.usageMetadata !== undefined) out.usage = openAIUsage(r.usageMetadata);
  return out;
}

export interface OpenAIEmbeddingList {
  object: 'list';
  data: { object: 'embedding'; index: number; embedding: number[] | string }[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/**
 * batchEmbedContents reports no token counts, so usage is estimated: one token per four
 * characters of input (at least one per input), the usual rule of thumb for English text.
 */
export function estimateEmbeddingTokens(inputs: readonly string[]): number {
  let tokens = 0;
  for (const s of inputs) tokens += Math.max(1, Math.ceil(s.length / 4));
  return tokens;
}

export function toEmbeddingList(
  r: GeminiBatchEmbedContentsResponse,
  inputs: readonly string[],
  model: string,
  base64: boolean,
): OpenAIEmbeddingList {
  const tokens = estimateEmbeddingTokens(inputs);
  return {
    object: 'list',
    data: (r.embeddings ?? []).map((e, index) => {
      const values = e.values ?? [];
      return { object: 'embedding', index, embedding: base64 ? toBase64(values) : values };
    }),
    model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  };
}

/** OpenAI's base64 encoding: little-endian float32s. */
function toBase64(values: readonly number[]): string {
  const buf = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) buf.writeFloatLE(values[i] as number, i * 4);
  return buf.toString('base64');
}
