/**
 * Admin API key format. A key names the scope it belongs to (a tenant id, or the platform
 * scope) in clear, so authentication looks it up inside that one tenant under row-level
 * security: no role ever needs to read credentials across tenants. The scope is not secret (the
 * holder knows their tenant); the 48 random base62 characters (~285 bits) are.
 *
 *   gha_<scope id as 32 hex>_<48 base62>
 */
import { randomBase62 } from '../crypto/keys.js';

export const ADMIN_KEY_TAG = 'gha_';
const RANDOM_CHARS = 48;
/** Public part shown in listings: the tag and the first 8 random characters. */
const PREFIX_RANDOM_CHARS = 8;
const FORMAT = /^gha_([0-9a-f]{32})_([0-9A-Za-z]{48})$/;

export interface GeneratedAdminKey {
  /** Shown once, never stored. */
  key: string;
  prefix: string;
}

function hexOf(uuid: string): string {
  return uuid.replace(/-/g, '').toLowerCase();
}

function uuidOf(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function generateAdminKey(scopeId: string): GeneratedAdminKey {
  const random = randomBase62(RANDOM_CHARS);
  return { key: `${ADMIN_KEY_TAG}${hexOf(scopeId)}_${random}`, prefix: `${ADMIN_KEY_TAG}${random.slice(0, PREFIX_RANDOM_CHARS)}` };
}

/** The public prefix of a well-formed admin key (as listed); undefined for anything else. */
export function adminKeyPrefix(key: string): string | undefined {
  const m = FORMAT.exec(key);
  return m?.[2] === undefined ? undefined : `${ADMIN_KEY_TAG}${m[2].slice(0, PREFIX_RANDOM_CHARS)}`;
}

/** The scope a well-formed admin key names; undefined for anything else. */
export function adminKeyScope(key: string): string | undefined {
  const m = FORMAT.exec(key);
  return m?.[1] === undefined ? undefined : uuidOf(m[1]);
}
