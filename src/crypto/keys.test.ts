import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey, keyPrefix, randomBase62, verifyApiKey } from './keys.js';

const pepper = Buffer.alloc(32, 7);

describe('generateApiKey', () => {
  it('has the documented format and a 12-character public prefix', () => {
    const { key, prefix } = generateApiKey();
    expect(key).toMatch(/^ghk_[0-9A-Za-z]{8}_[0-9A-Za-z]{40}$/);
    expect(key).toHaveLength(53);
    expect(prefix).toBe(key.slice(0, 12));
    expect(prefix).toMatch(/^ghk_[0-9A-Za-z]{8}$/);
  });

  it('does not repeat', () => {
    const keys = new Set(Array.from({ length: 2000 }, () => generateApiKey().key));
    const prefixes = new Set([...keys].map(keyPrefix));
    expect(keys.size).toBe(2000);
    // 62^8 prefixes: a collision among 2000 would mean a broken generator.
    expect(prefixes.size).toBe(2000);
  });
});

describe('randomBase62', () => {
  it('returns exactly the requested length', () => {
    for (const n of [0, 1, 7, 40, 333]) expect(randomBase62(n)).toHaveLength(n);
  });

  it('is close to uniform over the alphabet (no modulo bias)', () => {
    const counts = new Map<string, number>();
    const text = randomBase62(62 * 4000);
    for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
    expect(counts.size).toBe(62);
    // With bias from `byte % 62` the first 8 characters would appear 5/4 as often (5000 vs 4000).
    // The chi-square of a uniform sample with 61 d.o.f. is below 110 with p > 0.9999.
    let chi = 0;
    for (const n of counts.values()) chi += (n - 4000) ** 2 / 4000;
    expect(chi).toBeLessThan(110);
  });
});

describe('keyPrefix', () => {
  it('takes the first 12 characters of any key', () => {
    expect(keyPrefix('sk-config-declared-key-123')).toBe('sk-config-de');
    expect(keyPrefix('short')).toBe('short');
  });
});

describe('hashApiKey / verifyApiKey', () => {
  it('is HMAC-SHA256 with the pepper', () => {
    const h = hashApiKey('ghk_abc', pepper);
    expect(h).toHaveLength(32);
    expect(h.equals(createHmac('sha256', pepper).update('ghk_abc').digest())).toBe(true);
  });

  it('depends on the pepper', () => {
    expect(hashApiKey('k', pepper).equals(hashApiKey('k', Buffer.alloc(32, 8)))).toBe(false);
  });

  it('verifies the right key and rejects others', () => {
    const { key } = generateApiKey();
    const hash = hashApiKey(key, pepper);
    expect(verifyApiKey(key, hash, pepper)).toBe(true);
    expect(verifyApiKey(key + 'x', hash, pepper)).toBe(false);
    expect(verifyApiKey(key, hash, Buffer.alloc(32, 9))).toBe(false);
    expect(verifyApiKey(key, new Uint8Array(hash), pepper)).toBe(true);
  });

  it('treats a malformed stored hash as no match instead of throwing', () => {
    expect(verifyApiKey('k', Buffer.alloc(5), pepper)).toBe(false);
  });

  it('refuses a short pepper', () => {
    expect(() => hashApiKey('k', Buffer.alloc(4))).toThrow(RangeError);
  });
});
