/**
 * Canonical (OpenAI chat) request → Anthropic Messages request. Pure; throws a 400 GatewayError
 * for what Anthropic cannot express, so the client learns why instead of getting an upstream 400.
 *
 * Choices (DESIGN §13):
 * - system and developer messages, wherever they appear, become the top-level `system` text.
 * - consecutive messages of one role are merged into one turn (Anthropic requires alternation);
 *   `tool` messages become `tool_result` blocks of a user turn.
 * - `max_tokens` is required by Anthropic: max_completion_tokens, else max_tokens, else
 *   DEFAULT_MAX_TOKENS.
 * - JSON mode (`response_format` json_object / json_schema) becomes a system instruction (with
 *   the schema for json_schema): the answer stays ordinary text content, so JSON and streamed
 *   responses translate back without special cases. It is a request, not a guarantee.
 * - temperature is clamped to Anthropic's range 0..1.
 */
import { GatewayError } from '../../errors.js';
import type {
  AnthropicMessage,
  AnthropicRequest,
  AnthropicTool,
  AnthropicToolChoice,
  ImageBlock,
  RequestBlock,
} from './wire.js';

export const DEFAULT_MAX_TOKENS = 4096;

type Obj = Record<string, unknown>;

function invalid(param: string, message: string): GatewayError {
  return new GatewayError('invalid_request', message, { param });
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function toAnthropicRequest(body: Obj, model: string): AnthropicRequest {
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw invalid('n', 'Anthropic models return one choice; n must be 1.');
  const messages = body.messages;
  if (!Array.isArray(messages)) throw invalid('messages', 'messages must be an array.');
  const system: string[] = [];
  const turns: AnthropicMessage[] = [];
  messages.forEach((m: unknown, i) => translateMessage(m, i, system, turns));
  if (turns.length === 0) throw invalid('messages', 'messages must hold at least one user or assistant message.');

  const instruction = jsonInstruction(body.response_format);
  if (instruction !== undefined) system.push(instruction);

  const out: AnthropicRequest = { model, max_tokens: maxTokens(body), messages: turns };
  if (system.length > 0) out.system = system.join('\n\n');
  const stop = body.stop;
  if (typeof stop === 'string') out.stop_sequences = [stop];
  else if (Array.isArray(stop) && stop.length > 0) out.stop_sequences = stop.filter((s): s is string => typeof s === 'string');
  if (typeof body.temperature === 'number') out.temperature = Math.min(1, Math.max(0, body.temperature));
  if (typeof body.top_p === 'number') out.top_p = body.top_p;
  if (body.stream === true) out.stream = true;
  if (typeof body.user === 'string') out.metadata = { user_id: body.user };
  const tools = translateTools(body.tools);
  if (tools !== undefined) {
    out.tools = tools;
    const choice = translateToolChoice(body.tool_choice, body.parallel_tool_calls);
    if (choice !== undefined) out.tool_choice = choice;
  }
  return out;
}

function maxTokens(body: Obj): number {
  const v = body.max_completion_tokens ?? body.max_tokens;
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : DEFAULT_MAX_TOKENS;
}

function translateMessage(m: unknown, i: number, system: string[], turns: AnthropicMessage[]): void {
  if (!isObj(m)) throw invalid(`messages[${i}]`, `messages[${i}] must be an object.`);
  const at = `messages[${i}]`;
  switch (m.role) {
    case 'system':
    case 'developer':
      system.push(textOf(m.content, at));
      return;
    case 'user':
      push(turns, 'user', userBlocks(m.content, at));
      return;
    case 'assistant':
      push(turns, 'assistant', assistantBlocks(m, at));
      return;
    case 'tool': {
      if (typeof m.tool_call_id !== 'string') throw invalid(`${at}.tool_call_id`, `${at}.tool_call_id must be a string.`);
      const content = typeof m.content === 'string' ? m.content : textOf(m.content, at);
      push(turns, 'user', [{ type: 'tool_result', tool_use_id: m.tool_call_id, content }]);
      return;
    }
    default:
      throw invalid(`${at}.role`, `${at}.role must be system, developer, user, assistant or tool.`);
  }
}

/** Appends to the last turn when it has the same role: Anthropic wants strictly alternating turns. */
function push(turns: AnthropicMessage[], role: 'user' | 'assistant', blocks: RequestBlock[]): void {
  if (blocks.length === 0) return;
  const last = turns[turns.length - 1];
  if (last !== undefined && last.role === role) {
    const prior: RequestBlock[] = typeof last.content === 'string' ? [{ type: 'text', text: last.content }] : last.content;
    last.content = prior.concat(blocks);
    return;
  }
  // A lone text stays a plain string, the form most Anthropic examples (and logs) use.
  const only = blocks.length === 1 ? blocks[0] : undefined;
  turns.push({ role, content: only?.type === 'text' ? only.text : blocks });
}

/** Text of a string or an array of text parts (system, developer and tool messages). */
function textOf(content: unknown, at: string): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p: unknown, j) => {
        if (isObj(p) && p.type === 'text' && typeof p.text === 'string') return p.text;
        throw invalid(`${at}.content[${j}]`, `${at}.content[${j}] must be a text part here.`);
      })
      .join('\n');
  }
  throw invalid(`${at}.content`, `${at}.content must be a string or an array of text parts.`);
}

