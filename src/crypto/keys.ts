/**
 * API keys: generation, the public lookup prefix and the keyed hash that is stored instead of
 * the key. The hash is HMAC-SHA256 with a server pepper that lives outside the database (see
 * master-key.ts), so a leaked database alone cannot be used to test guessed keys offline.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** Largest multiple of 62 that fits in a byte: bytes at or above it are rejected (no modulo bias). */
const BYTE_LIMIT = 256 - (256 % 62); // 248

export const KEY_TAG = 'ghk_';
/** Length of the public prefix: `ghk_` and 8 random characters. */
export const KEY_PREFIX_LENGTH = 12;
const PUBLIC_RANDOM_CHARS = KEY_PREFIX_LENGTH - KEY_TAG.length; // 8
const SECRET_RANDOM_CHARS = 40; // ~238 bits

/** Uniformly random base62 text from the CSPRNG, by rejection sampling. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    // 248/256 of bytes are accepted, so asking for ~10% more than needed rarely loops twice.
    const bytes = randomBytes(Math.ceil((length - out.length) * 1.1) + 4);
    for (const b of bytes) {
      if (b >= BYTE_LIMIT) continue;
      out += BASE62[b % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

export interface GeneratedApiKey {
  /** The whole key: shown once to its owner, never stored. */
  key: string;
  /** Its public prefix, stored and shown in listings. */
  prefix: string;
}

/** A new key: `ghk_` + 8 base62 (public prefix) + `_` + 40 base62 (secret). */
export function generateApiKey(): GeneratedApiKey {
  const key = `${KEY_TAG}${randomBase62(PUBLIC_RANDOM_CHARS)}_${randomBase62(SECRET_RANDOM_CHARS)}`;
  return { key, prefix: keyPrefix(key) };
}

/**
 * The lookup prefix of any key string. Keys declared in configuration may have other formats,
 * so this does not validate: it is just the first 12 characters (or the whole of a shorter key).
 */
export function keyPrefix(key: string): string {
  return key.slice(0, KEY_PREFIX_LENGTH);
}

/** HMAC-SHA256 of the whole key under the server pepper: 32 bytes. */
export function hashApiKey(key: string, pepper: Buffer): Buffer {
  if (pepper.length < 16) throw new RangeError('the API key pepper must be at least 16 bytes');
  return createHmac('sha256', pepper).update(key, 'utf8').digest();
}

/** Constant-time comparison of a presented key against a stored hash. */
export function verifyApiKey(key: string, hash: Uint8Array, pepper: Buffer): boolean {
  const actual = hashApiKey(key, pepper);
  // timingSafeEqual throws on length mismatch; a malformed stored hash is simply "no match".
  if (hash.length !== actual.length) return false;
  return timingSafeEqual(actual, hash);
}
