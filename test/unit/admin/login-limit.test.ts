import { describe, expect, it } from 'vitest';
import { createLoginLimiter } from '../../../src/admin/http/login-limit.js';

describe('admin login limiter', () => {
  it('refuses an address and prefix after maxFailures in a window, until the window ends', () => {
    let now = 1_000_000;
    const l = createLoginLimiter({ maxFailures: 3, windowMs: 60_000, now: () => now });
    expect([l.fail('192.0.2.1', 'gha_aaaa'), l.fail('192.0.2.1', 'gha_aaaa')]).toEqual([0, 0]);
    expect(l.retryAfter('192.0.2.1', 'gha_aaaa')).toBe(0);
    expect(l.fail('192.0.2.1', 'gha_aaaa')).toBe(60);
    now += 20_500;
    expect(l.retryAfter('192.0.2.1', 'gha_aaaa')).toBe(40);
    // Another prefix from the same address, and the same prefix from elsewhere, are not limited.
    expect(l.retryAfter('192.0.2.1', 'gha_bbbb')).toBe(0);
    expect(l.retryAfter('198.51.100.1', 'gha_aaaa')).toBe(0);
    now += 39_500;
    expect(l.retryAfter('192.0.2.1', 'gha_aaaa')).toBe(0);
    expect(l.fail('192.0.2.1', 'gha_aaaa')).toBe(0); // a new window
  });

  it('caps an address over all prefixes, so a new prefix per try does not escape', () => {
    const l = createLoginLimiter({ maxFailures: 10, maxFailuresPerAddress: 5, now: () => 0 });
    for (let i = 0; i < 4; i++) expect(l.fail('192.0.2.9', `p${i}`)).toBe(0);
    expect(l.fail('192.0.2.9', 'p4')).toBe(60);
    expect(l.retryAfter('192.0.2.9', 'never-tried')).toBe(60);
    expect(l.retryAfter('192.0.2.10', 'p0')).toBe(0);
  });

  it('holds a bounded number of counters', () => {
    const l = createLoginLimiter({ maxTracked: 50, now: () => 0 });
    for (let i = 0; i < 500; i++) l.fail(`10.0.${Math.floor(i / 250)}.${i % 250}`, 'x');
    expect(l.size()).toBeLessThanOrEqual(50);
  });
});
