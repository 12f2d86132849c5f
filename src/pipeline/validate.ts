/**
 * Stage: type-check the fields the OpenAI API defines, so a wrong type gets a clear 400 here
 * instead of an opaque upstream error. Only known fields are checked; unknown fields pass
 * through untouched. Hand-written checks, not a schema library: this runs on every request.
 */
import { GatewayError } from '../errors.js';
import type { Operation } from '../providers/types.js';
import type { RequestContext, Stage } from './context.js';

type Check = (value: unknown) => boolean;

const isInt = (min: number, max: number): Check => (v) => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;
const isNum = (min: number, max: number): Check => (v) => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const isBool: Check = (v) => typeof v === 'boolean';
const isObject: Check = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isString: Check = (v) => typeof v === 'string';
const isStop: Check = (v) => typeof v === 'string' || (Array.isArray(v) && v.length <= 4 && v.every((s) => typeof s === 'string'));
const isStringOrArray: Check = (v) => (typeof v === 'string' && v.length > 0) || (Array.isArray(v) && v.length > 0);

interface FieldRule {
  check: Check;
  expected: string;
}

const COMMON: Record<string, FieldRule> = {
  n: { check: isInt(1, 128), expected: 'an integer between 1 and 128' },
  max_tokens: { check: isInt(1, 10_000_000), expected: 'a positive integer' },
  temperature: { check: isNum(0, 2), expected: 'a number between 0 and 2' },
  top_p: { check: isNum(0, 1), expected: 'a number between 0 and 1' },
  presence_penalty: { check: isNum(-2, 2), expected: 'a number between -2 and 2' },
  frequency_penalty: { check: isNum(-2, 2), expected: 'a number between -2 and 2' },
  stop: { check: isStop, expected: 'a string or an array of up to 4 strings' },
  stream_options: { check: isObject, expected: 'an object' },
  user: { check: isString, expected: 'a string' },
  seed: { check: Number.isInteger, expected: 'an integer' },
  logit_bias: { check: isObject, expected: 'an object' },
};

const RULES: Record<Operation, Record<string, FieldRule>> = {
  chat: {
    ...COMMON,
    max_completion_tokens: { check: isInt(1, 10_000_000), expected: 'a positive integer' },
    tools: { check: Array.isArray, expected: 'an array' },
    response_format: { check: isObject, expected: 'an object' },
    logprobs: { check: isBool, expected: 'a boolean' },
    parallel_tool_calls: { check: isBool, expected: 'a boolean' },
  },
  completions: { ...COMMON, echo: { check: isBool, expected: 'a boolean' } },
  embeddings: {
    dimensions: { check: isInt(1, 65_536), expected: 'a positive integer' },
    encoding_format: { check: (v) => v === 'float' || v === 'base64', expected: '"float" or "base64"' },
    user: { check: isString, expected: 'a string' },
  },
};

/** OpenAI's limit on one embeddings request's inputs (an array of token ids is one input). */
const MAX_EMBEDDING_INPUTS = 2048;

function invalid(param: string, message: string): GatewayError {
  return new GatewayError('invalid_request', message, { param });
}

function checkMessages(messages: unknown): void {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalid('messages', 'messages must be a non-empty array.');
  }
  messages.forEach((m: unknown, i) => {
    if (!isObject(m) || typeof (m as { role?: unknown }).role !== 'string') {
      throw invalid(`messages[${i}]`, `messages[${i}] must be an object with a string role.`);
    }
  });
}

function checkRequired(op: Operation, body: Record<string, unknown>): void {
  if (op === 'chat') checkMessages(body.messages);
  else if (op === 'completions') {
    if (!isStringOrArray(body.prompt)) throw invalid('prompt', 'prompt must be a non-empty string or array.');
  } else if (!isStringOrArray(body.input)) {
    throw invalid('input', 'input must be a non-empty string or array.');
  } else if (Array.isArray(body.input) && body.input.length > MAX_EMBEDDING_INPUTS && typeof body.input[0] !== 'number') {
    throw invalid('input', `input must not hold more than ${MAX_EMBEDDING_INPUTS} items.`);
  }
}

export function validateRequest(op: Operation, body: Record<string, unknown>): void {
  checkRequired(op, body);
  const rules = RULES[op];
  for (const field in rules) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    const rule = rules[field] as FieldRule;
    if (!rule.check(value)) throw invalid(field, `${field} must be ${rule.expected}.`);
  }
  if (op === 'embeddings' && body.stream === true) {
    throw invalid('stream', 'Embeddings cannot be streamed.');
  }
}

export function validate(): Stage {
  return function validateStage(ctx: RequestContext): void {
    if (ctx.operation === undefined || ctx.body === undefined) throw new Error('validate ran before route');
    validateRequest(ctx.operation, ctx.body);
  };
}
