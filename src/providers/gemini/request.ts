/**
 * Canonical (OpenAI chat / embeddings wire shape) → Gemini request bodies. Pure: no I/O.
 *
 * The body is checked with zod here, at the edge of the translation: a shape that has no Gemini
 * equivalent is the client's 400 (invalid_request, with the offending param), never an
 * upstream error the client cannot read. Fields Gemini has no use for (user, logit_bias,
 * parallel_tool_calls, stream_options, ...) are dropped; README "Provider gemini" lists them.
 */
import { z } from 'zod';
import { GatewayError } from '../../errors.js';
import { signatureOf } from './response.js';
import type {
  GeminiBatchEmbedContentsRequest,
  GeminiContent,
  GeminiFunctionCallingMode,
  GeminiGenerateContentRequest,
  GeminiGenerationConfig,
  GeminiPart,
  GeminiRole,
  GeminiSchema,
  GeminiToolConfig,
} from './wire.js';

const text = z.string();
const contentPart = z.looseObject({ type: z.string() });
const content = z.union([text, z.array(contentPart), z.null()]).optional();

const toolCall = z.looseObject({
  id: z.string(),
  type: z.literal('function').optional(),
  function: z.looseObject({ name: z.string().min(1), arguments: z.string() }),
});

const message = z.discriminatedUnion('role', [
  z.looseObject({ role: z.enum(['system', 'developer']), content }),
  z.looseObject({ role: z.literal('user'), content }),
  z.looseObject({ role: z.literal('assistant'), content, tool_calls: z.array(toolCall).optional() }),
  z.looseObject({ role: z.literal('tool'), content, tool_call_id: z.string() }),
  // Legacy function-calling message: carries the function name itself.
  z.looseObject({ role: z.literal('function'), content, name: z.string().min(1) }),
]);

const functionTool = z.looseObject({
  type: z.literal('function'),
  function: z.looseObject({
    name: z.string().min(1).max(128),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
  }),
});

const toolChoice = z.union([
  z.enum(['auto', 'none', 'required']),
  z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string().min(1) }) }),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    json_schema: z.looseObject({ name: z.string().optional(), schema: z.record(z.string(), z.unknown()).optional() }),
  }),
]);

const chatBody = z.looseObject({
  messages: z.array(message).min(1),
  tools: z.array(functionTool).optional(),
  tool_choice: toolChoice.optional(),
  response_format: responseFormat.optional(),
  stop: z.union([z.string(), z.array(z.string())]).nullable().optional(),
  max_tokens: z.number().int().positive().nullable().optional(),
  max_completion_tokens: z.number().int().positive().nullable().optional(),
  temperature: z.number().nullable().optional(),
  top_p: z.number().nullable().optional(),
  n: z.number().int().positive().nullable().optional(),
  presence_penalty: z.number().nullable().optional(),
  frequency_penalty: z.number().nullable().optional(),
  seed: z.number().int().nullable().optional(),
});

type ChatBody = z.infer<typeof chatBody>;
type Message = z.infer<typeof message>;

/** The first issue of a failed parse as the client's 400, naming the field like OpenAI does. */
function invalid(error: z.ZodError, prefix: string): GatewayError {
  const issue = error.issues[0];
  const path = issue === undefined ? '' : issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
  const param = `${prefix}${path}`.replace(/^\./, '');
  return new GatewayError('invalid_request', `Invalid '${param}' for provider gemini: ${issue?.message ?? 'invalid value'}.`, {
    param,
  });
}

function reject(param: string, message: string): GatewayError {
  return new GatewayError('invalid_request', message, { param });
}

