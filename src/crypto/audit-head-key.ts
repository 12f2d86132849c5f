/**
 * The Ed25519 key that signs exported audit chain heads (DESIGN §12 "Audit": the head is kept
 * outside the table, so a cut tail or a rewritten chain shows).
 *
 * Derived from the master key (HKDF, purpose 'audit-head-signing') rather than generated and
 * stored: it then lives nowhere an owner of the database can reach, every replica and command
 * holding the master key signs with the same key, and nothing needs a migration or a backup. A
 * master-key rotation gives a new signing key: heads signed before it verify with the public key
 * of GATEHOUSE_MASTER_KEY_PREVIOUS, or with the old public key printed before rotating
 * (`gatehouse audit public-key`).
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { deriveKey } from './master-key.js';

// PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410 §7): node:crypto takes no raw seeds.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
// SPKI wrapping of a raw 32-byte Ed25519 public key (RFC 8410 §4).
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface AuditHeadSigner {
  /** `ed25519:` + 16 hex digits of SHA-256(raw public key): names the key in every signed head. */
  readonly keyId: string;
  /** SPKI PEM, for `gatehouse audit public-key` and for verifiers that have no master key. */
  readonly publicKeyPem: string;
  sign(message: Buffer): Buffer;
}

/** Public keys a head may be signed with, by key id. */
export interface AuditHeadVerifier {
  readonly keyIds: readonly string[];
  /** false for an unknown key id, a malformed signature or one that does not verify. */
  verify(keyId: string, message: Buffer, signature: Buffer): boolean;
}

export class AuditHeadKeyError extends Error {
  override name = 'AuditHeadKeyError';
}

function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32);
}

function keyIdOf(key: KeyObject): string {
  return `ed25519:${createHash('sha256').update(rawPublicKey(key)).digest('hex').slice(0, 16)}`;
}

export function auditHeadSigner(master: Buffer): AuditHeadSigner {
  if (master.length !== 32) throw new RangeError('the master key must be 32 bytes');
  const seed = deriveKey(master, 'audit-head-signing');
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: keyIdOf(publicKey),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    sign: (message) => sign(null, message, privateKey),
  };
}

/** An Ed25519 public key from SPKI PEM (what `gatehouse audit public-key` prints) or base64 of its 32 raw bytes. */
export function parseAuditHeadPublicKey(text: string, where: string): KeyObject {
  const trimmed = text.trim();
  // The PEM block wherever it is: `gatehouse audit public-key > key.pem` keeps its comment line.
  const pem = /-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/.exec(trimmed)?.[0];
  let key: KeyObject;
  try {
    if (pem !== undefined) key = createPublicKey({ key: pem, format: 'pem' });
    else {
      const raw = Buffer.from(trimmed, 'base64');
      if (raw.length !== 32) throw new Error('not 32 bytes');
      key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
    }
  } catch {
    throw new AuditHeadKeyError(`${where} is not an Ed25519 public key (SPKI PEM, or base64 of 32 raw bytes)`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new AuditHeadKeyError(`${where} is a ${String(key.asymmetricKeyType)} key, not Ed25519`);
  return key;
}

/** Verifies with the signers' public keys (current and previous master keys) and any given keys. */
export function auditHeadVerifier(signers: readonly AuditHeadSigner[], extra: readonly KeyObject[] = []): AuditHeadVerifier {
  const byId = new Map<string, KeyObject>();
  for (const s of signers) byId.set(s.keyId, createPublicKey(s.publicKeyPem));
  for (const k of extra) byId.set(keyIdOf(k), k);
  return {
    keyIds: [...byId.keys()],
    verify(keyId, message, signature) {
      const key = byId.get(keyId);
      if (key === undefined || signature.length !== 64) return false;
      try {
        return verify(null, message, key, signature);
      } catch {
        return false;
      }
    },
  };
}
