/**
 * POST /v1/messages at the edge: an Anthropic Messages request → the canonical (OpenAI chat)
 * body the pipeline runs for every provider. Validated with zod first, so bad input gets a clear
 * 400 naming the field, in Anthropic's error format (the server renders it).
 *
 * Choices (DESIGN §13): `system` becomes a leading system message; `tool_result` blocks become
 * `tool` messages placed before the rest of their user turn (OpenAI wants a tool answer right
 * after the assistant's call); images become image_url parts (base64 → data: URL); streams always
 * ask for usage (`stream_options.include_usage`), since Anthropic streams always carry it;
 * `top_k`, `thinking` and other fields OpenAI cannot express are dropped, not forwarded.
 */
import { z } from 'zod';
import { GatewayError } from '../../../errors.js';

const text = z.object({ type: z.literal('text'), text: z.string() }).loose();
const image = z
  .object({
    type: z.literal('image'),
    source: z.discriminatedUnion('type', [
      z.object({ type: z.literal('base64'), media_type: z.string().regex(/^image\/[a-z0-9.+-]+$/i), data: z.string().min(1) }),
      z.object({ type: z.literal('url'), url: z.url({ protocol: /^https?$/ }) }),
    ]),
  })
  .loose();
const toolUse = z.object({ type: z.literal('tool_use'), id: z.string().min(1), name: z.string().min(1), input: z.record(z.string(), z.unknown()) }).loose();
const toolResult = z
  .object({
    type: z.literal('tool_result'),
    tool_use_id: z.string().min(1),
    content: z.union([z.string(), z.array(z.union([text, image]))]).optional(),
    is_error: z.boolean().optional(),
  })
  .loose();
/** Thinking blocks a client sends back in history are accepted and not forwarded. */
const thinking = z.object({ type: z.enum(['thinking', 'redacted_thinking']) }).loose();
const block = z.discriminatedUnion('type', [text, image, toolUse, toolResult, thinking]);

const message = z.object({
  role: z.enum(['user', 'assistant']),
  content: z.union([z.string(), z.array(block)]),
});

const tool = z
  .object({
    name: z.string().min(1).max(128),
    description: z.string().optional(),
    input_schema: z.record(z.string(), z.unknown()),
    type: z.literal('custom').optional(),
  })
  .loose();

const toolChoice = z.discriminatedUnion('type', [
  z.object({ type: z.literal('auto'), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('any'), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('tool'), name: z.string().min(1), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal('none') }),
]);

export const messagesRequest = z
  .object({
    model: z.string().min(1).max(256),
    max_tokens: z.number().int().min(1),
    messages: z.array(message).min(1),
    system: z.union([z.string(), z.array(text)]).optional(),
    stop_sequences: z.array(z.string()).optional(),
    temperature: z.number().min(0).max(1).optional(),
    top_p: z.number().min(0).max(1).optional(),
    top_k: z.number().int().min(0).optional(),
    stream: z.boolean().optional(),
    tools: z.array(tool).optional(),
    tool_choice: toolChoice.optional(),
    metadata: z.object({ user_id: z.string().max(256).nullish() }).loose().optional(),
  })
  .loose();

export type MessagesRequest = z.infer<typeof messagesRequest>;
type Block = z.infer<typeof block>;
type Obj = Record<string, unknown>;

/** Validates and translates; throws a 400 GatewayError naming the first bad field. */
export function fromAnthropicRequest(body: unknown): Obj {
  const parsed = messagesRequest.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue === undefined ? '' : issue.path.map(String).join('.');
    const detail = issue === undefined ? 'invalid request' : issue.message;
    throw new GatewayError('invalid_request', path === '' ? detail : `${path}: ${detail}`, { param: path === '' ? null : path });
  }
  return toCanonical(parsed.data);
}

