/**
 * POST /v1/chat/completions in the real wire format (chat.completion and
 * chat.completion.chunk objects, as the official SDK parses them): text replies, n choices,
 * stop and max_tokens, tool calls, JSON mode and structured outputs, and include_usage.
 */
import { chatLogprobs, chatLogprobsObject } from './logprobs.js';
import { mockId } from './respond.js';
import {
  type FinishReason,
  cyclePieces,
  estimateTokens,
  limitPieces,
  replyText,
  textOf,
  toPieces,
  toSlices,
  valueForSchema,
} from './text.js';

export const FINGERPRINT = 'fp_mock0001';
const REPLY_PREFIX = 'This is a mock response. You said: ';

type Body = Record<string, unknown>;

interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** Everything a reply needs, decided once per request; the stream and JSON forms render it. */
export interface ChatPlan {
  id: string;
  created: number;
  model: string;
  /** Per choice: content pieces, or a tool call. */
  choices: { pieces: string[]; finish: FinishReason | 'tool_calls'; toolCall?: ToolCall }[];
  promptTokens: number;
  completionTokens: number;
  includeUsage: boolean;
  /** `logprobs: true`: how many `top_logprobs` alternatives per token. */
  logprobs: number | undefined;
}

export function planChat(body: Body, model: string, tokens: number | undefined): ChatPlan {
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]) : [];
  const last = lastMessage(messages);
  const n = positiveInt(body.n) ?? 1;
  const maxTokens = positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens);
  const stop = stopList(body.stop);
  const tool = chooseTool(body, last);
  const choices: ChatPlan['choices'] = [];
  let completionTokens = 0;
  for (let i = 0; i < n; i++) {
    if (tool !== undefined) {
      const call: ToolCall = { id: mockId('call_'), name: tool.name, arguments: JSON.stringify(valueForSchema(tool.parameters, 'mock')) };
      completionTokens += estimateTokens(call.arguments) + 1;
      choices.push({ pieces: [], finish: 'tool_calls', toolCall: call });
      continue;
    }
    const limited = limitPieces(contentPieces(body, last, tokens), maxTokens, stop);
    completionTokens += limited.pieces.length;
    choices.push(limited);
  }
  return {
    id: mockId('chatcmpl-'),
    created: Math.floor(Date.now() / 1000),
    model,
    choices,
    promptTokens: promptTokens(messages, body.tools),
    completionTokens,
    includeUsage: includeUsage(body),
    logprobs: chatLogprobs(body),
  };
}

interface LastMessage {
  role: string;
  text: string;
  /** The last user message's text, for tool selection. */
  userText: string;
}

function lastMessage(messages: unknown[]): LastMessage {
  let role = 'user';
  let text = '';
  let userText = '';
  for (const m of messages) {
    if (typeof m !== 'object' || m === null) continue;
    const msg = m as Body;
    role = typeof msg.role === 'string' ? msg.role : 'user';
    text = textOf(msg.content);
    if (role === 'user') userText = text;
  }
  return { role, text, userText };
}

function contentPieces(body: Body, last: LastMessage, tokens: number | undefined): string[] {
  const text = last.role === 'tool' ? `Tool result received: ${last.text}` : replyText(last.userText, REPLY_PREFIX);
  const json = jsonContent(body.response_format, text);
  if (json !== undefined) return toSlices(json);
  const pieces = toPieces(text);
  return tokens === undefined ? pieces : cyclePieces(pieces, tokens);
}

/** JSON mode answers with a JSON object; structured outputs with one that fits the schema. */
function jsonContent(format: unknown, text: string): string | undefined {
  if (typeof format !== 'object' || format === null) return undefined;
  const f = format as Body;
  if (f.type === 'json_object') return JSON.stringify({ reply: text });
  if (f.type !== 'json_schema') return undefined;
  const spec = typeof f.json_schema === 'object' && f.json_schema !== null ? (f.json_schema as Body) : {};
  return JSON.stringify(valueForSchema(spec.schema ?? { type: 'object' }, text));
}

interface ToolSpec {
  name: string;
  parameters: unknown;
}

/**
 * A tool call happens when tool_choice is 'required' or names a function, or under 'auto' when
 * the last user message mentions a tool by name, unless a tool result was just given.
 */
function chooseTool(body: Body, last: LastMessage): ToolSpec | undefined {
  const tools = toolSpecs(body.tools);
  if (tools.length === 0 || body.tool_choice === 'none') return undefined;
  const choice = body.tool_choice;
  if (typeof choice === 'object' && choice !== null) {
    const fn = (choice as Body).function;
    const name = typeof fn === 'object' && fn !== null ? (fn as Body).name : undefined;
    return tools.find((t) => t.name === name) ?? tools[0];
  }
  const lower = last.userText.toLowerCase();
  const mentioned = tools.find((t) => lower.includes(t.name.toLowerCase()));
  if (choice === 'required') return mentioned ?? tools[0];
  return last.role === 'tool' ? undefined : mentioned;
}

