/** Signed audit heads: the signature covers every field, and only trusted keys verify. */
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { headLine, headSignatureValid, parseHeadLines, signHead, type SignedAuditHead } from '../../../src/audit/index.js';
import { auditHeadSigner, auditHeadVerifier, AuditHeadKeyError, parseAuditHeadPublicKey } from '../../../src/crypto/audit-head-key.js';
import { childrenFirst } from '../../../src/store/index.js';

const MASTER = Buffer.alloc(32, 0x11);
const TENANT = '6f1c0e4e-2b43-4c55-9d57-2a4e7a0b9c10';
const head = (signer = auditHeadSigner(MASTER)): SignedAuditHead =>
  signHead(signer, { tenantId: TENANT, seq: 7, hash: Buffer.alloc(32, 0xab), at: new Date('2024-05-01T10:00:00Z') }, new Date('2024-05-01T10:05:00Z'));

describe('audit head signing key', () => {
  it('is derived from the master key: the same master gives the same key, another master another', () => {
    const a = auditHeadSigner(MASTER);
    expect(auditHeadSigner(Buffer.from(MASTER)).keyId).toBe(a.keyId);
    expect(auditHeadSigner(Buffer.alloc(32, 0x12)).keyId).not.toBe(a.keyId);
    expect(a.keyId).toMatch(/^ed25519:[0-9a-f]{16}$/);
    expect(a.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(createPublicKey(a.publicKeyPem).asymmetricKeyType).toBe('ed25519');
  });

  it('parses the printed PEM and raw base64, and refuses other keys', () => {
    const a = auditHeadSigner(MASTER);
    const fromPem = parseAuditHeadPublicKey(a.publicKeyPem, 'pem');
    // As `gatehouse audit public-key > key.pem` writes it: a comment line before the PEM.
    expect(auditHeadVerifier([], [parseAuditHeadPublicKey(`# audit head signing key ${a.keyId}\n${a.publicKeyPem}`, 'printed')]).keyIds).toEqual([a.keyId]);
    const raw = fromPem.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
    const verifier = auditHeadVerifier([], [parseAuditHeadPublicKey(raw, 'raw')]);
    expect(verifier.keyIds).toEqual([a.keyId]);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(() => parseAuditHeadPublicKey(rsa, 'rsa.pem')).toThrow(AuditHeadKeyError);
    expect(() => parseAuditHeadPublicKey('not a key', 'x')).toThrow(AuditHeadKeyError);
  });
});

describe('signed heads', () => {
  const signer = auditHeadSigner(MASTER);
  const verifier = auditHeadVerifier([signer]);

  it('verify with the signing key and round-trip through a JSON line', () => {
    const h = head(signer);
    expect(h).toMatchObject({ v: 1, kind: 'gatehouse.audit_head', tenant_id: TENANT, seq: 7, hash: 'ab'.repeat(32), key_id: signer.keyId });
    expect(headSignatureValid(verifier, h)).toBe(true);
    const { heads, problems } = parseHeadLines(`${headLine(h)}\n${headLine(h)}`);
    expect(problems).toEqual([]);
    expect(heads.map((x) => x.line)).toEqual([1, 3]);
    expect(headSignatureValid(verifier, heads[0] as SignedAuditHead)).toBe(true);
  });

  it.each([
    ['seq', { seq: 8 }],
    ['hash', { hash: 'cd'.repeat(32) }],
    ['tenant', { tenant_id: '00000000-0000-0000-0000-000000000000' }],
    ['time', { at: '2024-05-01T10:00:01.000Z' }],
    ['signing time', { signed_at: '2030-01-01T00:00:00.000Z' }],
  ])('a changed %s breaks the signature', (_n, change) => {
    expect(headSignatureValid(verifier, { ...head(signer), ...change })).toBe(false);
  });

  it('a head signed by another key does not verify, even when it names the trusted key id', () => {
    const forger = auditHeadSigner(randomBytes(32));
    const forged = head(forger);
    expect(headSignatureValid(verifier, forged)).toBe(false); // unknown key id
    expect(headSignatureValid(verifier, { ...forged, key_id: signer.keyId })).toBe(false);
    // A previous master key's heads verify while its signer is trusted.
    expect(headSignatureValid(auditHeadVerifier([signer, forger]), forged)).toBe(true);
  });

  it('a malformed signature is refused, not thrown on', () => {
    expect(headSignatureValid(verifier, { ...head(signer), signature: Buffer.alloc(64, 1).toString('base64url') })).toBe(false);
    expect(headSignatureValid(verifier, { ...head(signer), signature: 'AA' })).toBe(false);
  });

  it('lines that are not heads are reported with their number, not skipped', () => {
    const good = headLine(head(signer));
    const { heads, problems } = parseHeadLines(`${good}{"seq": 1}\nnot json\n${JSON.stringify({ ...head(signer), extra: 1 })}\n`);
    expect(heads).toHaveLength(1);
    expect(problems.map((p) => p.line)).toEqual([2, 3, 4]);
    expect(problems[1]?.message).toBe('not JSON');
  });
});

describe('purge order (children first)', () => {
  it('puts every table before the tables it references', () => {
    const order = childrenFirst(['tenants', 'teams', 'api_keys', 'users', 'memberships'], [
      { child: 'api_keys', parent: 'teams' },
      { child: 'teams', parent: 'tenants' },
      { child: 'memberships', parent: 'users' },
      { child: 'users', parent: 'tenants' },
      { child: 'api_keys', parent: 'tenants' },
      { child: 'tenants', parent: 'plans' }, // a parent outside the set is ignored
    ]);
    const at = (t: string) => order.indexOf(t);
    expect(order).toHaveLength(5);
    expect(at('api_keys')).toBeLessThan(at('teams'));
    expect(at('teams')).toBeLessThan(at('tenants'));
    expect(at('memberships')).toBeLessThan(at('users'));
  });

  it('refuses a cycle rather than guess', () => {
    expect(() => childrenFirst(['a', 'b'], [{ child: 'a', parent: 'b' }, { child: 'b', parent: 'a' }])).toThrow(/cycle/);
  });
});
