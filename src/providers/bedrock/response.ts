/**
 * Bedrock answers → OpenAI answers. Pure. Usage is mapped the OpenAI way: prompt tokens include
 * cached ones, which Bedrock counts apart (cacheRead/cacheWrite are not in inputTokens).
 */
import { GatewayError } from '../../errors.js';
import type { Usage } from '../types.js';
import type { BedrockUsage, ConverseResponse, StopReason, TitanEmbeddingResponse } from './wire.js';
import { openAIUsage } from '../usage.js';

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

const FINISH: Readonly<Record<StopReason, FinishReason>> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  content_filtered: 'content_filter',
  guardrail_intervened: 'content_filter',
};

export function finishReason(stop: string): FinishReason {
  return (FINISH as Record<string, FinishReason>)[stop] ?? 'stop';
}

export function toUsage(u: BedrockUsage | undefined): Usage | undefined {
  if (u === undefined || typeof u.inputTokens !== 'number' || typeof u.outputTokens !== 'number') return undefined;
  const cached = u.cacheReadInputTokens ?? 0;
  const prompt = u.inputTokens + cached + (u.cacheWriteInputTokens ?? 0);
  return { promptTokens: prompt, completionTokens: u.outputTokens, totalTokens: prompt + u.outputTokens, cachedTokens: cached };
}

/** Fields every completion (and chunk) of one request shares. */
export interface CompletionMeta {
  id: string;
  created: number;
  model: string;
}

export interface ToolCallOut {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export function toChatCompletion(raw: unknown, meta: CompletionMeta): { body: Record<string, unknown>; usage: Usage | undefined } {
  const res = asConverseResponse(raw);
  let text = '';
  let hasText = false;
  const toolCalls: ToolCallOut[] = [];
  for (const block of res.output.message.content) {
    if (typeof block.text === 'string') {
      text += block.text;
      hasText = true;
    } else if (block.toolUse !== undefined) {
      toolCalls.push({
        id: block.toolUse.toolUseId,
        type: 'function',
        function: { name: block.toolUse.name, arguments: JSON.stringify(block.toolUse.input ?? {}) },
      });
    }
  }
  const message: Record<string, unknown> = { role: 'assistant', content: hasText ? text : null, refusal: null };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  const usage = toUsage(res.usage);
  const body: Record<string, unknown> = {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(res.stopReason) }],
  };
  if (usage !== undefined) body.usage = openAIUsage(usage);
  return { body, usage };
}

function asConverseResponse(raw: unknown): ConverseResponse {
  const r = raw as Partial<ConverseResponse> | null;
  const content = r?.output?.message?.content;
  if (typeof r !== 'object' || r === null || !Array.isArray(content) || typeof r.stopReason !== 'string') {
    throw new GatewayError('upstream_error', 'The upstream provider answered with a malformed Converse response.');
  }
  return r as ConverseResponse;
}

export function asTitanEmbedding(raw: unknown): TitanEmbeddingResponse {
  const r = raw as Partial<TitanEmbeddingResponse> | null;
  if (typeof r !== 'object' || r === null || !Array.isArray(r.embedding) || typeof r.inputTextTokenCount !== 'number') {
    throw new GatewayError('upstream_error', 'The upstream provider answered with a malformed embedding response.');
  }
  return r as TitanEmbeddingResponse;
}

/** OpenAI's embeddings list; `base64` packs each vector as little-endian float32, as OpenAI does. */
export function toEmbeddingList(results: TitanEmbeddingResponse[], model: string, base64: boolean): { body: Record<string, unknown>; usage: Usage } {
  let tokens = 0;
  const data = results.map((r, index) => {
    tokens += r.inputTextTokenCount;
    return { object: 'embedding', index, embedding: base64 ? packFloat32(r.embedding) : r.embedding };
  });
  return {
    body: { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } },
    usage: { promptTokens: tokens, completionTokens: 0, totalTokens: tokens, cachedTokens: 0 },
  };
}

function packFloat32(values: number[]): string {
  const buf = Buffer.allocUnsafe(values.length * 4);
  values.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf.toString('base64');
}
