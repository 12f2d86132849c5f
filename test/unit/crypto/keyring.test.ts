/** The keyring: KMS lookup by key id, budget validation, and a bounded, safe data-key cache. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyring, DEFAULT_ROTATE_AFTER } from '../../../src/crypto/keyring.js';
import { localKms } from '../../../src/crypto/kms.js';
import type { Kms } from '../../../src/crypto/kms.js';

const T1 = '11111111-1111-4111-8111-111111111111';
const T2 = '22222222-2222-4222-8222-222222222222';

describe('createKeyring', () => {
  it('finds the current and previous KMS by key id', () => {
    const cur = localKms(randomBytes(32));
    const old = localKms(randomBytes(32));
    const ring = createKeyring(cur, { previous: [old] });
    expect(ring.kms(cur.keyId)).toBe(cur);
    expect(ring.kms(old.keyId)).toBe(old);
    expect(ring.kms('local:0000000000000000')).toBeUndefined();
    expect(ring.keyIds).toEqual([cur.keyId, old.keyId]);
  });

  it('refuses two different KMS instances with one key id, and bad budgets', () => {
    const cur = localKms(randomBytes(32));
    const clash: Kms = { ...localKms(randomBytes(32)), keyId: cur.keyId };
    expect(() => createKeyring(cur, { previous: [clash] })).toThrow(/two KMS instances/);
    expect(createKeyring(cur, { previous: [cur] }).keyIds).toEqual([cur.keyId]);
    for (const rotateAfter of [0, -1, 1.5, 2 ** 32, Number.NaN]) {
      expect(() => createKeyring(cur, { rotateAfter })).toThrow(RangeError);
    }
    expect(createKeyring(cur).rotateAfter).toBe(DEFAULT_ROTATE_AFTER);
    expect(DEFAULT_ROTATE_AFTER).toBeLessThan(2 ** 32);
  });

  it('caches by tenant, version and wrapped bytes, bounded, least recently used out first', () => {
    const ring = createKeyring(localKms(randomBytes(32)), { cacheSize: 2 });
    const [w1, w2, w3] = [randomBytes(69), randomBytes(69), randomBytes(69)];
    const [k1, k2, k3] = [randomBytes(32), randomBytes(32), randomBytes(32)];
    ring.remember(T1, 1, w1, k1);
    ring.remember(T1, 2, w2, k2);
    expect(ring.cached(T1, 1, w1)).toBe(k1); // now most recently used
    ring.remember(T2, 1, w3, k3); // evicts (T1, 2)
    expect(ring.cached(T1, 2, w2)).toBeUndefined();
    expect(ring.cached(T1, 1, w1)).toBe(k1);
    expect(ring.cached(T2, 1, w3)).toBe(k3);
    // Other wrapped bytes under the same (tenant, version): a different key, never served.
    expect(ring.cached(T1, 1, w3)).toBeUndefined();
    expect(ring.cached(T1.toUpperCase(), 1, w1)).toBe(k1);
    ring.forgetTenant(T1);
    expect(ring.cached(T1, 1, w1)).toBeUndefined();
    expect(ring.cached(T2, 1, w3)).toBe(k3);
  });

  it('cacheSize 0 caches nothing', () => {
    const ring = createKeyring(localKms(randomBytes(32)), { cacheSize: 0 });
    const w = randomBytes(69);
    ring.remember(T1, 1, w, randomBytes(32));
    expect(ring.cached(T1, 1, w)).toBeUndefined();
  });
});
