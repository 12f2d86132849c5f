/** The response cache's settings and storage contract. Nothing here knows about HTTP. */

/** A tenant's opt-in (tenant settings `cache`, or `tenants[].cache` in the configuration). */
export interface TenantCacheSettings {
  enabled: boolean;
  /** How long an entry lives, seconds. */
  ttlSeconds: number;
}

export type StoreOutcome =
  /** Stored (possibly after evicting this tenant's least recently used entries). */
  | 'stored'
  /** The tenant's cache_bytes quota has no room for it. */
  | 'quota'
  /** No room in the cache as a whole that this tenant's own entries could make. */
  | 'full';

export interface StoreResult {
  outcome: StoreOutcome;
  /** Entries of this tenant evicted to make room. */
  evicted: number;
}

/**
 * Where sealed entries live. Keys are HMACs (key.ts), values ciphertexts (seal.ts): the store sees
 * nothing of the content. Every entry belongs to one tenant and only that tenant's entries are
 * ever evicted to make room for it. Memory answers synchronously; Redis with a promise.
 */
export interface CacheStore {
  readonly kind: 'memory' | 'redis';
  get(tenantId: string, key: string): Buffer | undefined | Promise<Buffer | undefined>;
  /** `quotaBytes`: the tenant's room (its cache_bytes limit, bounded by the configured per-tenant cap). */
  set(tenantId: string, key: string, value: Buffer, ttlMs: number, quotaBytes: number): StoreResult | Promise<StoreResult>;
  /** Bytes held in this process (memory) or undefined (Redis: not known here). */
  bytes(): number | undefined;
  close(): Promise<void>;
}

/** A cacheable miss the fill stage may store once the upstream answered completely. */
export interface CacheFill {
  /** The normalized request (key.ts); hashed under the tenant's key when stored. */
  normalized: string;
  /** The public model the key was made for: an answer a fallback got from another model is not stored. */
  model: string;
  ttlMs: number;
  /** The tenant's cache_bytes limit, if it has one. */
  quotaBytes: number | undefined;
}
