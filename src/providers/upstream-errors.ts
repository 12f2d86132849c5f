/**
 * What an upstream failure means to the client, for every adapter. Transport failures become
 * catalogued GatewayErrors (502/504); upstream 5xx and 429 are thrown (so routing may retry or
 * fall back); other 4xx pass through, always in the OpenAI error envelope the gateway speaks,
 * so SDKs raise their typed errors. Nothing here may echo a credential (DESIGN §12): upstream
 * text is redacted.
 */
import type { CancelSignal } from './cancel.js';
import { GatewayError, type ErrorEnvelope } from '../errors.js';
import type { IncomingHttpHeaders } from './upstream-call.js';

const MESSAGE_LIMIT = 1000;

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/**
 * The upstream's HTTP status, attached as `cause` so routing and breakers can tell 500 from 503,
 * with the upstream's Retry-After in ms when it sent one (routing waits for it before retrying the
 * same deployment, capped by `maxRetryAfterMs`).
 */
export class UpstreamHttpError extends Error {
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  constructor(status: number, retryAfterMs?: number) {
    super(`Upstream answered HTTP ${status}`);
    this.name = 'UpstreamHttpError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * A failure of the exchange itself (connect, headers, body). When the caller's signal fired,
 * its reason is returned as-is (a client that went away needs no answer), except a deadline,
 * which is a 504.
 */
export function transportError(err: unknown, signal: CancelSignal): unknown {
  if (err instanceof GatewayError) return err;
  if (signal.aborted) return abortReason(signal, err);
  const code = errorCode(err);
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return new GatewayError('upstream_timeout', 'The upstream provider did not respond in time.', { cause: err });
  }
  const detail = code === undefined ? '' : ` (${code})`;
  return new GatewayError('upstream_error', `The upstream provider could not be reached${detail}.`, { cause: err });
}

/**
 * The response had started and then nothing arrived for the body timeout (the deployment's
 * `streamIdleTimeoutMs` for streams): the stream ends with this as its terminal error event.
 */
export function stalledStream(idleMs: number | undefined, cause: unknown): GatewayError {
  const after = idleMs === undefined ? '' : ` for ${idleMs} ms`;
  return new GatewayError('upstream_timeout', `The upstream provider stopped sending the response${after}; it was ended.`, { cause });
}

/**
 * The connection failed after the response had started (reset, broken chunked framing): the
 * upstream was reached, so "could not be reached" would mislead whoever reads the error event.
 */
export function brokenStream(cause: unknown): GatewayError {
  const code = errorCode(cause);
  const detail = code === undefined ? '' : ` (${code})`;
  return new GatewayError('upstream_error', `The connection to the upstream provider failed in the middle of the response${detail}; it was ended.`, { cause });
}

/**
 * A translated stream met an event line over `limitBytes` (../sse.ts): dropping it would hand the
 * client an answer with a hole in it that ends as if complete, so the stream ends with this.
 */
export function eventTooLarge(limitBytes: number): GatewayError {
  const size = limitBytes % (1024 * 1024) === 0 ? `${limitBytes / (1024 * 1024)} MiB` : `${limitBytes} bytes`;
  return new GatewayError('upstream_error', `The upstream provider sent a stream event larger than ${size}, which the gateway does not translate; the stream was ended.`);
}

/**
 * A translated stream whose upstream body ended (cleanly, at the transport) before the upstream
 * said the answer was finished: what arrived is a truncated answer, never to be reported as complete.
 */
export function unfinishedStream(): GatewayError {
  return new GatewayError('upstream_error', 'The upstream stream ended before the upstream finished the answer; the answer is incomplete.');
}

function abortReason(signal: CancelSignal, err: unknown): unknown {
  const reason: unknown = signal.reason;
  if (reason instanceof GatewayError) return reason;
  if (typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError') {
    return new GatewayError('upstream_timeout', 'The request deadline passed while waiting for the upstream provider.', {
      cause: reason,
    });
  }
  return reason ?? err;
}

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : undefined;
}

