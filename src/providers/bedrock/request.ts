/**
 * OpenAI chat request (the canonical shape) → Bedrock Converse request. Pure; validates the parts
 * it translates with zod, so a request Bedrock cannot express fails here with a clear 400 instead
 * of upstream with a vague one.
 */
import { z } from 'zod';
import { GatewayError } from '../../errors.js';
import type {
  BedrockMessage,
  ContentBlock,
  ConverseRequest,
  ImageFormat,
  InferenceConfig,
  TextBlock,
  TitanEmbeddingRequest,
  ToolChoice,
  ToolSpec,
} from './wire.js';

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const imagePart = z.object({ type: z.literal('image_url'), image_url: z.object({ url: z.string() }) });
const textContent = z.union([z.string(), z.array(textPart)]);
const toolCall = z.object({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

const message = z.discriminatedUnion('role', [
  z.object({ role: z.enum(['system', 'developer']), content: textContent }),
  z.object({ role: z.literal('user'), content: z.union([z.string(), z.array(z.union([textPart, imagePart]))]) }),
  z.object({
    role: z.literal('assistant'),
    content: textContent.nullish(),
    tool_calls: z.array(toolCall).nullish(),
  }),
  z.object({ role: z.literal('tool'), tool_call_id: z.string().min(1), content: textContent }),
]);

const tool = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().min(1),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});

const responseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({ name: z.string(), schema: z.record(z.string(), z.unknown()).optional() }),
  }),
]);

const chatBody = z.object({
  messages: z.array(message).min(1),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  n: z.literal(1, { error: 'Bedrock returns one choice; n must be 1' }).nullish(),
  tools: z.array(tool).nullish(),
  tool_choice: z
    .union([z.enum(['auto', 'none', 'required']), z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) })])
    .nullish(),
  response_format: responseFormat.nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
});
type ChatBody = z.infer<typeof chatBody>;
type ChatMessage = z.infer<typeof message>;

export interface ConverseCall {
  request: ConverseRequest;
  /** `stream_options.include_usage`: send a usage chunk before [DONE]. */
  includeUsage: boolean;
}

/** Bedrock JSON mode has no switch; the instruction below is how it is asked for (README). */
export const JSON_OBJECT_INSTRUCTION = 'Respond with one valid JSON object only, with no text before or after it.';

export function toConverseRequest(body: Record<string, unknown>): ConverseCall {
  const parsed = chatBody.safeParse(body);
  if (!parsed.success) throw invalid(parsed.error);
  const b = parsed.data;
  const system: TextBlock[] = [];
  const messages: BedrockMessage[] = [];
  for (const [i, m] of b.messages.entries()) translateMessage(m, i, system, messages);
  const jsonInstruction = jsonModeInstruction(b);
  if (jsonInstruction !== undefined) system.push({ text: jsonInstruction });

  const request: ConverseRequest = { messages };
  if (system.length > 0) request.system = system;
  const inference = inferenceConfig(b);
  if (inference !== undefined) request.inferenceConfig = inference;
  const toolConfig = toolsOf(b, messages);
  if (toolConfig !== undefined) request.toolConfig = toolConfig;
  return { request, includeUsage: b.stream_options?.include_usage === true };
}

function translateMessage(m: ChatMessage, i: number, system: TextBlock[], out: BedrockMessage[]): void {
  switch (m.role) {
    case 'system':
    case 'developer':
      system.push({ text: textOf(m.content) });
      return;
    case 'user':
      append(out, 'user', typeof m.content === 'string' ? [{ text: m.content }] : m.content.map((p, j) => userPart(p, i, j)));
      return;
    case 'assistant': {
      const blocks: ContentBlock[] = [];
      const text = m.content === null || m.content === undefined ? '' : textOf(m.content);
      // Bedrock rejects empty text blocks.
      if (text !== '') blocks.push({ text });
      for (const [j, call] of (m.tool_calls ?? []).entries()) {
        blocks.push({ toolUse: { toolUseId: call.id, name: call.function.name, input: toolInput(call.function.arguments, i, j) } });
      }
      // An empty assistant turn says nothing Bedrock accepts (blank text is refused); dropping it
      // merges the user turns around it, which keeps the roles alternating.
      if (blocks.length > 0) append(out, 'assistant', blocks);
      return;
    }
    case 'tool':
      append(out, 'user', [{ toolResult: { toolUseId: m.tool_call_id, content: [{ text: textOf(m.content) }] } }]);
      return;
  }
}

/** Bedrock wants alternating roles: consecutive turns of one role (tool results, then user text) merge. */
function append(out: BedrockMessage[], role: 'user' | 'assistant', blocks: ContentBlock[]): void {
  const last = out[out.length - 1];
  if (last !== undefined && last.role === role) last.content.push(...blocks);
  else out.push({ role, content: blocks });
}

function textOf(content: string | Array<{ text: string }>): string {
  return typeof content === 'string' ? content : content.map((p) => p.text).join('');
}

const DATA_URL = /^data:image\/(png|jpeg|jpg|gif|webp);base64,([A-Za-z0-9+/=\s]+)$/;

