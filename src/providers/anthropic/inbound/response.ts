/**
 * The canonical (OpenAI chat) answer → Anthropic Messages, for clients of POST /v1/messages:
 * the JSON completion, the error envelope, and the shared mappings (stop reasons, usage).
 */
import type { AnthropicErrorBody, AnthropicErrorType, AnthropicResponse, AnthropicUsage, ResponseBlock, StopReason } from '../wire.js';
import type { BodyTranslator } from '../../translate-body.js';

type Obj = Record<string, unknown>;

export function stopReason(finish: unknown): StopReason {
  switch (finish) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
    case 'function_call':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return 'end_turn';
  }
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0;
}

/** OpenAI's prompt_tokens include the cached ones; Anthropic's input_tokens do not. */
export function anthropicUsage(u: unknown): AnthropicUsage {
  if (!isObj(u)) return { input_tokens: 0, output_tokens: 0 };
  const details = u.prompt_tokens_details;
  const cached = isObj(details) ? count(details.cached_tokens) : 0;
  const prompt = count(u.prompt_tokens);
  return {
    input_tokens: Math.max(0, prompt - cached),
    output_tokens: count(u.completion_tokens),
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
  };
}

/** Arguments are a JSON string in OpenAI's format; anything that is not an object becomes {}. */
export function parseInput(args: unknown): Record<string, unknown> {
  if (typeof args !== 'string' || args === '') return {};
  try {
    const v: unknown = JSON.parse(args);
    return isObj(v) ? v : {};
  } catch {
    return {};
  }
}

export function toAnthropicMessage(completion: Obj): AnthropicResponse {
  const choices = Array.isArray(completion.choices) ? completion.choices : [];
  const choice: unknown = choices[0];
  const message = isObj(choice) && isObj(choice.message) ? choice.message : {};
  const content: ResponseBlock[] = [];
  if (typeof message.content === 'string' && message.content !== '') content.push({ type: 'text', text: message.content });
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  for (const c of calls as unknown[]) {
    if (!isObj(c) || !isObj(c.function)) continue;
    content.push({
      type: 'tool_use',
      id: typeof c.id === 'string' ? c.id : 'toolu_unknown',
      name: typeof c.function.name === 'string' ? c.function.name : '',
      input: parseInput(c.function.arguments),
    });
  }
  return {
    id: typeof completion.id === 'string' ? completion.id : 'msg_gatehouse',
    type: 'message',
    role: 'assistant',
    model: typeof completion.model === 'string' ? completion.model : '',
    content,
    stop_reason: stopReason(isObj(choice) ? choice.finish_reason : undefined),
    stop_sequence: null,
    usage: anthropicUsage(completion.usage),
  };
}

/** Anthropic's error type for an HTTP status; the SDKs choose their exception by status. */
export function errorType(status: number): AnthropicErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503 || status === 529) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

export function errorBody(status: number, message: string, requestId?: string): AnthropicErrorBody {
  const body: AnthropicErrorBody = { type: 'error', error: { type: errorType(status), message } };
  if (requestId !== undefined) body.request_id = requestId;
  return body;
}

const MAX_BYTES = 32 * 1024 * 1024;

/**
 * A whole JSON body, translated at its end: a completion (2xx) or an OpenAI error envelope
 * (an upstream 4xx passed through) into Anthropic's.
 */
export class OpenAIJsonToAnthropic implements BodyTranslator {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private readonly status: number;
  private readonly requestId: string | undefined;

  constructor(status: number, requestId?: string) {
    this.status = status;
    this.requestId = requestId;
  }

  push(chunk: Buffer): string {
    this.bytes += chunk.length;
    if (this.bytes <= MAX_BYTES) this.chunks.push(chunk);
    return '';
  }

  end(): string {
    const raw = Buffer.concat(this.chunks).toString('utf8');
    this.chunks = [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    if (this.status >= 400) {
      const error = isObj(parsed) && isObj(parsed.error) ? parsed.error : {};
      const message = typeof error.message === 'string' ? error.message : `The request failed with HTTP ${this.status}.`;
      return JSON.stringify(errorBody(this.status, message, this.requestId));
    }
    return JSON.stringify(toAnthropicMessage(isObj(parsed) ? parsed : {}));
  }

  usage(): undefined {
    return undefined;
  }
}
