/**
 * Field encryption with the tenant's data key (DESIGN §3.2, §12 "Secrets"): AES-256-GCM, a
 * random 96-bit IV per value, a 16-byte tag, and associated data that names the tenant, table,
 * record, column and key version. A ciphertext copied to another tenant, table, row or column,
 * or relabelled with another key version, fails to authenticate instead of decrypting.
 *
 * Ciphertext layout, versioned by its first byte:
 *   0x01 | key version (uint32 BE) | IV (12) | ciphertext | tag (16)
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { FieldRef, FieldSealer, TenantTx } from '../store/index.js';
import type { Keyring } from './keyring.js';
import { DecryptError } from './tenant-crypto-errors.js';
import { dataKeyForDecryption, dataKeyForEncryption, dataKeyForEncryptions } from './tenant-keys.js';

export type { FieldRef } from '../store/index.js';

const FORMAT_V1 = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + 4 + IV_BYTES;
const AAD_LABEL = Buffer.from('gatehouse/field/v1\0', 'utf8');

function part(value: string, what: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length === 0 || bytes.length > 0xffff) throw new RangeError(`${what} must be 1 to 65535 bytes`);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

/**
 * The associated data. Each part is length-prefixed so no two different field names encode
 * alike ("a","bc" vs "ab","c"); the tenant id is lower-cased because uuids compare without case
 * in the database but not here.
 */
export function fieldAad(tenantId: string, field: FieldRef, keyVersion: number): Buffer {
  const v = Buffer.alloc(4);
  v.writeUInt32BE(keyVersion);
  return Buffer.concat([
    AAD_LABEL,
    part(tenantId.toLowerCase(), 'tenant id'),
    part(field.table, 'table'),
    part(field.recordId, 'record id'),
    part(field.column, 'column'),
    v,
  ]);
}

const label = (tenantId: string, f: FieldRef) => `${f.table}.${f.column} of record ${f.recordId} (tenant ${tenantId})`;

/** The data key version a ciphertext names (unauthenticated until it is decrypted). */
export function ciphertextKeyVersion(ciphertext: Buffer): number {
  if (ciphertext.length < HEADER_BYTES + TAG_BYTES || ciphertext[0] !== FORMAT_V1) {
    throw new DecryptError('malformed', 'not a tenant ciphertext of a known format');
  }
  const version = ciphertext.readUInt32BE(1);
  // Versions are positive int4 in the database; anything else is forged, and must not reach a
  // query as an out-of-range parameter (that error would abort the caller's transaction).
  if (version < 1 || version > 0x7fffffff) throw new DecryptError('malformed', 'the ciphertext names an impossible key version');
  return version;
}

export async function encryptForTenant(tx: TenantTx, keys: Keyring, field: FieldRef, plaintext: Buffer | string): Promise<Buffer> {
  fieldAad(tx.tenantId, field, 0); // throws on a malformed field before a key use is counted
  const { version, dataKey } = await dataKeyForEncryption(tx, keys);
  return encryptWith(tx.tenantId, field, version, dataKey, plaintext);
}

/**
 * Encrypts several fields with one count of their key uses (one statement instead of one per
 * value: what a batch writer such as the request log needs). Same format and associated data as
 * encryptForTenant, which it falls back to when the batch cannot be counted in one step.
 */
export async function encryptManyForTenant(
  tx: TenantTx,
  keys: Keyring,
  items: readonly { field: FieldRef; plaintext: Buffer | string }[],
): Promise<Buffer[]> {
  for (const item of items) fieldAad(tx.tenantId, item.field, 0);
  const key = items.length === 0 ? null : await dataKeyForEncryptions(tx, keys, items.length);
  if (key === null) {
    const out: Buffer[] = [];
    for (const item of items) out.push(await encryptForTenant(tx, keys, item.field, item.plaintext));
    return out;
  }
  return items.map((item) => encryptWith(tx.tenantId, item.field, key.version, key.dataKey, item.plaintext));
}

function encryptWith(tenantId: string, field: FieldRef, version: number, dataKey: Buffer, plaintext: Buffer | string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', dataKey, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(fieldAad(tenantId, field, version));
  const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  const body = Buffer.concat([cipher.update(data), cipher.final()]);
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = FORMAT_V1;
  header.writeUInt32BE(version, 1);
  iv.copy(header, 5);
  return Buffer.concat([header, body, cipher.getAuthTag()]);
}

export async function decryptForTenant(tx: TenantTx, keys: Keyring, field: FieldRef, ciphertext: Buffer): Promise<Buffer> {
  let version: number;
  try {
    version = ciphertextKeyVersion(ciphertext);
  } catch {
    throw new DecryptError('malformed', `${label(tx.tenantId, field)} is not a tenant ciphertext of a known format`);
  }
  const aad = fieldAad(tx.tenantId, field, version);
  const dataKey = await dataKeyForDecryption(tx, keys, version);
  const iv = ciphertext.subarray(5, HEADER_BYTES);
  // authTagLength pins the tag size: without it GCM accepts a truncated tag (DESIGN §12).
  const decipher = createDecipheriv('aes-256-gcm', dataKey, iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(ciphertext.subarray(HEADER_BYTES, ciphertext.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new DecryptError(
      'authentication_failed',
      `${label(tx.tenantId, field)} does not authenticate under data key version ${version}: it was altered, or sealed for another tenant, table, record or column`,
    );
  }
}

/** The keyring as the store's repositories of encrypted columns take it. */
export function tenantSealer(keys: Keyring): FieldSealer {
  return {
    async seal(tx, field, plaintext) {
      const ciphertext = await encryptForTenant(tx, keys, field, plaintext);
      return { ciphertext, keyVersion: ciphertextKeyVersion(ciphertext) };
    },
    async sealMany(tx, items) {
      const ciphertexts = await encryptManyForTenant(tx, keys, items);
      return ciphertexts.map((ciphertext) => ({ ciphertext, keyVersion: ciphertextKeyVersion(ciphertext) }));
    },
    open: (tx, field, ciphertext) => decryptForTenant(tx, keys, field, ciphertext),
  };
}
