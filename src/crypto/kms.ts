/**
 * Key-encryption keys (KEKs) behind a small KMS interface: the store keeps each tenant's data
 * key only wrapped, and only a KMS can unwrap it (DESIGN §3.2). The local implementation
 * derives its KEK from the master key; an external KMS (AWS KMS, GCP KMS, Vault transit) plugs
 * in by implementing the same three members, since all it ever sees is a 32-byte data key and
 * the associated data that binds it to a tenant and version.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { deriveKey } from './master-key.js';

export interface Kms {
  /**
   * Names the KEK, recorded beside every wrapped key (tenant_data_keys.kek_id) so that a
   * master-key rotation can tell what is still wrapped by the old KEK. Stable across restarts.
   */
  readonly keyId: string;
  /** Encrypts a data key; `aad` must be given again, byte for byte, to unwrap. */
  wrap(dataKey: Buffer, aad: Buffer): Promise<Buffer>;
  /** Rejects with KmsError when the bytes were not wrapped by this KEK with this `aad`. */
  unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer>;
}

export type KmsErrorReason = 'malformed' | 'wrong_kek' | 'authentication_failed';

/** Carries no key material and no wrapped bytes: safe to log. */
export class KmsError extends Error {
  override name = 'KmsError';
  constructor(
    readonly reason: KmsErrorReason,
    message: string,
  ) {
    super(message);
  }
}

// Layout of a locally wrapped key, versioned by its first byte so the format can change
// without guessing: 0x01 | KEK fingerprint (8) | IV (12) | ciphertext | GCM tag (16).
const FORMAT_V1 = 0x01;
const FINGERPRINT_BYTES = 8;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + FINGERPRINT_BYTES + IV_BYTES;

/**
 * A KEK derived from the master key with HKDF (purpose 'kek'), so the master key itself never
 * encrypts anything and the API-key pepper derived from it is an independent key.
 */
export function localKms(master: Buffer): Kms {
  if (master.length !== 32) throw new RangeError('the master key must be 32 bytes');
  const kek = deriveKey(master, 'kek');
  // A keyed fingerprint, not a plain hash of the key: it names the KEK without being a
  // checkable digest of it. 64 bits tell KEKs apart; it is not a security boundary.
  const fingerprint = createHmac('sha256', kek).update('gatehouse:kek-id').digest().subarray(0, FINGERPRINT_BYTES);
  const keyId = `local:${fingerprint.toString('hex')}`;

  return {
    keyId,

    async wrap(dataKey: Buffer, aad: Buffer): Promise<Buffer> {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(aad);
      const body = Buffer.concat([cipher.update(dataKey), cipher.final()]);
      return Buffer.concat([Buffer.from([FORMAT_V1]), fingerprint, iv, body, cipher.getAuthTag()]);
    },

    async unwrap(wrapped: Buffer, aad: Buffer): Promise<Buffer> {
      if (wrapped.length < HEADER_BYTES + TAG_BYTES || wrapped[0] !== FORMAT_V1) {
        throw new KmsError('malformed', 'the wrapped data key is malformed or of an unknown format');
      }
      const fp = wrapped.subarray(1, 1 + FINGERPRINT_BYTES);
      if (!fp.equals(fingerprint)) {
        throw new KmsError('wrong_kek', `the data key was wrapped by KEK local:${fp.toString('hex')}, not ${keyId}`);
      }
      const iv = wrapped.subarray(1 + FINGERPRINT_BYTES, HEADER_BYTES);
      const body = wrapped.subarray(HEADER_BYTES, wrapped.length - TAG_BYTES);
      // authTagLength pins the tag size: without it a truncated tag would be accepted (DESIGN §12).
      const decipher = createDecipheriv('aes-256-gcm', kek, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(aad);
      decipher.setAuthTag(wrapped.subarray(wrapped.length - TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(body), decipher.final()]);
      } catch {
        // Node's message says nothing secret either, but ours names what failed.
        throw new KmsError('authentication_failed', `the wrapped data key does not authenticate under ${keyId} with this associated data`);
      }
    },
  };
}
