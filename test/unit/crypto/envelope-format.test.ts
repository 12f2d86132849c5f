/**
 * The envelope's byte formats without a database: the associated data distinguishes every
 * part it binds (a ciphertext relabelled with any other tenant, table, record, column or key
 * version cannot authenticate), and the ciphertext header is read strictly.
 */
import { describe, expect, it } from 'vitest';
import { ciphertextKeyVersion, fieldAad } from '../../../src/crypto/envelope.js';
import { parsePreviousMasterKeys } from '../../../src/crypto/master-key.js';
import { DecryptError } from '../../../src/crypto/tenant-crypto-errors.js';
import { wrapAad } from '../../../src/crypto/tenant-keys.js';

const T = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
const U = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
const f = { table: 'provider_credentials', recordId: 'r1', column: 'secret_ciphertext' };

describe('fieldAad', () => {
  it('changes with each bound part', () => {
    const base = fieldAad(T, f, 1).toString('hex');
    const variants = [
      fieldAad(U, f, 1),
      fieldAad(T, { ...f, table: 'webhooks' }, 1),
      fieldAad(T, { ...f, recordId: 'r2' }, 1),
      fieldAad(T, { ...f, column: 'other' }, 1),
      fieldAad(T, f, 2),
    ].map((b) => b.toString('hex'));
    for (const v of variants) expect(v).not.toBe(base);
    expect(new Set(variants).size).toBe(variants.length);
  });

  it('is unambiguous where parts meet, and ignores the case of the tenant uuid', () => {
    const a = fieldAad(T, { table: 'ab', recordId: 'c', column: 'd' }, 1);
    const b = fieldAad(T, { table: 'a', recordId: 'bc', column: 'd' }, 1);
    expect(a.equals(b)).toBe(false);
    expect(fieldAad(T.toUpperCase(), f, 1).equals(fieldAad(T, f, 1))).toBe(true);
  });

  it('refuses empty parts', () => {
    expect(() => fieldAad(T, { ...f, column: '' }, 1)).toThrow(RangeError);
    expect(() => fieldAad(T, { ...f, recordId: '' }, 1)).toThrow(RangeError);
  });
});

describe('wrapAad', () => {
  it('binds the tenant and the version of a wrapped data key', () => {
    expect(wrapAad(T, 1).equals(wrapAad(U, 1))).toBe(false);
    expect(wrapAad(T, 1).equals(wrapAad(T, 2))).toBe(false);
    expect(wrapAad(T.toUpperCase(), 1).equals(wrapAad(T, 1))).toBe(true);
  });
});

describe('ciphertextKeyVersion', () => {
  it('reads the version from a well-formed header and refuses anything else', () => {
    const ct = Buffer.alloc(1 + 4 + 12 + 16);
    ct[0] = 1;
    ct.writeUInt32BE(7, 1);
    expect(ciphertextKeyVersion(ct)).toBe(7);
    expect(() => ciphertextKeyVersion(ct.subarray(0, 32))).toThrow(DecryptError);
    const v2 = Buffer.from(ct);
    v2[0] = 2;
    expect(() => ciphertextKeyVersion(v2)).toThrow(DecryptError);
    for (const impossible of [0, 0x80000000, 0xffffffff]) {
      const forged = Buffer.from(ct);
      forged.writeUInt32BE(impossible, 1);
      expect(() => ciphertextKeyVersion(forged)).toThrow(/impossible key version/);
    }
  });
});

describe('parsePreviousMasterKeys', () => {
  it('reads comma-separated keys and names a bad entry without echoing it', () => {
    const k1 = Buffer.alloc(32, 1);
    const k2 = Buffer.alloc(32, 2);
    expect(parsePreviousMasterKeys({})).toEqual([]);
    expect(parsePreviousMasterKeys({ GATEHOUSE_MASTER_KEY_PREVIOUS: ` ${k1.toString('base64')}, ${k2.toString('hex')} ` })).toEqual([k1, k2]);
    const bad = 'c2hvcnQtYnV0LXNlY3JldA==';
    expect(() => parsePreviousMasterKeys({ GATEHOUSE_MASTER_KEY_PREVIOUS: `${k1.toString('base64')},${bad}` })).toThrow(/entry 2/);
    let message = '';
    try {
      parsePreviousMasterKeys({ GATEHOUSE_MASTER_KEY_PREVIOUS: bad });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/must hold 32 bytes/);
    expect(message).not.toContain(bad);
  });
});