/** Removes the deployment's credential and anything that looks like a bearer token. */
export function redact(text: string, secret: string): string {
  let out = text;
  if (secret.length >= 8 && out.includes(secret)) out = out.split(secret).join('[redacted]');
  return out.replace(/Bearer\s+[^\s"',]+/gi, 'Bearer [redacted]');
}

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** What the gateway assumes of an upstream 429 (or Anthropic 529) that names no delay. */
const DEFAULT_RETRY_AFTER_MS = 1000;
/** Longer hints are read as a day: routing caps its wait far below anyway (`maxRetryAfterMs`). */
const MAX_RETRY_AFTER_MS = 86_400_000;

/** Upstream 429: thrown so the client sees our 429, with the upstream's Retry-After. */
export function rateLimited(headers: IncomingHttpHeaders): GatewayError {
  const hint = retryAfterOf(headers);
  return new GatewayError('rate_limit_exceeded', 'The upstream provider is rate limiting requests; retry later.', {
    // An HTTP date we cannot read, or nothing at all: one second is a safe, SDK-friendly default.
    headers: { 'retry-after': hint?.header ?? '1' },
    cause: new UpstreamHttpError(429, hint?.ms ?? DEFAULT_RETRY_AFTER_MS),
  });
}

/**
 * An upstream's retry hint: `retry-after-ms` (OpenAI, Azure) for the wait, being the more
 * precise, and `retry-after` as delta-seconds (passed on as sent) or an HTTP date (RFC 9110
 * §10.2.3). `header` is what the client gets: whole seconds.
 */
export function retryAfterOf(headers: IncomingHttpHeaders, nowMs: number = Date.now()): { ms: number; header: string } | undefined {
  const raw = header(headers, 'retry-after')?.trim();
  const seconds = raw !== undefined && /^\d{1,6}$/.test(raw) ? raw : undefined;
  const precise = Number(header(headers, 'retry-after-ms'));
  if (Number.isFinite(precise) && precise > 0 && precise <= MAX_RETRY_AFTER_MS) {
    return { ms: Math.ceil(precise), header: seconds ?? String(Math.ceil(precise / 1000)) };
  }
  const ms = parseRetryAfter(raw, nowMs);
  if (ms === undefined) return undefined;
  return { ms: Math.min(ms, MAX_RETRY_AFTER_MS), header: seconds ?? String(Math.ceil(Math.min(ms, MAX_RETRY_AFTER_MS) / 1000)) };
}

/** Retry-After as delta-seconds or an HTTP date, in ms from `nowMs`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * Upstream 5xx (or anything unexpected such as a redirect, which is never followed). A 5xx that
 * names a delay (a 503 with Retry-After) keeps it: routing waits for it before retrying the same
 * deployment, and the client gets it as Retry-After on our error, so its SDK waits too.
 */
export function serverError(status: number, text: string, secret: string, headers?: IncomingHttpHeaders): GatewayError {
  if (status === 401 || status === 403) {
    // The deployment's own credential was refused. The upstream's words describe it (OpenAI
    // quotes the key, masked to its first and last characters; AWS names the account and user):
    // not the client's business, whichever tenant sent the request.
    return new GatewayError('upstream_error', `The upstream provider refused the deployment's credentials (HTTP ${status}).`, {
      cause: new UpstreamHttpError(status),
    });
  }
  const message = messageOf(parse(text));
  const detail = message === undefined ? '' : `: ${redact(message, secret).slice(0, 200)}`;
  const hint = status >= 500 && headers !== undefined ? retryAfterOf(headers) : undefined;
  return new GatewayError('upstream_error', `The upstream provider answered HTTP ${status}${detail}`, {
    ...(hint === undefined ? {} : { headers: { 'retry-after': hint.header } }),
    cause: new UpstreamHttpError(status, hint?.ms),
  });
}

/** Anthropic's 529 overloaded: a 503 for the client (another deployment may serve), with its delay or one second. */
export function overloaded(status: number, headers: IncomingHttpHeaders): GatewayError {
  const hint = retryAfterOf(headers);
  return new GatewayError('upstream_unavailable', 'The upstream provider is overloaded; retry later.', {
    headers: { 'retry-after': hint?.header ?? '1' },
    cause: new UpstreamHttpError(status, hint?.ms ?? DEFAULT_RETRY_AFTER_MS),
  });
}

/**
 * Upstream 4xx (not 429): the body the client gets. A valid envelope passes through (redacted);
 * anything else (`{"detail":..}` from FastAPI servers, `{"error":"..."}` from Ollama, plain
 * text) is wrapped into one.
 */
export function clientErrorBody(status: number, text: string, secret: string): Buffer {
  const parsed = parse(text);
  if (isEnvelope(parsed)) return Buffer.from(redact(text, secret));
  const message = messageOf(parsed) ?? text.trim();
  const envelope: ErrorEnvelope = {
    error: {
      message: redact(message === '' ? `The upstream provider answered HTTP ${status}.` : message, secret).slice(0, MESSAGE_LIMIT),
      type: status === 401 ? 'authentication_error' : status === 403 ? 'permission_denied_error' : 'invalid_request_error',
      code: `upstream_http_${status}`,
      param: null,
    },
  };
  return Buffer.from(JSON.stringify(envelope));
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isEnvelope(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const error = (v as { error?: unknown }).error;
  return typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string';
}

/** A human message from the usual error shapes. */
function messageOf(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.error === 'object' && o.error !== null) return messageOf(o.error);
  for (const key of ['message', 'error', 'detail'] as const) {
    if (typeof o[key] === 'string') return o[key];
  }
  return undefined;
}
