import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from '../../../src/providers/upstream-errors.js';
import { backoffMs } from '../../../src/routing/backoff.js';
import { DEFAULT_RETRY } from '../../../src/routing/types.js';

const policy = { ...DEFAULT_RETRY, baseBackoffMs: 100, maxBackoffMs: 1000, maxRetryAfterMs: 3000 };

describe('backoff', () => {
  it('is full jitter under an exponential bound that stops at maxBackoffMs', () => {
    for (const [retry, bound] of [[1, 100], [2, 200], [3, 400], [4, 800], [5, 1000], [9, 1000]] as const) {
      expect(backoffMs(policy, retry, undefined, 0)).toBe(0);
      expect(backoffMs(policy, retry, undefined, 0.999999)).toBe(bound - 1);
      for (let i = 0; i < 50; i++) {
        const ms = backoffMs(policy, retry, undefined, Math.random());
        expect(ms).toBeGreaterThanOrEqual(0);
        expect(ms).toBeLessThan(bound);
      }
    }
  });

  it('honours Retry-After, capped at maxRetryAfterMs, never below the jittered backoff', () => {
    expect(backoffMs(policy, 1, 2000, 0.5)).toBe(2000);
    expect(backoffMs(policy, 1, 60_000, 0.5)).toBe(3000);
    expect(backoffMs(policy, 5, 10, 0.5)).toBe(500);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