function userPart(p: z.infer<typeof textPart> | z.infer<typeof imagePart>, i: number, j: number): ContentBlock {
  if (p.type === 'text') return { text: p.text };
  const match = DATA_URL.exec(p.image_url.url);
  if (match === null) {
    throw new GatewayError(
      'invalid_request',
      'Bedrock deployments accept images only as base64 data URLs (data:image/png|jpeg|gif|webp;base64,...); remote image URLs are not fetched.',
      { param: `messages[${i}].content[${j}].image_url.url` },
    );
  }
  const format = (match[1] === 'jpg' ? 'jpeg' : match[1]) as ImageFormat;
  return { image: { format, source: { bytes: (match[2] as string).replace(/\s+/g, '') } } };
}

function toolInput(args: string, i: number, j: number): unknown {
  if (args.trim() === '') return {};
  try {
    return JSON.parse(args) as unknown;
  } catch {
    throw new GatewayError('invalid_request', 'Tool call arguments must be a JSON object for Bedrock deployments.', {
      param: `messages[${i}].tool_calls[${j}].function.arguments`,
    });
  }
}

function inferenceConfig(b: ChatBody): InferenceConfig | undefined {
  const c: InferenceConfig = {};
  const max = b.max_completion_tokens ?? b.max_tokens;
  if (max !== null && max !== undefined) c.maxTokens = max;
  if (b.temperature !== null && b.temperature !== undefined) c.temperature = b.temperature;
  if (b.top_p !== null && b.top_p !== undefined) c.topP = b.top_p;
  if (b.stop !== null && b.stop !== undefined) c.stopSequences = typeof b.stop === 'string' ? [b.stop] : b.stop;
  return Object.keys(c).length === 0 ? undefined : c;
}

/**
 * `tool_choice: "none"` has no Converse equivalent: the tools are dropped, unless the history holds
 * tool blocks (then Bedrock requires toolConfig) and they stay with `auto`.
 */
function toolsOf(b: ChatBody, messages: BedrockMessage[]): ConverseRequest['toolConfig'] {
  const tools = b.tools ?? [];
  if (tools.length === 0) return undefined;
  const specs: ToolSpec[] = tools.map((t) => {
    const spec: ToolSpec['toolSpec'] = { name: t.function.name, inputSchema: { json: t.function.parameters ?? { type: 'object', properties: {} } } };
    if (t.function.description !== undefined) spec.description = t.function.description;
    return { toolSpec: spec };
  });
  const choice = b.tool_choice;
  if (choice === 'none') return historyHasTools(messages) ? { tools: specs } : undefined;
  let toolChoice: ToolChoice | undefined;
  if (choice === 'required') toolChoice = { any: {} };
  else if (typeof choice === 'object' && choice !== null) toolChoice = { tool: { name: choice.function.name } };
  else if (choice === 'auto') toolChoice = { auto: {} };
  return toolChoice === undefined ? { tools: specs } : { tools: specs, toolChoice };
}

function historyHasTools(messages: BedrockMessage[]): boolean {
  return messages.some((m) => m.content.some((c) => 'toolUse' in c || 'toolResult' in c));
}

function jsonModeInstruction(b: ChatBody): string | undefined {
  const f = b.response_format;
  if (f === null || f === undefined || f.type === 'text') return undefined;
  if (f.type === 'json_object' || f.json_schema.schema === undefined) return JSON_OBJECT_INSTRUCTION;
  return `${JSON_OBJECT_INSTRUCTION} It must match this JSON schema: ${JSON.stringify(f.json_schema.schema)}`;
}

const embeddingsBody = z.object({
  input: z.union([z.string(), z.array(z.string()).min(1).max(2048)], {
    error: 'Bedrock embedding deployments take input as a string or an array of strings (token arrays are not supported)',
  }),
  dimensions: z.number().int().positive().optional(),
  encoding_format: z.enum(['float', 'base64']).optional(),
});

export interface EmbeddingCall {
  requests: TitanEmbeddingRequest[];
  base64: boolean;
}

/** One Titan InvokeModel body per input: Titan text models embed one text per call. */
export function toTitanRequests(body: Record<string, unknown>): EmbeddingCall {
  const parsed = embeddingsBody.safeParse(body);
  if (!parsed.success) throw invalid(parsed.error);
  const inputs = typeof parsed.data.input === 'string' ? [parsed.data.input] : parsed.data.input;
  const dimensions = parsed.data.dimensions;
  return {
    requests: inputs.map((inputText) => (dimensions === undefined ? { inputText } : { inputText, dimensions })),
    base64: parsed.data.encoding_format === 'base64',
  };
}

function invalid(error: z.ZodError): GatewayError {
  const issue = error.issues[0];
  const param = issue === undefined ? null : issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  const message = issue === undefined ? 'Invalid request.' : `${param === '' ? 'body' : param}: ${issue.message}`;
  return new GatewayError('invalid_request', `Invalid request for a Bedrock deployment: ${message}`, { param: param === '' ? null : param });
}
