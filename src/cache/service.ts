/**
 * The response cache as the pipeline uses it: look up a tenant's sealed entry and open it, or
 * seal an answer and store it within the tenant's quota. Every outcome is reported to `onEvent`
 * (metrics). Store errors (Redis down) are misses and skipped stores: the cache never fails a
 * request.
 */
import { cacheKey } from './key.js';
import { decodeEntry, encodeEntry, type CachedResponse } from './entry.js';
import { openEntry, sealEntry, type TenantCacheKeys } from './seal.js';
import type { CacheKeySource } from './tenant-keys.js';
import type { CacheStore, StoreOutcome } from './types.js';

export type CacheEvent = 'hit' | 'miss' | 'bypass' | 'error' | 'too_large' | 'incomplete' | StoreOutcome;

export interface ResponseCacheOptions {
  store: CacheStore;
  keys: CacheKeySource;
  /** Bigger answers are passed through without being stored. */
  maxEntryBytes: number;
  /** Redis: a tenant's room when no cache_bytes limit says otherwise, and the most any limit gives. */
  maxTenantBytes: number;
  onEvent?: (event: CacheEvent, evicted?: number) => void;
  onError?: (err: unknown) => void;
  now?: () => number;
}

export interface ResponseCache {
  readonly keys: CacheKeySource;
  readonly maxEntryBytes: number;
  readonly store: CacheStore;
  /** The entry if present, readable and no older than `maxAgeMs`. */
  lookup(keys: TenantCacheKeys, key: string, maxAgeMs: number): CachedResponse | undefined | Promise<CachedResponse | undefined>;
  /** Seals and stores under the key of `normalized` (key.ts); resolves with the outcome (never rejects). */
  save(tenantId: string, normalized: string, entry: CachedResponse, ttlMs: number, quotaBytes: number | undefined): Promise<StoreOutcome | 'error'>;
  count(event: CacheEvent): void;
  close(): Promise<void>;
}

export function createResponseCache(opts: ResponseCacheOptions): ResponseCache {
  const now = opts.now ?? Date.now;
  const count = (event: CacheEvent, evicted?: number): void => opts.onEvent?.(event, evicted);

  function open(keys: TenantCacheKeys, key: string, sealed: Buffer | undefined, maxAgeMs: number): CachedResponse | undefined {
    const plain = sealed === undefined ? undefined : openEntry(keys, key, sealed);
    const entry = plain === undefined ? undefined : decodeEntry(plain);
    if (entry === undefined || now() - entry.storedAt > maxAgeMs) {
      count('miss');
      return undefined;
    }
    count('hit');
    return entry;
  }

  return {
    keys: opts.keys,
    maxEntryBytes: opts.maxEntryBytes,
    store: opts.store,
    count,
    lookup(keys, key, maxAgeMs) {
      let got: Buffer | undefined | Promise<Buffer | undefined>;
      try {
        got = opts.store.get(keys.tenantId, key);
      } catch (err) {
        opts.onError?.(err);
        count('error');
        return undefined;
      }
      if (!(got instanceof Promise)) return open(keys, key, got, maxAgeMs);
      return got.then(
        (sealed) => open(keys, key, sealed, maxAgeMs),
        (err: unknown) => {
          opts.onError?.(err);
          count('error');
          return undefined;
        },
      );
    },
    async save(tenantId, normalized, entry, ttlMs, quotaBytes) {
      try {
        const keys = (await opts.keys.get(tenantId))?.keys;
        if (keys === undefined) {
          count('error');
          return 'error';
        }
        const key = cacheKey(keys.hmacKey, normalized);
        const sealed = sealEntry(keys, key, encodeEntry(entry));
        // In memory the per-tenant bound makes the tenant's own LRU entries give way (the store
        // knows it); Redis evicts nothing for room, so there the bound caps the quota instead.
        const room = opts.store.kind === 'memory' ? (quotaBytes ?? Infinity) : Math.min(quotaBytes ?? opts.maxTenantBytes, opts.maxTenantBytes);
        const result = await opts.store.set(tenantId, key, sealed, ttlMs, room);
        count(result.outcome, result.evicted);
        return result.outcome;
      } catch (err) {
        opts.onError?.(err);
        count('error');
        return 'error';
      }
    },
    close: () => opts.store.close(),
  };
}
