/**
 * The few numbers both limit backends must agree on, so the memory and Redis backends give the
 * same answers (one contract suite runs against both). The Redis script receives them as
 * arguments rather than repeating them.
 *
 * Buckets are token buckets: `burst` units, refilled continuously at `limit` per `periodMs`;
 * a reservation takes `amount`, settling adds back `amount - used` (a refund, or a debit that can
 * take the level below zero: debt that delays later requests). An amount above `burst` can never
 * pass; it is refused with `retryAfterMs` = time until the bucket is full, or `periodMs` when it
 * already is. Windows count settled usage plus unexpired reservations; concurrency counts
 * unexpired reservations.
 */

/**
 * Retry hint for a full concurrency limit: the shortest remaining lease among the holders,
 * clamped to [100 ms, 1 s] (a holder usually finishes long before its lease ends, so a long
 * lease is a poor hint; a very short one would invite a retry storm).
 */
export const CONCURRENCY_RETRY_MIN_MS = 100;
export const CONCURRENCY_RETRY_MAX_MS = 1_000;

/**
 * Redis remembers a settled reservation id this long, so settling it again (a settle retried
 * after a lost reply or replayed after an outage, a caller bug) counts nothing twice. The memory
 * backend has no retries and remembers the last few thousand ids instead (see there).
 */
export const SETTLED_TTL_MS = 30_000;

/** Token levels are fractional while refilling; this absorbs floating-point noise. */
export const LEVEL_EPSILON = 1e-6;

/** Amounts and usage are non-negative integers; anything else is rounded up (conservative). */
export function units(n: number): number {
  return n > 0 ? Math.ceil(n) : 0;
}
