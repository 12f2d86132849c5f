/**
 * What an upstream failure means for routing: retry (elsewhere or later), fall back to another
 * model, or give the client the answer. Reads only what the provider layer attaches (the
 * catalogued GatewayError and its UpstreamHttpError cause), never provider-specific text, except
 * for the error code of a 4xx refusal, which is the OpenAI envelope every adapter produces.
 */
import { GatewayError } from '../errors.js';
import { UpstreamHttpError } from '../providers/upstream-errors.js';
import type { FallbackReason } from './types.js';

/** Upstream statuses worth another attempt: overload and server failures, never client errors. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 500, 502, 503, 504, 529]);

export interface Retryable {
  /** The upstream's status, undefined for transport failures (connect, reset, timeout). */
  status: number | undefined;
  /** The upstream's Retry-After in ms, when it sent one (429: one second when it did not). */
  retryAfterMs: number | undefined;
  /** Counts against the deployment's breaker (a 429 is load, handled by adaptive capacity). */
  breaker: boolean;
}

/** A thrown attempt failure: retryable, or undefined when the client must get it as is. */
export function retryable(err: unknown): Retryable | undefined {
  if (!(err instanceof GatewayError)) return undefined;
  const cause = err.cause;
  if (cause instanceof UpstreamHttpError) {
    if (!RETRYABLE_STATUSES.has(cause.status)) return undefined;
    // The provider layer read the upstream's Retry-After (429, and 5xx that send one, e.g. 503).
    return { status: cause.status, retryAfterMs: cause.retryAfterMs, breaker: cause.status !== 429 };
  }
  // Transport failures before the response headers: connect errors, resets, timeouts.
  if (err.code === 'upstream_error' || err.code === 'upstream_timeout') {
    return { status: undefined, retryAfterMs: undefined, breaker: true };
  }
  return undefined;
}

const CONTEXT_CODES = new Set(['context_length_exceeded', 'context_window_exceeded', 'string_above_max_length']);
const POLICY_CODES = new Set(['content_filter', 'content_policy_violation', 'content_policy', 'responsible_ai_policy_violation']);

/** Why an upstream 4xx refused the request, read from its error envelope's code (or message). */
export function refusalReason(status: number, body: string): FallbackReason | undefined {
  if (status !== 400 && status !== 413 && status !== 422) return undefined;
  let code: unknown;
  let message: unknown;
  try {
    const error = (JSON.parse(body) as { error?: { code?: unknown; message?: unknown } }).error;
    code = error?.code;
    message = error?.message;
  } catch {
    return undefined;
  }
  if (typeof code === 'string') {
    if (CONTEXT_CODES.has(code)) return 'context_window';
    if (POLICY_CODES.has(code)) return 'content_policy';
  }
  if (typeof message === 'string' && /maximum context length|context window|too many tokens/i.test(message)) return 'context_window';
  return undefined;
}
