/**
 * What a request log entry stores as content, built by the background writer (never on the
 * request path): the request body, and the response: the body of a JSON answer, or for a stream
 * the assembled answer (text and tool calls per choice, finish reasons, usage) instead of its SSE
 * frames. Both are kept as text within one bound per entry; what does not fit is cut at a UTF-8
 * character boundary and flagged.
 *
 * Streams are OpenAI chunks here whatever the provider or the client's dialect: the capture sits
 * after the provider adapter (which translates to the canonical format) and before the server
 * translates back for Anthropic clients.
 */
import { z } from 'zod';
import { SseScanner } from '../providers/sse.js';
import { capturedBytes, type CapturedBody } from './capture.js';

/** The stored document (sealed as UTF-8 JSON). */
export interface LogContent {
  v: 1;
  /** The request body as JSON text (the canonical body, as sent upstream); null: none. */
  request: string | null;
  request_truncated: boolean;
  /** The answer as text (JSON for JSON answers and assembled streams); null: none (refused, cache hit). */
  response: string | null;
  response_truncated: boolean;
}

interface ToolCallParts {
  id: string | undefined;
  type: string | undefined;
  name: string;
  arguments: string;
}

interface ChoiceParts {
  index: number;
  role: string | undefined;
  content: string;
  text: string;
  refusal: string;
  toolCalls: Map<number, ToolCallParts>;
  finishReason: unknown;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function choiceOf(choices: Map<number, ChoiceParts>, index: number): ChoiceParts {
  let c = choices.get(index);
  if (c === undefined) {
    c = { index, role: undefined, content: '', text: '', refusal: '', toolCalls: new Map(), finishReason: null };
    choices.set(index, c);
  }
  return c;
}

function addDelta(c: ChoiceParts, delta: Json): void {
  if (typeof delta.role === 'string') c.role = delta.role;
  c.content += str(delta.content);
  c.refusal += str(delta.refusal);
  const calls = delta.tool_calls;
  if (!Array.isArray(calls)) return;
  for (const call of calls) {
    if (!isObject(call)) continue;
    const i = typeof call.index === 'number' ? call.index : c.toolCalls.size;
    let t = c.toolCalls.get(i);
    if (t === undefined) {
      t = { id: undefined, type: undefined, name: '', arguments: '' };
      c.toolCalls.set(i, t);
    }
    if (typeof call.id === 'string') t.id = call.id;
    if (typeof call.type === 'string') t.type = call.type;
    const fn = call.function;
    if (isObject(fn)) {
      t.name += str(fn.name);
      t.arguments += str(fn.arguments);
    }
  }
}

function present(c: ChoiceParts): Json {
  const out: Json = { index: c.index };
  if (c.text !== '') out.text = c.text;
  else {
    const message: Json = { role: c.role ?? 'assistant', content: c.content === '' && c.toolCalls.size > 0 ? null : c.content };
    if (c.refusal !== '') message.refusal = c.refusal;
    if (c.toolCalls.size > 0) {
      message.tool_calls = [...c.toolCalls.entries()]
        .sort(([a], [b]) => a - b)
        .map(([, t]) => ({ id: t.id ?? null, type: t.type ?? 'function', function: { name: t.name, arguments: t.arguments } }));
    }
    out.message = message;
  }
  out.finish_reason = c.finishReason;
  return out;
}

/**
 * The answer a stream of OpenAI chunks (chat or completions) adds up to, shaped like the
 * non-streamed answer. Lines that do not parse (the last one of a cut capture) are skipped; an
 * error event mid-stream is kept under `error`.
 */
export function assembleStream(raw: Buffer): Json {
  const choices = new Map<number, ChoiceParts>();
  const out: Json = {};
  let done = false;
  const scanner = new SseScanner({
    onData(data) {
      let event: unknown;
      try {
        event = JSON.parse(data);
      } catch {
        return;
      }
      if (!isObject(event)) return;
      if (event.error !== undefined) out.error = event.error;
      for (const k of ['id', 'model', 'created', 'system_fingerprint'] as const) if (event[k] !== undefined) out[k] ??= event[k];
      if (isObject(event.usage)) out.usage = event.usage;
      if (!Array.isArray(event.choices)) return;
      for (const ch of event.choices) {
        if (!isObject(ch)) continue;
        const c = choiceOf(choices, typeof ch.index === 'number' ? ch.index : 0);
        if (isObject(ch.delta)) addDelta(c, ch.delta);
        c.text += str(ch.text);
        if (ch.finish_reason !== null && ch.finish_reason !== undefined) c.finishReason = ch.finish_reason;
      }
    },
    onDone() {
      done = true;
    },
  });
  scanner.push(raw);
  scanner.push(Buffer.from('\n')); // a last line without its LF (cut capture) is still read
  const list = [...choices.values()].sort((a, b) => a.index - b.index);
  const isText = list.length > 0 && list.every((c) => c.text !== '' && c.content === '' && c.toolCalls.size === 0);
  return { object: isText ? 'text_completion' : 'chat.completion', ...out, choices: list.map(present), stream_done: done };
}

/** `s` cut to at most `maxBytes` of UTF-8, never inside a character. */
export function cutUtf8(s: string, maxBytes: number): { text: string; truncated: boolean } {
  if (s.length <= maxBytes / 3) return { text: s, truncated: false }; // fast path: cannot exceed
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= maxBytes) return { text: s, truncated: false };
  let end = Math.max(0, maxBytes);
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--; // back to a character start
  return { text: buf.subarray(0, end).toString('utf8'), truncated: true };
}

export interface ContentParts {
  /** The request body (serialised here, in the background). */
  body: Record<string, unknown> | undefined;
  /** The response bytes the tap kept, or undefined when there was no answer to keep. */
  response: { capture: CapturedBody; streamed: boolean } | undefined;
}

/**
 * The entry's content within `maxBytes` of text: the request gets up to half when the response
 * needs the rest, all of it otherwise (and the response likewise). A response cut at capture, or
 * a stream that did not complete, is flagged truncated too.
 */
export function buildContent(parts: ContentParts, maxBytes: number): LogContent {
  const request = parts.body === undefined ? null : JSON.stringify(parts.body);
  let response: string | null = null;
  let cutAtCapture = false;
  const r = parts.response;
  if (r !== undefined) {
    const bytes = capturedBytes(r.capture);
    response = r.streamed ? JSON.stringify(assembleStream(bytes)) : bytes.toString('utf8');
    cutAtCapture = r.capture.truncated || !r.capture.complete;
  }
  const resBytes = response === null ? 0 : Buffer.byteLength(response, 'utf8');
  const half = Math.floor(maxBytes / 2);
  const reqRoom = Math.max(half, maxBytes - resBytes);
  const req = request === null ? { text: null, truncated: false } : cutUtf8(request, Math.min(reqRoom, maxBytes));
  const reqKept = req.text === null ? 0 : Buffer.byteLength(req.text, 'utf8');
  const res = response === null ? { text: null, truncated: false } : cutUtf8(response, maxBytes - reqKept);
  return {
    v: 1,
    request: req.text,
    request_truncated: req.truncated,
    response: res.text,
    response_truncated: res.truncated || cutAtCapture,
  };
}

const storedContent = z.object({
  v: z.literal(1),
  request: z.string().nullable(),
  request_truncated: z.boolean(),
  response: z.string().nullable(),
  response_truncated: z.boolean(),
});

/** The stored document from its opened plaintext; throws on one this version cannot read. */
export function parseLogContent(plaintext: Buffer): LogContent {
  return storedContent.parse(JSON.parse(plaintext.toString('utf8')));
}