export function toGenerateContentRequest(body: Record<string, unknown>): GeminiGenerateContentRequest {
  const parsed = chatBody.safeParse(body);
  if (!parsed.success) throw invalid(parsed.error, '');
  const b = parsed.data;
  const { contents, system } = toContents(b.messages);
  const out: GeminiGenerateContentRequest = { contents };
  if (system.length > 0) out.systemInstruction = { parts: system };
  if (b.tools !== undefined && b.tools.length > 0) {
    out.tools = [
      {
        functionDeclarations: b.tools.map((t) => {
          const decl: { name: string; description?: string; parameters?: GeminiSchema } = { name: t.function.name };
          if (t.function.description !== undefined) decl.description = t.function.description;
          const params = t.function.parameters;
          // An empty object schema is "no parameters": Gemini rejects an OBJECT without properties.
          if (params !== undefined && !isEmptyObjectSchema(params)) decl.parameters = toGeminiSchema(params);
          return decl;
        }),
      },
    ];
  }
  if (b.tool_choice !== undefined) out.toolConfig = toToolConfig(b.tool_choice);
  const config = toGenerationConfig(b);
  if (config !== undefined) out.generationConfig = config;
  return out;
}

function toToolConfig(choice: NonNullable<ChatBody['tool_choice']>): GeminiToolConfig {
  if (typeof choice === 'string') {
    const mode: GeminiFunctionCallingMode = choice === 'auto' ? 'AUTO' : choice === 'none' ? 'NONE' : 'ANY';
    return { functionCallingConfig: { mode } };
  }
  return { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.function.name] } };
}

function toGenerationConfig(b: ChatBody): GeminiGenerationConfig | undefined {
  const c: GeminiGenerationConfig = {};
  let any = false;
  const set = <K extends keyof GeminiGenerationConfig>(key: K, value: GeminiGenerationConfig[K] | null | undefined): void => {
    if (value === undefined || value === null) return;
    c[key] = value;
    any = true;
  };
  if (b.stop !== undefined && b.stop !== null) set('stopSequences', typeof b.stop === 'string' ? [b.stop] : b.stop);
  set('maxOutputTokens', b.max_completion_tokens ?? b.max_tokens);
  set('temperature', b.temperature);
  set('topP', b.top_p);
  set('candidateCount', b.n);
  set('presencePenalty', b.presence_penalty);
  set('frequencyPenalty', b.frequency_penalty);
  set('seed', b.seed);
  const format = b.response_format;
  if (format?.type === 'json_object') set('responseMimeType', 'application/json');
  else if (format?.type === 'json_schema') {
    set('responseMimeType', 'application/json');
    if (format.json_schema.schema !== undefined) set('responseSchema', toGeminiSchema(format.json_schema.schema));
  }
  return any ? c : undefined;
}

/**
 * Messages → contents. System and developer messages, wherever they are, become the one
 * systemInstruction (Gemini has no system turn). Consecutive messages of one Gemini role are
 * merged into one content, so parallel tool results form the single function-response turn
 * Gemini expects after a turn with several function calls.
 */
function toContents(messages: readonly Message[]): { contents: GeminiContent[]; system: GeminiPart[] } {
  const contents: GeminiContent[] = [];
  const system: GeminiPart[] = [];
  const callNames = new Map<string, string>();
  const add = (role: GeminiRole, parts: GeminiPart[]): void => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    if (last !== undefined && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  messages.forEach((m, i) => {
    const at = `messages[${i}]`;
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(...toParts(m.content, `${at}.content`, false));
        break;
      case 'user':
        add('user', toParts(m.content, `${at}.content`, true));
        break;
      case 'assistant': {
        const parts = toParts(m.content, `${at}.content`, false);
        m.tool_calls?.forEach((call, j) => {
          callNames.set(call.id, call.function.name);
          const part: GeminiPart = { functionCall: { name: call.function.name, args: parseArguments(call.function.arguments, `${at}.tool_calls[${j}].function.arguments`) } };
          const signature = signatureOf(call.id);
          if (signature !== undefined) part.thoughtSignature = signature;
          parts.push(part);
        });
        add('model', parts);
        break;
      }
      case 'tool': {
        const name = callNames.get(m.tool_call_id);
        if (name === undefined) {
          throw reject(`${at}.tool_call_id`, `${at}.tool_call_id '${m.tool_call_id}' does not match a tool call of an earlier assistant message.`);
        }
        add('user', [{ functionResponse: { name, response: toolResult(m.content) } }]);
        break;
      }
      case 'function':
        add('user', [{ functionResponse: { name: m.name, response: toolResult(m.content) } }]);
        break;
    }
  });
  if (contents.length === 0) throw reject('messages', 'messages must contain at least one user or assistant message for provider gemini.');
  return { contents, system };
}

