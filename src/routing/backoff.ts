/**
 * How long to wait before the next attempt: exponential backoff with full jitter (a random delay
 * between 0 and the exponential bound, so retrying clients do not synchronise), and an upstream's
 * Retry-After honoured when retrying the same deployment, capped so a client is never held for
 * minutes by an upstream's hint (read by the provider layer, src/providers/upstream-errors.ts).
 */
import type { RetryPolicy } from './types.js';

/**
 * @param retry 1 for the first retry (the second attempt)
 * @param retryAfterMs the failing upstream's Retry-After, when it gave one
 * @param random in [0, 1)
 */
export function backoffMs(policy: RetryPolicy, retry: number, retryAfterMs: number | undefined, random: number): number {
  const bound = Math.min(policy.maxBackoffMs, policy.baseBackoffMs * 2 ** Math.max(0, retry - 1));
  const jittered = Math.floor(bound * random);
  if (retryAfterMs === undefined) return jittered;
  return Math.max(jittered, Math.min(retryAfterMs, policy.maxRetryAfterMs));
}