function toCanonical(req: MessagesRequest): Obj {
  const messages: Obj[] = [];
  if (req.system !== undefined) {
    const system = typeof req.system === 'string' ? req.system : req.system.map((b) => b.text).join('\n');
    if (system !== '') messages.push({ role: 'system', content: system });
  }
  for (const m of req.messages) {
    if (m.role === 'user') userMessages(m.content, messages);
    else messages.push(assistantMessage(m.content));
  }
  const out: Obj = { model: req.model, max_tokens: req.max_tokens, messages };
  if (req.stop_sequences !== undefined && req.stop_sequences.length > 0) out.stop = req.stop_sequences;
  if (req.temperature !== undefined) out.temperature = req.temperature;
  if (req.top_p !== undefined) out.top_p = req.top_p;
  if (req.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  if (typeof req.metadata?.user_id === 'string') out.user = req.metadata.user_id;
  if (req.tools !== undefined && req.tools.length > 0) {
    out.tools = req.tools.map((t) => ({
      type: 'function',
      function: { name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), parameters: t.input_schema },
    }));
    const choice = req.tool_choice;
    if (choice !== undefined) {
      out.tool_choice =
        choice.type === 'auto' ? 'auto' : choice.type === 'any' ? 'required' : choice.type === 'none' ? 'none' : { type: 'function', function: { name: choice.name } };
      if (choice.type !== 'none' && choice.disable_parallel_tool_use === true) out.parallel_tool_calls = false;
    }
  } else if (req.tool_choice !== undefined && req.tool_choice.type !== 'none' && req.tool_choice.type !== 'auto') {
    throw new GatewayError('invalid_request', 'tool_choice: a tool must be chosen from `tools`, which is empty.', { param: 'tool_choice' });
  }
  return out;
}

function userMessages(content: string | Block[], out: Obj[]): void {
  if (typeof content === 'string') {
    out.push({ role: 'user', content });
    return;
  }
  const parts: Obj[] = [];
  for (const b of content) {
    if (b.type === 'tool_result') out.push({ role: 'tool', tool_call_id: b.tool_use_id, content: toolResultText(b) });
    else if (b.type === 'text') parts.push({ type: 'text', text: b.text });
    else if (b.type === 'image') parts.push({ type: 'image_url', image_url: { url: imageUrl(b) } });
    else if (b.type === 'tool_use') {
      throw new GatewayError('invalid_request', 'messages: tool_use blocks belong in assistant turns.', { param: 'messages' });
    }
  }
  if (parts.length > 0) out.push({ role: 'user', content: parts });
}

function imageUrl(b: Extract<Block, { type: 'image' }>): string {
  const s = b.source;
  return s.type === 'base64' ? `data:${s.media_type};base64,${s.data}` : s.url;
}

/** OpenAI tool messages carry text; an image in a tool result cannot be passed on. */
function toolResultText(b: Extract<Block, { type: 'tool_result' }>): string {
  const c = b.content;
  let text: string;
  if (c === undefined) text = '';
  else if (typeof c === 'string') text = c;
  else {
    text = c
      .map((part) => {
        if (part.type === 'text') return part.text;
        throw new GatewayError('invalid_request', 'messages: images inside tool_result blocks are not supported here.', { param: 'messages' });
      })
      .join('\n');
  }
  return b.is_error === true ? `Error: ${text}` : text;
}

function assistantMessage(content: string | Block[]): Obj {
  if (typeof content === 'string') return { role: 'assistant', content };
  let text = '';
  const calls: Obj[] = [];
  for (const b of content) {
    if (b.type === 'text') text += b.text;
    else if (b.type === 'tool_use') calls.push({ id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input) } });
    else if (b.type === 'image' || b.type === 'tool_result') {
      throw new GatewayError('invalid_request', `messages: ${b.type} blocks belong in user turns.`, { param: 'messages' });
    }
  }
  const m: Obj = { role: 'assistant', content: text === '' && calls.length > 0 ? null : text };
  if (calls.length > 0) m.tool_calls = calls;
  return m;
}
