/**
 * Anthropic Messages response → OpenAI chat completion (non-stream), and the mappings the
 * stream translator shares: stop reasons and usage.
 */
import type { Usage } from '../types.js';
import type { AnthropicResponse, AnthropicUsage, StopReason } from './wire.js';
import { openAIUsage } from '../usage.js';

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** end_turn/stop_sequence → stop, max_tokens → length, tool_use → tool_calls, refusal → content_filter. */
export function finishReason(reason: StopReason | null | undefined): FinishReason {
  switch (reason) {
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}

/**
 * OpenAI counts cached input inside prompt_tokens; Anthropic reports input_tokens without the
 * cache reads and writes, so they are added back.
 */
export function toUsage(u: Partial<AnthropicUsage> | undefined): Usage | undefined {
  if (u === undefined) return undefined;
  const cacheRead = num(u.cache_read_input_tokens);
  const promptTokens = num(u.input_tokens) + cacheRead + num(u.cache_creation_input_tokens);
  const completionTokens = num(u.output_tokens);
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, cachedTokens: cacheRead };
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0;
}

export interface OpenAIToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export function toChatCompletion(msg: AnthropicResponse, created: number): { body: Record<string, unknown>; usage: Usage | undefined } {
  let text = '';
  const toolCalls: OpenAIToolCall[] = [];
  for (const block of msg.content ?? []) {
    if (block.type === 'text') text += block.text;
    else if (block.type === 'tool_use') {
      toolCalls.push({ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
    }
  }
  const message: Record<string, unknown> = { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  const usage = toUsage(msg.usage);
  const body: Record<string, unknown> = {
    id: msg.id,
    object: 'chat.completion',
    created,
    model: msg.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(msg.stop_reason) }],
  };
  if (usage !== undefined) body.usage = openAIUsage(usage);
  return { body, usage };
}
