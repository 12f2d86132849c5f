/**
 * How Gemini answers, for ../upstream-call.ts: success bodies are handed over untouched
 * (scanner undefined: the adapter translates them and resolves usage itself), and failures get
 * the OpenAI adapter's mapping (../upstream-errors.ts): 429 → rate limited with Retry-After,
 * 5xx → 502 with the status as cause, 401/403 → 502 (they judge the gateway's credential, not
 * the client's key), other 4xx → the client's error in the OpenAI envelope.
 *
 * Gemini-specific: its body is `{"error":{"code","message","status"}}`, which has a string
 * `message` and so would pass as an OpenAI envelope; it is rewrapped so the client gets `type`
 * and `code`. A 400 whose reason is API_KEY_INVALID (Gemini's answer to a wrong key) is the
 * gateway's credential too, so it is a 502 like 401/403. A 429's RetryInfo delay becomes Retry-After.
 */
import { Readable } from 'node:stream';
import type { CallHooks, IncomingHttpHeaders } from '../upstream-call.js';
import type { UpstreamResponse, Usage } from '../types.js';
import { clientErrorBody, header, rateLimited, serverError, transportError } from '../upstream-errors.js';
import type { GeminiErrorBody } from './wire.js';

const NO_USAGE: Promise<Usage | undefined> = Promise.resolve(undefined);

export function geminiHooks(secret: string): CallHooks {
  return {
    accept: (_status, headers) => ({ headers: passHeaders(headers), scanner: undefined }),
    reject: (status, headers, text) => reject(status, headers, text, secret),
    transportError,
  };
}

/** Only what is worth passing on; content-type is the adapter's (it changes the body). */
function passHeaders(upstream: IncomingHttpHeaders): Record<string, string> {
  const headers: Record<string, string> = {};
  const id = header(upstream, 'x-request-id');
  if (id !== undefined) headers['x-upstream-request-id'] = id;
  return headers;
}

function reject(status: number, upstream: IncomingHttpHeaders, text: string, secret: string): UpstreamResponse | Error {
  const error = parseError(text);
  if (status === 429) return rateLimited(withRetryAfter(upstream, error));
  if (status < 400 || status >= 500 || status === 401 || status === 403 || isKeyInvalid(error)) {
    return serverError(status, error === undefined ? text : JSON.stringify({ message: error.message }), secret, upstream);
  }
  const message = error === undefined ? text : JSON.stringify({ message: error.message });
  const body = clientErrorBody(status, message, secret);
  const headers = passHeaders(upstream);
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(body.length);
  return { status, headers, body: Readable.from([body], { objectMode: false }), usage: NO_USAGE };
}

function parseError(text: string): GeminiErrorBody['error'] | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    // Some Google front ends wrap the error in a one-element array.
    const body = (Array.isArray(v) ? v[0] : v) as Partial<GeminiErrorBody> | undefined;
    const e = body?.error;
    return typeof e === 'object' && e !== null && typeof e.message === 'string' ? e : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Gemini states the delay of a 429 in a RetryInfo detail (`"retryDelay":"7s"`), not in a
 * Retry-After header; the client gets it as Retry-After (rounded up to whole seconds).
 */
function withRetryAfter(upstream: IncomingHttpHeaders, e: GeminiErrorBody['error'] | undefined): IncomingHttpHeaders {
  if (header(upstream, 'retry-after') !== undefined) return upstream;
  const delay = e?.details?.find((d) => typeof d.retryDelay === 'string')?.retryDelay;
  const m = delay === undefined ? null : /^(\d{1,6}(?:\.\d+)?)s$/.exec(delay);
  if (m === null) return upstream;
  return { ...upstream, 'retry-after': String(Math.max(1, Math.ceil(Number(m[1])))) };
}

function isKeyInvalid(e: GeminiErrorBody['error'] | undefined): boolean {
  return e?.details?.some((d) => d.reason === 'API_KEY_INVALID') === true;
}