function userBlocks(content: unknown, at: string): RequestBlock[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw invalid(`${at}.content`, `${at}.content must be a string or an array of parts.`);
  return content.map((p: unknown, j): RequestBlock => {
    const where = `${at}.content[${j}]`;
    if (isObj(p) && p.type === 'text' && typeof p.text === 'string') return { type: 'text', text: p.text };
    if (isObj(p) && p.type === 'image_url') {
      const image = p.image_url;
      const url = isObj(image) ? image.url : image;
      if (typeof url !== 'string') throw invalid(where, `${where}.image_url.url must be a string.`);
      return imageBlock(url, where);
    }
    throw invalid(where, `${where} must be a text or image_url part.`);
  });
}

const DATA_URL = /^data:(image\/[a-z0-9.+-]+);base64,(.+)$/is;

export function imageBlock(url: string, where: string): ImageBlock {
  const data = DATA_URL.exec(url);
  if (data !== null) {
    return { type: 'image', source: { type: 'base64', media_type: (data[1] as string).toLowerCase(), data: data[2] as string } };
  }
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  throw invalid(where, `${where}: images must be base64 data: URLs or http(s) URLs.`);
}

function assistantBlocks(m: Obj, at: string): RequestBlock[] {
  const blocks: RequestBlock[] = [];
  const content = m.content;
  if (typeof content === 'string') {
    if (content !== '') blocks.push({ type: 'text', text: content });
  } else if (Array.isArray(content)) {
    const text = textOf(content, at);
    if (text !== '') blocks.push({ type: 'text', text });
  } else if (content !== null && content !== undefined) {
    throw invalid(`${at}.content`, `${at}.content must be a string, an array of text parts or null.`);
  }
  const calls = m.tool_calls;
  if (calls === undefined || calls === null) return blocks;
  if (!Array.isArray(calls)) throw invalid(`${at}.tool_calls`, `${at}.tool_calls must be an array.`);
  calls.forEach((c: unknown, j) => {
    const where = `${at}.tool_calls[${j}]`;
    const fn = isObj(c) ? c.function : undefined;
    if (!isObj(c) || typeof c.id !== 'string' || !isObj(fn) || typeof fn.name !== 'string') {
      throw invalid(where, `${where} must have an id and a function name.`);
    }
    blocks.push({ type: 'tool_use', id: c.id, name: fn.name, input: parseArguments(fn.arguments, where) });
  });
  return blocks;
}

function parseArguments(args: unknown, where: string): Record<string, unknown> {
  if (args === undefined || args === null || args === '') return {};
  if (typeof args !== 'string') throw invalid(`${where}.function.arguments`, `${where}.function.arguments must be a JSON string.`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    throw invalid(`${where}.function.arguments`, `${where}.function.arguments is not valid JSON.`);
  }
  if (!isObj(parsed)) throw invalid(`${where}.function.arguments`, `${where}.function.arguments must be a JSON object.`);
  return parsed;
}

function translateTools(tools: unknown): AnthropicTool[] | undefined {
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  return tools.map((t: unknown, i): AnthropicTool => {
    const fn = isObj(t) ? t.function : undefined;
    if (!isObj(t) || t.type !== 'function' || !isObj(fn) || typeof fn.name !== 'string') {
      throw invalid(`tools[${i}]`, `tools[${i}] must be a function tool with a name.`);
    }
    const tool: AnthropicTool = {
      name: fn.name,
      input_schema: isObj(fn.parameters) ? fn.parameters : { type: 'object', properties: {} },
    };
    if (typeof fn.description === 'string') tool.description = fn.description;
    return tool;
  });
}

function translateToolChoice(choice: unknown, parallel: unknown): AnthropicToolChoice | undefined {
  const single = parallel === false;
  const opts = single ? { disable_parallel_tool_use: true } : {};
  if (choice === undefined || choice === null || choice === 'auto') return single ? { type: 'auto', ...opts } : undefined;
  if (choice === 'none') return { type: 'none' };
  if (choice === 'required') return { type: 'any', ...opts };
  if (isObj(choice) && isObj(choice.function) && typeof choice.function.name === 'string') {
    return { type: 'tool', name: choice.function.name, ...opts };
  }
  throw invalid('tool_choice', 'tool_choice must be "none", "auto", "required" or a named function.');
}

function jsonInstruction(format: unknown): string | undefined {
  if (!isObj(format) || format.type === 'text') return undefined;
  if (format.type === 'json_object') return 'Respond with one valid JSON object only, with no text before or after it.';
  if (format.type === 'json_schema') {
    const spec = isObj(format.json_schema) ? format.json_schema : {};
    const schema = JSON.stringify(spec.schema ?? {});
    return `Respond with one valid JSON object only, with no text before or after it, matching this JSON Schema: ${schema}`;
  }
  throw invalid('response_format', 'response_format.type must be text, json_object or json_schema.');
}

