/**
 * Each tenant's cache keys (seal.ts), derived from its active data key and held in memory, so no
 * request waits on the database for them: a tenant's first cacheable request starts the load and
 * is a miss (its answer is stored once the keys are there, off the request path). Keys are
 * re-derived every `refreshMs` in the background; when that fails because the tenant's keys were
 * destroyed (crypto-shredding) or it is scheduled for deletion, the keys are dropped and every
 * entry sealed under them is unreadable from then on, wherever it is stored.
 */
import { dataKeyForEncryption } from '../crypto/tenant-keys.js';
import type { Keyring } from '../crypto/keyring.js';
import type { Store } from '../store/index.js';
import { deriveCacheKeys, type TenantCacheKeys } from './seal.js';

export interface CacheKeySource {
  /** The tenant's keys if this process holds them; otherwise starts loading them. Never waits. */
  peek(tenantId: string): TenantCacheKeys | undefined;
  /** The tenant's keys, loading them if needed; undefined when the tenant has no usable data key. */
  get(tenantId: string): Promise<TenantCacheKeys | undefined>;
  /** Forgets a tenant's keys now (tests, shredding in this process). */
  forget(tenantId: string): void;
}

export interface KeySourceOptions {
  load(tenantId: string): Promise<TenantCacheKeys>;
  /** Keys older than this are re-derived (in the background; the old ones serve meanwhile). */
  refreshMs: number;
  /** After a failed load, the next attempt waits this long (a broken tenant must not hammer the database). */
  retryMs: number;
  /** Tenants whose keys are held; the least recently used are dropped beyond it. */
  maxTenants: number;
  onError?: (tenantId: string, err: unknown) => void;
  now?: () => number;
}

interface Slot {
  keys: TenantCacheKeys | undefined;
  at: number;
  pending: Promise<TenantCacheKeys | undefined> | undefined;
}

export function createKeySource(opts: KeySourceOptions): CacheKeySource {
  const now = opts.now ?? Date.now;
  const slots = new Map<string, Slot>();

  function load(tenantId: string, slot: Slot): Promise<TenantCacheKeys | undefined> {
    slot.pending ??= opts.load(tenantId).then(
      (keys) => {
        slot.keys = keys;
        slot.at = now();
        slot.pending = undefined;
        return keys;
      },
      (err: unknown) => {
        slot.keys = undefined;
        slot.at = now();
        slot.pending = undefined;
        opts.onError?.(tenantId, err);
        return undefined;
      },
    );
    return slot.pending;
  }

  function slotOf(tenantId: string): Slot {
    let slot = slots.get(tenantId);
    if (slot === undefined) {
      slot = { keys: undefined, at: -Infinity, pending: undefined };
      slots.set(tenantId, slot);
      if (slots.size > opts.maxTenants) {
        const oldest = slots.keys().next().value;
        if (oldest !== undefined) slots.delete(oldest);
      }
    }
    return slot;
  }

  function due(slot: Slot): boolean {
    const age = now() - slot.at;
    return slot.pending === undefined && (slot.keys === undefined ? age >= opts.retryMs : age >= opts.refreshMs);
  }

  return {
    peek(tenantId) {
      const slot = slotOf(tenantId);
      if (due(slot)) void load(tenantId, slot);
      return slot.keys;
    },
    async get(tenantId) {
      const slot = slotOf(tenantId);
      if (slot.pending !== undefined) return slot.pending;
      if (due(slot)) return load(tenantId, slot);
      return slot.keys;
    },
    forget(tenantId) {
      slots.delete(tenantId);
    },
  };
}

/** Loads a tenant's cache keys from its active data key (one counted use per derivation). */
export function storeKeyLoader(store: Pick<Store, 'withTenant'>, keyring: Keyring): (tenantId: string) => Promise<TenantCacheKeys> {
  return (tenantId) =>
    store.withTenant(tenantId, async (tx) => {
      const { version, dataKey } = await dataKeyForEncryption(tx, keyring);
      return deriveCacheKeys(tenantId, version, dataKey);
    });
}
