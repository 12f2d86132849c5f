/**
 * A keyring: the KMS that wraps new data keys, the KMSs that may still unwrap older ones (during
 * a master-key rotation), the encryption budget per data key, and a bounded in-memory cache of
 * unwrapped data keys. One per process; pass it to the envelope functions.
 */
import type { Kms } from './kms.js';

/**
 * AES-GCM with random 96-bit IVs must not exceed 2^32 encryptions per key (NIST SP 800-38D
 * §8.3). 2^30 keeps the IV-collision probability below 2^-37 and leaves room for encryptions
 * that were counted in a transaction that rolled back (those are not counted, but happened).
 */
export const DEFAULT_ROTATE_AFTER = 2 ** 30;
export const MAX_ROTATE_AFTER = 2 ** 31;
export const DEFAULT_CACHE_SIZE = 4096;

export interface KeyringOptions {
  /** KEKs that may still unwrap data keys wrapped before a master-key rotation. */
  previous?: readonly Kms[];
  /** Encryptions under one data key before a new version replaces it (tests use tiny values). */
  rotateAfter?: number;
  /** Unwrapped data keys kept in memory; 0 disables the cache. */
  cacheSize?: number;
}

export interface Keyring {
  /** Wraps every new data key. */
  readonly current: Kms;
  readonly rotateAfter: number;
  /** The KMS whose keyId this is, current or previous. */
  kms(keyId: string): Kms | undefined;
  /** Key ids this keyring can unwrap. */
  readonly keyIds: readonly string[];
  cached(tenantId: string, version: number, wrapped: Buffer): Buffer | undefined;
  remember(tenantId: string, version: number, wrapped: Buffer, dataKey: Buffer): void;
  /** Drops the tenant's cached keys (after its keys were destroyed). */
  forgetTenant(tenantId: string): void;
}

export function createKeyring(current: Kms, opts: KeyringOptions = {}): Keyring {
  const rotateAfter = opts.rotateAfter ?? DEFAULT_ROTATE_AFTER;
  if (!Number.isInteger(rotateAfter) || rotateAfter < 1 || rotateAfter > MAX_ROTATE_AFTER) {
    throw new RangeError(`rotateAfter must be an integer from 1 to 2^31 (got ${rotateAfter})`);
  }
  const cacheSize = opts.cacheSize ?? DEFAULT_CACHE_SIZE;
  if (!Number.isInteger(cacheSize) || cacheSize < 0) throw new RangeError('cacheSize must be a non-negative integer');

  const byId = new Map<string, Kms>([[current.keyId, current]]);
  for (const k of opts.previous ?? []) {
    const known = byId.get(k.keyId);
    if (known !== undefined && known !== k) throw new RangeError(`two KMS instances claim the key id ${k.keyId}`);
    byId.set(k.keyId, k);
  }

  // Keyed by the wrapped bytes too, not just (tenant, version): a key created in a transaction
  // that rolled back, or re-created under the same version number, can never be served from
  // the cache in place of the key the database holds. Map order is insertion order: a get
  // re-inserts, so the first entry is the least recently used.
  const cache = new Map<string, Buffer>();
  const entryKey = (tenantId: string, version: number, wrapped: Buffer) =>
    `${tenantId.toLowerCase()}:${version}:${wrapped.toString('base64')}`;

  return {
    current,
    rotateAfter,
    keyIds: [...byId.keys()],
    kms: (keyId) => byId.get(keyId),

    cached(tenantId, version, wrapped) {
      const k = entryKey(tenantId, version, wrapped);
      const hit = cache.get(k);
      if (hit !== undefined) {
        cache.delete(k);
        cache.set(k, hit);
      }
      return hit;
    },

    remember(tenantId, version, wrapped, dataKey) {
      if (cacheSize === 0) return;
      const k = entryKey(tenantId, version, wrapped);
      cache.delete(k);
      cache.set(k, dataKey);
      // Evicted keys are not zeroed: a caller may still be using the same Buffer.
      while (cache.size > cacheSize) {
        const oldest = cache.keys().next().value;
        if (oldest === undefined) break;
        cache.delete(oldest);
      }
    },

    forgetTenant(tenantId) {
      const prefix = `${tenantId.toLowerCase()}:`;
      for (const k of [...cache.keys()]) if (k.startsWith(prefix)) cache.delete(k);
    },
  };
}
