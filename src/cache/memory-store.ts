/**
 * The in-process cache store: bounded by bytes in total and per tenant, least recently used
 * first. Each tenant has its own LRU (a Map in use order: a get re-inserts), so making room for a
 * tenant only ever evicts that tenant's entries; when the whole cache is full and the tenant has
 * nothing left to give, the new entry is simply not stored. Expired entries are dropped when met.
 * The tenant's cache_bytes quota is different: a quota, not a memory bound. A tenant whose live
 * entries fill it gets nothing more stored until some expire (outcome 'quota'), as with Redis.
 *
 * An entry's size is its sealed bytes plus its key plus a fixed overhead for the bookkeeping,
 * and that is what counts against the cache_bytes quota too (redis-store.ts counts the same).
 */
import type { CacheStore, StoreResult } from './types.js';

export const ENTRY_OVERHEAD_BYTES = 96;

interface Entry {
  value: Buffer;
  size: number;
  expiresAt: number;
}

interface Bucket {
  entries: Map<string, Entry>;
  bytes: number;
}

export interface MemoryStoreOptions {
  /** All tenants together. */
  maxBytes: number;
  /** One tenant's entries (beyond it, its least recently used ones give way). */
  maxTenantBytes: number;
  now?: () => number;
}

export function entrySize(key: string, value: Buffer): number {
  return value.length + key.length + ENTRY_OVERHEAD_BYTES;
}

/** The memory store answers synchronously: a hit costs no promise. */
export interface MemoryStore extends CacheStore {
  get(tenantId: string, key: string): Buffer | undefined;
  set(tenantId: string, key: string, value: Buffer, ttlMs: number, quotaBytes: number): StoreResult;
  tenantBytes(tenantId: string): number;
}

export function createMemoryStore(opts: MemoryStoreOptions): MemoryStore {
  const now = opts.now ?? Date.now;
  const buckets = new Map<string, Bucket>();
  let total = 0;

  function drop(bucket: Bucket, key: string, e: Entry): void {
    bucket.entries.delete(key);
    bucket.bytes -= e.size;
    total -= e.size;
  }

  function purgeExpired(bucket: Bucket, at: number): void {
    for (const [k, e] of bucket.entries) if (e.expiresAt <= at) drop(bucket, k, e);
  }

  /** Evicts the bucket's least recently used entries until `fits()`; the count evicted. */
  function evictUntil(bucket: Bucket, fits: () => boolean): number {
    let n = 0;
    for (const [k, e] of bucket.entries) {
      if (fits()) break;
      drop(bucket, k, e);
      n++;
    }
    return n;
  }

  return {
    kind: 'memory',
    get(tenantId, key): Buffer | undefined {
      const bucket = buckets.get(tenantId);
      const e = bucket?.entries.get(key);
      if (bucket === undefined || e === undefined) return undefined;
      if (e.expiresAt <= now()) {
        drop(bucket, key, e);
        return undefined;
      }
      bucket.entries.delete(key);
      bucket.entries.set(key, e);
      return e.value;
    },

    set(tenantId, key, value, ttlMs, quotaBytes): StoreResult {
      const size = entrySize(key, value);
      const at = now();
      let bucket = buckets.get(tenantId);
      if (bucket === undefined) {
        bucket = { entries: new Map(), bytes: 0 };
        buckets.set(tenantId, bucket);
      }
      const old = bucket.entries.get(key);
      if (old !== undefined) drop(bucket, key, old);
      const b = bucket;
      if (b.bytes + size > quotaBytes) purgeExpired(b, at);
      if (b.bytes + size > quotaBytes) {
        if (b.entries.size === 0) buckets.delete(tenantId);
        return { outcome: 'quota', evicted: 0 };
      }
      // The tenant's memory bound first, then the cache's: both give way only by this tenant's LRU.
      if (b.bytes + size > opts.maxTenantBytes) purgeExpired(b, at);
      let evicted = evictUntil(b, () => b.bytes + size <= opts.maxTenantBytes);
      if (b.bytes + size > opts.maxTenantBytes) return { outcome: 'full', evicted };
      if (total + size > opts.maxBytes) {
        purgeExpired(b, at);
        evicted += evictUntil(b, () => total + size <= opts.maxBytes);
        if (total + size > opts.maxBytes) {
          if (b.entries.size === 0) buckets.delete(tenantId);
          return { outcome: 'full', evicted };
        }
      }
      b.entries.set(key, { value, size, expiresAt: at + ttlMs });
      b.bytes += size;
      total += size;
      return { outcome: 'stored', evicted };
    },

    bytes: () => total,
    tenantBytes: (tenantId) => buckets.get(tenantId)?.bytes ?? 0,
    async close() {
      buckets.clear();
      total = 0;
    },
  };
}
