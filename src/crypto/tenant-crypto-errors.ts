/**
 * Why an encryption or decryption with a tenant key failed. Messages name the tenant, the
 * field and the key version (identifiers, not secrets) and never carry plaintext, ciphertext,
 * key bytes or a cause that could (DESIGN §12 "Secrets").
 */

export type DecryptFailure =
  /** Not a ciphertext of a known format (truncated, wrong first byte). */
  | 'malformed'
  /** This tenant has no data key of the version the ciphertext names (e.g. copied from another tenant). */
  | 'key_not_found'
  /** The tenant's data key was destroyed (crypto-shredding): the data is gone for good. */
  | 'key_destroyed'
  /** The data key is wrapped by a KEK this keyring does not hold (old master key not configured). */
  | 'kek_unavailable'
  /** The KEK refused to unwrap the data key (wrong master key, tampered wrapped key). */
  | 'unwrap_failed'
  /** The ciphertext is not authentic for this tenant, table, record, column and key version. */
  | 'authentication_failed';

export type EncryptFailure =
  /** The tenant is scheduled for crypto-shredding: it may still decrypt, no longer encrypt. */
  | 'tenant_shredding'
  /** The tenant's keys were destroyed. */
  | 'tenant_shredded'
  /** The active data key could not be obtained (see the message). */
  | 'key_unavailable';

export class TenantCryptoError<R extends string = string> extends Error {
  constructor(
    readonly reason: R,
    message: string,
  ) {
    super(message);
  }
}

export class DecryptError extends TenantCryptoError<DecryptFailure> {
  override name = 'DecryptError';
}

export class EncryptError extends TenantCryptoError<EncryptFailure | 'kek_unavailable' | 'unwrap_failed'> {
  override name = 'EncryptError';
}