function toParts(c: z.infer<typeof content>, at: string, mediaAllowed: boolean): GeminiPart[] {
  if (c === undefined || c === null) return [];
  if (typeof c === 'string') return c === '' ? [] : [{ text: c }];
  return c.map((part, k) => toPart(part, `${at}[${k}]`, mediaAllowed));
}

function toPart(part: Record<string, unknown>, at: string, mediaAllowed: boolean): GeminiPart {
  if (part.type === 'text' || part.type === 'refusal') {
    const value = part.type === 'text' ? part.text : part.refusal;
    if (typeof value !== 'string') throw reject(at, `${at} must have a string ${String(part.type)}.`);
    return { text: value };
  }
  if (!mediaAllowed) throw reject(at, `${at}: only text parts are allowed in this message.`);
  if (part.type === 'image_url') {
    const image = part.image_url;
    const url = typeof image === 'string' ? image : typeof image === 'object' && image !== null ? (image as { url?: unknown }).url : undefined;
    if (typeof url !== 'string') throw reject(`${at}.image_url.url`, `${at}.image_url.url must be a string.`);
    return imagePart(url, `${at}.image_url.url`);
  }
  if (part.type === 'input_audio') {
    const audio = part.input_audio as { data?: unknown; format?: unknown } | undefined;
    if (typeof audio?.data !== 'string' || (audio.format !== 'wav' && audio.format !== 'mp3')) {
      throw reject(`${at}.input_audio`, `${at}.input_audio needs base64 data and a format of "wav" or "mp3".`);
    }
    return { inlineData: { mimeType: audio.format === 'wav' ? 'audio/wav' : 'audio/mp3', data: audio.data } };
  }
  throw reject(`${at}.type`, `${at}.type '${String(part.type)}' is not supported by provider gemini.`);
}

const DATA_URL = /^data:([a-z0-9.+-]+\/[a-z0-9.+-]+)(?:;[^,;]*)*;base64,(.*)$/is;
const MIME_BY_EXTENSION: Readonly<Record<string, string>> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
  pdf: 'application/pdf',
};

/**
 * data: URLs are inlined. http(s) URLs become fileData with a MIME type guessed from the path's
 * extension (image/jpeg when unknown): the gateway never fetches client-named URLs (SSRF,
 * DESIGN §12); Gemini fetches what it supports and rejects the rest with a 400 the client sees.
 */