function toolSpecs(tools: unknown): ToolSpec[] {
  if (!Array.isArray(tools)) return [];
  const out: ToolSpec[] = [];
  for (const t of tools) {
    const fn = typeof t === 'object' && t !== null ? (t as Body).function : undefined;
    if (typeof fn !== 'object' || fn === null) continue;
    const f = fn as Body;
    if (typeof f.name === 'string') out.push({ name: f.name, parameters: f.parameters ?? { type: 'object', properties: {} } });
  }
  return out;
}

function promptTokens(messages: unknown[], tools: unknown): number {
  let chars = 0;
  for (const m of messages) {
    if (typeof m === 'object' && m !== null) chars += textOf((m as Body).content).length;
  }
  if (tools !== undefined) chars += JSON.stringify(tools).length;
  return Math.max(1, Math.ceil(chars / 4));
}

export function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

export function stopList(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

export function includeUsage(body: Body): boolean {
  const opts = body.stream_options;
  return typeof opts === 'object' && opts !== null && (opts as Body).include_usage === true;
}

export function usageObject(prompt: number, completion: number): Record<string, unknown> {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

export function chatCompletion(plan: ChatPlan): Record<string, unknown> {
  return {
    id: plan.id,
    object: 'chat.completion',
    created: plan.created,
    model: plan.model,
    choices: plan.choices.map((c, index) => ({
      index,
      message: c.toolCall === undefined
        ? { role: 'assistant', content: c.pieces.join(''), refusal: null, annotations: [] }
        : {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: c.toolCall.id, type: 'function', function: { name: c.toolCall.name, arguments: c.toolCall.arguments } }],
            refusal: null,
            annotations: [],
          },
      logprobs: plan.logprobs === undefined || c.toolCall !== undefined ? null : chatLogprobsObject(c.pieces, plan.logprobs),
      finish_reason: c.finish,
    })),
    usage: usageObject(plan.promptTokens, plan.completionTokens),
    service_tier: 'default',
    system_fingerprint: FINGERPRINT,
  };
}

/**
 * The SSE events of a streamed reply, produced lazily (a 100k-token benchmark stream holds no
 * more than one event in memory). Chunks are assembled from a per-request prefix and a
 * JSON-escaped piece, the only per-token work.
 */
export function* chatChunks(plan: ChatPlan): Generator<string> {
  const prefix = `data: {"id":"${plan.id}","object":"chat.completion.chunk","created":${plan.created},"model":${JSON.stringify(plan.model)},"service_tier":"default","system_fingerprint":"${FINGERPRINT}","choices":[`;
  const suffix = plan.includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  const choice = (index: number, delta: string, finish: string | null, logprobs = 'null'): string =>
    `${prefix}{"index":${index},"delta":${delta},"logprobs":${logprobs},"finish_reason":${finish === null ? 'null' : `"${finish}"`}}${suffix}`;
  const top = plan.logprobs;

  const streams = plan.choices.map((c) =>
    c.toolCall === undefined ? c.pieces : toSlices(c.toolCall.arguments, 8),
  );
  for (let i = 0; i < plan.choices.length; i++) {
    const call = plan.choices[i]?.toolCall;
    yield choice(i, call === undefined ? FIRST_TEXT_DELTA : firstToolDelta(call), null);
  }
  const longest = Math.max(0, ...streams.map((s) => s.length));
  for (let t = 0; t < longest; t++) {
    for (let i = 0; i < streams.length; i++) {
      const piece = streams[i]?.[t];
      if (piece === undefined) continue;
      const escaped = JSON.stringify(piece);
      const text = plan.choices[i]?.toolCall === undefined;
      const delta = text ? `{"content":${escaped}}` : `{"tool_calls":[{"index":0,"function":{"arguments":${escaped}}}]}`;
      yield top === undefined || !text ? choice(i, delta, null) : choice(i, delta, null, JSON.stringify(chatLogprobsObject([piece], top)));
    }
  }
  for (let i = 0; i < plan.choices.length; i++) yield choice(i, '{}', plan.choices[i]?.finish ?? 'stop');
  if (plan.includeUsage) {
    const usage = JSON.stringify(usageObject(plan.promptTokens, plan.completionTokens));
    yield `${prefix}],"usage":${usage}}\n\n`;
  }
  yield 'data: [DONE]\n\n';
}

const FIRST_TEXT_DELTA = '{"role":"assistant","content":"","refusal":null}';

function firstToolDelta(call: ToolCall): string {
  return JSON.stringify({
    role: 'assistant',
    content: null,
    tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }],
    refusal: null,
  });
}
