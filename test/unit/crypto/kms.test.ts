/** The local KMS: wrap/unwrap, the versioned layout, the key id, and every way unwrap refuses. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KmsError, localKms } from '../../../src/crypto/kms.js';

const master = Buffer.alloc(32, 0x42);
const aad = Buffer.from('tenant-1/v1');

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KmsError);
    return (err as KmsError).reason;
  }
  throw new Error('expected a rejection');
}

describe('localKms', () => {
  it('round-trips a data key, with a fresh IV each time and a versioned layout', async () => {
    const kms = localKms(master);
    const dataKey = randomBytes(32);
    const w1 = await kms.wrap(dataKey, aad);
    const w2 = await kms.wrap(dataKey, aad);
    expect(w1.equals(w2)).toBe(false);
    expect(w1.length).toBe(1 + 8 + 12 + 32 + 16);
    expect(w1[0]).toBe(1);
    expect(w1.includes(dataKey)).toBe(false);
    expect((await kms.unwrap(w1, aad)).equals(dataKey)).toBe(true);
  });

  it('has a stable key id per master key that does not reveal the key', () => {
    expect(localKms(master).keyId).toBe(localKms(Buffer.from(master)).keyId);
    expect(localKms(master).keyId).toMatch(/^local:[0-9a-f]{16}$/);
    expect(localKms(randomBytes(32)).keyId).not.toBe(localKms(master).keyId);
    expect(localKms(master).keyId).not.toContain(master.toString('hex').slice(0, 16));
  });

  it('refuses other associated data, a tampered byte, another KEK and garbage', async () => {
    const kms = localKms(master);
    const w = await kms.wrap(randomBytes(32), aad);
    expect(await reason(kms.unwrap(w, Buffer.from('tenant-2/v1')))).toBe('authentication_failed');
    for (const i of [9, 21, 40, w.length - 1]) {
      const t = Buffer.from(w);
      t[i] = (t[i] ?? 0) ^ 1;
      expect(await reason(kms.unwrap(t, aad))).toBe('authentication_failed');
    }
    expect(await reason(localKms(randomBytes(32)).unwrap(w, aad))).toBe('wrong_kek');
    expect(await reason(kms.unwrap(w.subarray(0, 20), aad))).toBe('malformed');
    const v2 = Buffer.from(w);
    v2[0] = 2;
    expect(await reason(kms.unwrap(v2, aad))).toBe('malformed');
  });

  it('never puts key material in its errors', async () => {
    const kms = localKms(master);
    const dataKey = randomBytes(32);
    const w = await kms.wrap(dataKey, aad);
    const err = await kms.unwrap(w, Buffer.from('other')).then(
      () => new Error('expected a rejection'),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(KmsError);
    const text = `${err.message} ${err.stack ?? ''} ${JSON.stringify(err)}`;
    for (const secret of [master, dataKey, w]) {
      expect(text).not.toContain(secret.toString('hex'));
      expect(text).not.toContain(secret.toString('base64'));
    }
  });

  it('needs a 32-byte master key', () => {
    expect(() => localKms(Buffer.alloc(16))).toThrow(RangeError);
  });
});
