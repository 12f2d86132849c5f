import { describe, expect, it } from 'vitest';
import { createMemoryStore, entrySize } from '../../../src/cache/memory-store.js';
import { decodeEntry, encodeEntry } from '../../../src/cache/entry.js';
import { deriveCacheKeys, openEntry, sealEntry } from '../../../src/cache/seal.js';

const v = (n: number) => Buffer.alloc(n, 7);
const size = (key: string, n: number) => entrySize(key, v(n));

describe('memory store: LRU by bytes, per tenant', () => {
  it('evicts only the storing tenant\'s least recently used entries for its own bound', () => {
    let now = 0;
    const s = createMemoryStore({ maxBytes: 1_000_000, maxTenantBytes: size('a', 100) * 2, now: () => now });
    expect(s.set('t1', 'a', v(100), 1000, Infinity).outcome).toBe('stored');
    expect(s.set('t1', 'b', v(100), 1000, Infinity).outcome).toBe('stored');
    expect(s.set('t2', 'a', v(100), 1000, Infinity).outcome).toBe('stored');
    expect(s.get('t1', 'a')).toBeDefined(); // a is now the most recently used
    const r = s.set('t1', 'c', v(100), 1000, Infinity);
    expect(r).toEqual({ outcome: 'stored', evicted: 1 });
    expect(s.get('t1', 'b')).toBeUndefined();
    expect(s.get('t1', 'a')).toBeDefined();
    expect(s.get('t2', 'a')).toBeDefined(); // the other tenant lost nothing
    now = 1000;
    expect(s.get('t1', 'a')).toBeUndefined(); // expired
  });

  it('when the whole cache is full, a tenant evicts its own entries, never another tenant\'s', () => {
    const s = createMemoryStore({ maxBytes: size('a', 100) * 2, maxTenantBytes: 1_000_000 });
    s.set('t1', 'a', v(100), 1000, Infinity);
    s.set('t2', 'a', v(100), 1000, Infinity);
    expect(s.set('t2', 'b', v(100), 1000, Infinity)).toEqual({ outcome: 'stored', evicted: 1 });
    expect(s.get('t1', 'a')).toBeDefined();
    expect(s.get('t2', 'a')).toBeUndefined();
    const t3 = s.set('t3', 'a', v(100), 1000, Infinity);
    expect(t3.outcome).toBe('full');
    expect(s.get('t1', 'a')).toBeDefined();
    expect(s.bytes()).toBe(size('a', 100) * 2);
  });

  it('a tenant at its cache_bytes quota gets nothing more stored until entries expire', () => {
    let now = 0;
    const s = createMemoryStore({ maxBytes: 1_000_000, maxTenantBytes: 1_000_000, now: () => now });
    const quota = size('a', 100) + 50;
    expect(s.set('t1', 'a', v(100), 1000, quota).outcome).toBe('stored');
    expect(s.set('t1', 'b', v(100), 1000, quota)).toEqual({ outcome: 'quota', evicted: 0 });
    expect(s.get('t1', 'a')).toBeDefined();
    expect(s.tenantBytes('t1')).toBe(size('a', 100));
    now = 1000;
    expect(s.set('t1', 'b', v(100), 1000, quota).outcome).toBe('stored');
  });
});

describe('entry sealing', () => {
  const keys = deriveCacheKeys('11111111-1111-4111-8111-111111111111', 1, Buffer.alloc(32, 9));
  const entry = { status: 200, contentType: 'application/json', storedAt: 5, usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7, cachedTokens: 0 }, body: Buffer.from('{"secret plaintext":1}') };

  it('round-trips, and the sealed bytes do not contain the plaintext', () => {
    const sealed = sealEntry(keys, 'k1', encodeEntry(entry));
    expect(sealed.includes(Buffer.from('secret plaintext'))).toBe(false);
    const plain = openEntry(keys, 'k1', sealed);
    expect(plain && decodeEntry(plain)).toEqual(entry);
  });

  it('does not open under another tenant, another cache key, another version or when altered', () => {
    const sealed = sealEntry(keys, 'k1', encodeEntry(entry));
    const other = deriveCacheKeys('22222222-2222-4222-8222-222222222222', 1, Buffer.alloc(32, 9));
    expect(openEntry(other, 'k1', sealed)).toBeUndefined();
    expect(openEntry(keys, 'k2', sealed)).toBeUndefined();
    expect(openEntry(deriveCacheKeys(keys.tenantId, 2, Buffer.alloc(32, 9)), 'k1', sealed)).toBeUndefined();
    const altered = Buffer.from(sealed);
    altered.writeUInt8(altered.readUInt8(altered.length - 20) ^ 1, altered.length - 20);
    expect(openEntry(keys, 'k1', altered)).toBeUndefined();
  });

  it('same data key, different tenants: different HMAC keys', () => {
    const other = deriveCacheKeys('22222222-2222-4222-8222-222222222222', 1, Buffer.alloc(32, 9));
    expect(other.hmacKey.equals(keys.hmacKey)).toBe(false);
  });
});
