/**
 * Encryption of cached responses with the tenant's data key (DESIGN §3.2).
 *
 * The tenant's active data key (src/crypto/tenant-keys.ts) is the input of HKDF-SHA256, which
 * derives the tenant's cache root for that key version; from the root come the HMAC key of cache
 * keys (key.ts) and, per entry, a one-time AES-256-GCM key from a random 32-byte salt. A fresh key
 * per entry keeps GCM far from its 2^32-encryptions-per-key bound without counting each store in
 * the database (one data-key use is counted per derivation of the root).
 *
 * Associated data binds a ciphertext to the tenant and the cache key: an entry copied under
 * another tenant's or another request's key does not decrypt. Layout, versioned by the first byte:
 *   0x01 | key version (uint32 BE) | salt (32) | IV (12) | ciphertext | tag (16)
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const FORMAT_V1 = 0x01;
const SALT_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + 4 + SALT_BYTES + IV_BYTES;
const ROOT_INFO = Buffer.from('gatehouse/response-cache/root/v1', 'utf8');
const HMAC_INFO = Buffer.from('gatehouse/response-cache/key/v1', 'utf8');
const ENTRY_INFO = Buffer.from('gatehouse/response-cache/entry/v1', 'utf8');
const AAD_LABEL = 'gatehouse/response-cache/v1\0';

/** What the cache holds in memory per tenant: derived keys, never the data key itself. */
export interface TenantCacheKeys {
  tenantId: string;
  version: number;
  /** Keys cache keys (key.ts). */
  hmacKey: Buffer;
  /** Input of the per-entry encryption keys. */
  root: Buffer;
}

export function deriveCacheKeys(tenantId: string, version: number, dataKey: Buffer): TenantCacheKeys {
  const salt = Buffer.from(`${tenantId.toLowerCase()}\0${version}`, 'utf8');
  const root = Buffer.from(hkdfSync('sha256', dataKey, salt, ROOT_INFO, 32));
  const hmacKey = Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), HMAC_INFO, 32));
  return { tenantId, version, hmacKey, root };
}

function aad(tenantId: string, key: string, version: number): Buffer {
  return Buffer.from(`${AAD_LABEL}${tenantId.toLowerCase()}\0${key}\0${version}`, 'utf8');
}

function entryKey(keys: TenantCacheKeys, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', keys.root, salt, ENTRY_INFO, 32));
}

export function sealEntry(keys: TenantCacheKeys, key: string, plaintext: Buffer): Buffer {
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', entryKey(keys, salt), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(keys.tenantId, key, keys.version));
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = FORMAT_V1;
  header.writeUInt32BE(keys.version, 1);
  salt.copy(header, 5);
  iv.copy(header, 5 + SALT_BYTES);
  return Buffer.concat([header, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** The plaintext, or undefined when the entry is malformed, of another key version, or altered. */
export function openEntry(keys: TenantCacheKeys, key: string, sealed: Buffer): Buffer | undefined {
  if (sealed.length < HEADER_BYTES + TAG_BYTES || sealed[0] !== FORMAT_V1) return undefined;
  if (sealed.readUInt32BE(1) !== keys.version) return undefined;
  const salt = sealed.subarray(5, 5 + SALT_BYTES);
  const iv = sealed.subarray(5 + SALT_BYTES, HEADER_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', entryKey(keys, salt), iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad(keys.tenantId, key, keys.version));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(HEADER_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return undefined;
  }
}
