/**
 * Request validation the way the Gemini API does it: unknown fields are rejected
 * ("Invalid JSON payload received. Unknown name ..."), roles, parts and enums are checked, and
 * every message names the field. Strictness is the point: a translation bug in the adapter
 * (say, an `additionalProperties` left in a schema) fails against the mock as it would against
 * Google, instead of passing silently.
 */
import type { GeminiContent, GeminiGenerateContentRequest } from '../../gemini/wire.js';

export class GeminiInvalid extends Error {}

type Obj = Record<string, unknown>;

const REQUEST_KEYS = ['contents', 'systemInstruction', 'tools', 'toolConfig', 'generationConfig', 'safetySettings', 'cachedContent'];
const CONTENT_KEYS = ['role', 'parts'];
const PART_DATA = ['text', 'inlineData', 'fileData', 'functionCall', 'functionResponse', 'executableCode', 'codeExecutionResult'];
const PART_KEYS = [...PART_DATA, 'thought', 'thoughtSignature', 'videoMetadata'];
const GENERATION_KEYS = [
  'stopSequences',
  'responseMimeType',
  'responseSchema',
  'responseJsonSchema',
  'candidateCount',
  'maxOutputTokens',
  'temperature',
  'topP',
  'topK',
  'seed',
  'presencePenalty',
  'frequencyPenalty',
  'responseLogprobs',
  'logprobs',
  'thinkingConfig',
];
const SCHEMA_KEYS = [
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
];
const SCHEMA_TYPES = ['STRING', 'NUMBER', 'INTEGER', 'BOOLEAN', 'ARRAY', 'OBJECT', 'NULL'];
const MODES = ['AUTO', 'ANY', 'NONE', 'VALIDATED'];

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function unknownNames(v: Obj, allowed: readonly string[], at: string): void {
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) {
      throw new GeminiInvalid(`Invalid JSON payload received. Unknown name "${key}"${at === '' ? '' : ` at '${at}'`}: Cannot find field.`);
    }
  }
}

function fail(at: string, message: string): never {
  throw new GeminiInvalid(`* GenerateContentRequest.${at}: ${message}`);
}

export function validateGenerateContent(body: unknown): GeminiGenerateContentRequest {
  if (!isObj(body)) throw new GeminiInvalid('Invalid JSON payload received. Expected an object.');
  unknownNames(body, REQUEST_KEYS, '');
  if (!Array.isArray(body.contents) || body.contents.length === 0) fail('contents', 'contents is not specified');
  body.contents.forEach((c, i) => content(c, `contents[${i}]`, true));
  if (body.systemInstruction !== undefined) content(body.systemInstruction, 'system_instruction', false);
  if (body.tools !== undefined) tools(body.tools);
  if (body.toolConfig !== undefined) toolConfig(body.toolConfig);
  if (body.generationConfig !== undefined) generationConfig(body.generationConfig);
  return body as unknown as GeminiGenerateContentRequest;
}

function content(c: unknown, at: string, needsRole: boolean): void {
  if (!isObj(c)) fail(at, 'must be an object');
  unknownNames(c, CONTENT_KEYS, at);
  if (c.role !== undefined && c.role !== 'user' && c.role !== 'model') {
    throw new GeminiInvalid('Please use a valid role: user, model.');
  }
  if (needsRole && c.role === undefined && at !== 'contents[0]') fail(`${at}.role`, 'role must be specified in multi-turn requests');
  if (!Array.isArray(c.parts) || c.parts.length === 0) fail(`${at}.parts`, 'contents.parts must not be empty.');
  c.parts.forEach((p, j) => part(p, `${at}.parts[${j}]`));
}

function part(p: unknown, at: string): void {
  if (!isObj(p)) fail(at, 'must be an object');
  unknownNames(p, PART_KEYS, at);
  const data = PART_DATA.filter((k) => p[k] !== undefined);
  if (data.length !== 1) fail(at, 'a part must hold exactly one of text, inlineData, fileData, functionCall, functionResponse');
  if (p.text !== undefined && typeof p.text !== 'string') fail(`${at}.text`, 'must be a string');
  if (p.inlineData !== undefined) {
    const d = p.inlineData;
    if (!isObj(d) || typeof d.mimeType !== 'string' || typeof d.data !== 'string') fail(`${at}.inline_data`, 'mime_type and data are required');
    if (!/^[A-Za-z0-9+/=\s]*$/.test(d.data)) throw new GeminiInvalid(`Invalid value at '${at}.inline_data.data' (TYPE_BYTES), Base64 decoding failed`);
  }
  if (p.fileData !== undefined) {
    const d = p.fileData;
    if (!isObj(d) || typeof d.fileUri !== 'string') fail(`${at}.file_data.file_uri`, 'file_uri is required');
  }
  if (p.functionCall !== undefined) {
    const f = p.functionCall;
    if (!isObj(f) || typeof f.name !== 'string' || f.name === '') fail(`${at}.function_call.name`, 'Name cannot be empty.');
    if (f.args !== undefined && !isObj(f.args)) fail(`${at}.function_call.args`, 'must be an object');
  }
  if (p.functionResponse !== undefined) {
    const f = p.functionResponse;
    if (!isObj(f) || typeof f.name !== 'string' || f.name === '') fail(`${at}.function_response.name`, 'Name cannot be empty.');
    if (!isObj(f.response)) fail(`${at}.function_response.response`, 'must be an object');
  }
}

