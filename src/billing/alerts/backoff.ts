/**
 * Retry schedule of webhook deliveries: exponential from `baseMs`, capped at `maxMs`, with full
 * jitter in the upper half (so replicas retrying the same outage spread out, and no retry comes
 * sooner than half its nominal delay). With the defaults (30 s base, 8 attempts, 20 min cap) the
 * nominal delays after attempts 1..7 are 30 s, 1, 2, 4, 8, 16, 20 min: about 51 min in all.
 */
export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  /** Attempts in all, the first included; after the last failure the delivery is `failed`. */
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 30_000, maxMs: 20 * 60_000, maxAttempts: 8 };

/** The nominal (jitter-free) delay after failed attempt number `attempt` (1-based). */
export function nominalDelayMs(policy: BackoffPolicy, attempt: number): number {
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
}

/** The delay before the next attempt, or null when `attempt` was the last one. */
export function retryDelayMs(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number | null {
  if (attempt >= policy.maxAttempts) return null;
  const nominal = nominalDelayMs(policy, attempt);
  return Math.round(nominal / 2 + random() * (nominal / 2));
}
