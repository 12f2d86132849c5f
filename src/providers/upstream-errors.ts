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

/** The upstream's HTTP status, attached as `cause` so routing and breakers can tell 500 from 503. */
export class UpstreamHttpError extends Error {
  readonly status: number;
  constructor(status: number) {
    super(`Upstream answered HTTP ${status}`);
    this.name = 'UpstreamHttpError';
    this.status = status;
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

/** Upstream 429: thrown so the client sees our 429, with the upstream's Retry-After. */
export function rateLimited(headers: IncomingHttpHeaders): GatewayError {
  return new GatewayError('rate_limit_exceeded', 'The upstream provider is rate limiting requests; retry later.', {
    headers: { 'retry-after': retryAfter(headers) },
    cause: new UpstreamHttpError(429),
  });
}

function retryAfter(headers: IncomingHttpHeaders): string {
  const seconds = header(headers, 'retry-after');
  if (seconds !== undefined && /^\d{1,6}$/.test(seconds.trim())) return seconds.trim();
  const ms = Number(header(headers, 'retry-after-ms'));
  if (Number.isFinite(ms) && ms > 0) return String(Math.ceil(ms / 1000));
  // An HTTP date or nothing at all: one second is a safe, SDK-friendly default.
  return '1';
}

/** Upstream 5xx (or anything unexpected such as a redirect, which is never followed). */
export function serverError(status: number, text: string, secret: string): GatewayError {
  const message = messageOf(parse(text));
  const detail = message === undefined ? '' : `: ${redact(message, secret).slice(0, 200)}`;
  return new GatewayError('upstream_error', `The upstream provider answered HTTP ${status}${detail}`, {
    cause: new UpstreamHttpError(status),
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