export function imagePart(url: string, at: string): GeminiPart {
  if (url.startsWith('data:')) {
    const m = DATA_URL.exec(url);
    if (m === null) throw reject(at, `${at} must be a base64 data URL (data:<mime>;base64,...).`);
    return { inlineData: { mimeType: (m[1] as string).toLowerCase(), data: m[2] as string } };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw reject(at, `${at} must be an http(s) or data URL.`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw reject(at, `${at} must be an http(s) or data URL.`);
  const ext = /\.([a-z0-9]+)$/i.exec(parsed.pathname)?.[1]?.toLowerCase();
  return { fileData: { mimeType: (ext === undefined ? undefined : MIME_BY_EXTENSION[ext]) ?? 'image/jpeg', fileUri: url } };
}

function parseArguments(args: string, at: string): Record<string, unknown> {
  if (args.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(args);
  } catch {
    throw reject(at, `${at} must be a JSON object text.`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw reject(at, `${at} must be a JSON object text.`);
  return value as Record<string, unknown>;
}

/**
 * A tool result's text → functionResponse.response, which must be an object: a JSON object is
 * passed as is, anything else (plain text, arrays, numbers) is wrapped as `{"content": ...}`.
 */
function toolResult(c: z.infer<typeof content>): Record<string, unknown> {
  const textValue = typeof c === 'string' ? c : Array.isArray(c) ? c.map((p) => (typeof p.text === 'string' ? p.text : '')).join('') : '';
  const trimmed = textValue.trimStart();
  if (trimmed.startsWith('{')) {
    try {
      const value: unknown = JSON.parse(textValue);
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {
      // Not JSON after all: wrapped below.
    }
  }
  return { content: textValue };
}

function isEmptyObjectSchema(s: Record<string, unknown>): boolean {
  const props = s.properties;
  return (s.type === undefined || s.type === 'object') && (props === undefined || (typeof props === 'object' && props !== null && Object.keys(props).length === 0));
}

/** The JSON Schema keywords Gemini's Schema object accepts; anything else is dropped. */
const SCHEMA_KEYS = new Set([
  'type',
  'format',
  'title',
  'description',
  'nullable',
  'enum',
  'maxItems',
  'minItems',
  'properties',
  'required',
  'minProperties',
  'maxProperties',
  'minLength',
  'maxLength',
  'pattern',
  'example',
  'anyOf',
  'propertyOrdering',
  'default',
  'items',
  'minimum',
  'maximum',
]);
const MAX_SCHEMA_DEPTH = 32;

/**
 * JSON Schema (as OpenAI clients write it) → Gemini's Schema subset. Dropped, because Gemini
 * rejects them: `$schema`, `$id`, `$ref`/`$defs`/`definitions` (references are not resolved),
 * `additionalProperties`, `strict`, `const` (turned into a one-value `enum`), `oneOf` (turned
 * into `anyOf`), `allOf`, `not`, `examples`, `exclusiveMinimum`/`exclusiveMaximum`,
 * `patternProperties`, and every unknown keyword. A type list with "null" becomes `nullable`.
 */
export function toGeminiSchema(schema: Record<string, unknown>, depth = 0): GeminiSchema {
  if (depth > MAX_SCHEMA_DEPTH) throw reject('tools', `A JSON schema nests deeper than ${MAX_SCHEMA_DEPTH} levels.`);
  const out: GeminiSchema = {};
  const sub = (v: unknown): GeminiSchema | undefined =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? toGeminiSchema(v as Record<string, unknown>, depth + 1) : undefined;
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'type' && Array.isArray(value)) {
      const types = value.filter((t) => t !== 'null');
      if (types.length !== value.length) out.nullable = true;
      if (types.length === 1) out.type = types[0];
      else if (types.length > 1) out.anyOf = types.map((t) => ({ type: t }));
    } else if (key === 'const') {
      out.enum = [value];
    } else if (key === 'oneOf' || key === 'anyOf') {
      if (Array.isArray(value)) out.anyOf = value.map(sub).filter((s): s is GeminiSchema => s !== undefined);
    } else if (key === 'properties') {
      if (typeof value === 'object' && value !== null) {
        out.properties = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, sub(v) ?? {}]));
      }
    } else if (key === 'items') {
      const items = sub(value);
      if (items !== undefined) out.items = items;
    } else if (SCHEMA_KEYS.has(key)) {
      out[key] = value;
    }
  }
  // Gemini only takes enums of strings.
  if (Array.isArray(out.enum)) out.enum = out.enum.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
  return out;
}

const embeddingsBody = z.looseObject({
  input: z.union([z.string(), z.array(z.string()).min(1)]),
  dimensions: z.number().int().positive().optional(),
  encoding_format: z.enum(['float', 'base64']).optional(),
});

export interface EmbeddingsTranslation {
  request: GeminiBatchEmbedContentsRequest;
  inputs: string[];
  base64: boolean;
}

/** OpenAI embeddings → batchEmbedContents. Token-array inputs have no Gemini equivalent (400). */
export function toBatchEmbedRequest(body: Record<string, unknown>, upstreamModel: string): EmbeddingsTranslation {
  const parsed = embeddingsBody.safeParse(body);
  if (!parsed.success) {
    const e = invalid(parsed.error, '');
    if (e.param?.startsWith('input') === true) {
      throw reject('input', 'input must be a string or an array of strings for provider gemini (token arrays are not supported).');
    }
    throw e;
  }
  const inputs = typeof parsed.data.input === 'string' ? [parsed.data.input] : parsed.data.input;
  const model = `models/${upstreamModel}`;
  const dims = parsed.data.dimensions;
  const requests = inputs.map((t) => {
    const r: GeminiBatchEmbedContentsRequest['requests'][number] = { model, content: { parts: [{ text: t }] } };
    if (dims !== undefined) r.outputDimensionality = dims;
    return r;
  });
  return { request: { requests }, inputs, base64: parsed.data.encoding_format === 'base64' };
}