function tools(v: unknown): void {
  if (!Array.isArray(v)) fail('tools', 'must be a list');
  v.forEach((t, i) => {
    if (!isObj(t)) fail(`tools[${i}]`, 'must be an object');
    unknownNames(t, ['functionDeclarations', 'googleSearch', 'codeExecution', 'urlContext'], `tools[${i}]`);
    const decls = t.functionDeclarations;
    if (decls === undefined) return;
    if (!Array.isArray(decls)) fail(`tools[${i}].function_declarations`, 'must be a list');
    decls.forEach((d, j) => {
      const at = `tools[${i}].function_declarations[${j}]`;
      if (!isObj(d)) fail(at, 'must be an object');
      unknownNames(d, ['name', 'description', 'parameters', 'parametersJsonSchema', 'response', 'behavior'], at);
      if (typeof d.name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/.test(d.name)) fail(`${at}.name`, 'Invalid function name.');
      if (d.parameters !== undefined) schema(d.parameters, `${at}.parameters`, true);
    });
  });
}

/** Gemini's Schema: the OpenAPI subset; `type` is required and OBJECTs need properties. */
function schema(s: unknown, at: string, top: boolean): void {
  if (!isObj(s)) fail(at, 'must be an object');
  unknownNames(s, SCHEMA_KEYS, at);
  if (typeof s.type === 'string' && !SCHEMA_TYPES.includes(s.type.toUpperCase())) {
    throw new GeminiInvalid(`Invalid value at '${at}.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), "${s.type}"`);
  }
  if (s.type === undefined && s.anyOf === undefined) fail(`${at}.type`, 'must be specified');
  if (top && typeof s.type === 'string' && s.type.toUpperCase() === 'OBJECT' && (!isObj(s.properties) || Object.keys(s.properties).length === 0)) {
    fail(`${at}.properties`, 'should be non-empty for OBJECT type');
  }
  if (s.enum !== undefined && (!Array.isArray(s.enum) || !s.enum.every((e) => typeof e === 'string'))) {
    throw new GeminiInvalid(`Invalid value at '${at}.enum': enum values must be strings`);
  }
  if (isObj(s.properties)) for (const [k, v] of Object.entries(s.properties)) schema(v, `${at}.properties[${k}]`, false);
  if (s.items !== undefined) schema(s.items, `${at}.items`, false);
  if (Array.isArray(s.anyOf)) s.anyOf.forEach((v, k) => schema(v, `${at}.any_of[${k}]`, false));
}

function toolConfig(v: unknown): void {
  if (!isObj(v)) fail('tool_config', 'must be an object');
  unknownNames(v, ['functionCallingConfig'], 'tool_config');
  const f = v.functionCallingConfig;
  if (!isObj(f)) fail('tool_config.function_calling_config', 'must be an object');
  unknownNames(f, ['mode', 'allowedFunctionNames'], 'tool_config.function_calling_config');
  if (f.mode !== undefined && (typeof f.mode !== 'string' || !MODES.includes(f.mode))) {
    throw new GeminiInvalid(`Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "${String(f.mode)}"`);
  }
  if (f.allowedFunctionNames !== undefined && f.mode !== 'ANY' && f.mode !== 'VALIDATED') {
    fail('tool_config.function_calling_config.allowed_function_names', 'allowed_function_names should only be set when the mode is ANY.');
  }
}

function generationConfig(v: unknown): void {
  if (!isObj(v)) fail('generation_config', 'must be an object');
  unknownNames(v, GENERATION_KEYS, 'generation_config');
  const int = (k: string, min: number, max: number): void => {
    const x = v[k];
    if (x !== undefined && (!Number.isInteger(x) || (x as number) < min || (x as number) > max)) fail(`generation_config.${k}`, `must be an integer from ${min} to ${max}`);
  };
  int('candidateCount', 1, 8);
  int('maxOutputTokens', 1, 65_536);
  if (v.stopSequences !== undefined && (!Array.isArray(v.stopSequences) || v.stopSequences.length > 5)) {
    fail('generation_config.stop_sequences', 'at most 5 stop sequences');
  }
  if (v.temperature !== undefined && (typeof v.temperature !== 'number' || v.temperature < 0 || v.temperature > 2)) {
    fail('generation_config.temperature', 'must be between 0 and 2');
  }
  if (v.responseMimeType !== undefined && !['text/plain', 'application/json', 'text/x.enum'].includes(String(v.responseMimeType))) {
    fail('generation_config.response_mime_type', `allowed mimetypes are text/plain, application/json and text/x.enum`);
  }
  if (v.responseSchema !== undefined) {
    if (v.responseMimeType !== 'application/json') fail('generation_config.response_schema', 'response_mime_type must be application/json');
    schema(v.responseSchema, 'generation_config.response_schema', false);
  }
}

/** All text of a content list (for token estimates and triggers). */
export function textOf(contents: readonly GeminiContent[]): string {
  let out = '';
  for (const c of contents) for (const p of c.parts) if (typeof p.text === 'string') out += `${p.text}\n`;
  return out;
}
