/**
 * Each tenant's cache state: its opt-in (tenant settings `cache`) and, when opted in, its cache
 * keys (seal.ts) derived from its active data key. Both are read in the tenant's own transaction
 * (the platform role that loads the hot-path snapshot may not read tenant settings, DESIGN §3.1)
 * and held in memory, so no request waits on the database: a tenant's first model request on an
 * instance starts the load and goes uncached; later ones see the state. A change of the tenant's
 * row moves its `updatedAtMs` in the snapshot (on every replica, within the NOTIFY's second): the
 * state read for an older revision is then not used at all (the request goes uncached, so an
 * opt-out is never served from a stale opt-in) and is re-read. It is also re-read every
 * `refreshMs` in the background (the old state serves meanwhile), which bounds what no
 * notification announces (a shredded data key). When the keys cannot be derived any more
 * because the tenant's data keys were destroyed (crypto-shredding) or it is scheduled for
 * deletion, the state drops them and every entry sealed under them is unreadable from then on,
 * wherever it is stored.
 */
import { dataKeyForEncryption } from '../crypto/tenant-keys.js';
import type { Keyring } from '../crypto/keyring.js';
import { planFeaturesOf } from '../billing/service.js';
import { tenantsRepo, type Store } from '../store/index.js';
import { deriveCacheKeys, type TenantCacheKeys } from './seal.js';
import { cacheSettingsOf } from './settings.js';
import type { TenantCacheSettings } from './types.js';

export interface TenantCacheState {
  /** undefined: the tenant has not opted in. */
  settings: TenantCacheSettings | undefined;
  /** undefined when not opted in, or when no data key can be used (shredded). */
  keys: TenantCacheKeys | undefined;
}

/**
 * Per-tenant state read in the tenant's transaction and held for the hot path. Generic: the
 * request log (src/logs/) keeps its opt-in the same way.
 */
export interface TenantStateSource<S> {
  /**
   * The tenant's state if this process holds it for the tenant's current revision (its snapshot
   * `updatedAtMs`; undefined: any); otherwise starts loading it. Never waits.
   */
  peek(tenantId: string, revision?: number): S | undefined;
  /** The tenant's state, loading it if needed; undefined when it cannot be read. */
  get(tenantId: string): Promise<S | undefined>;
  /** Forgets a tenant's state now (tests, shredding in this process). */
  forget(tenantId: string): void;
  /**
   * Re-reads a tenant's state now if this process holds it (after a change made here), keeping
   * the old state serving until the new one is read; resolves once it is.
   */
  reload(tenantId: string): Promise<void>;
}

export type CacheKeySource = TenantStateSource<TenantCacheState>;

export interface KeySourceOptions<S = TenantCacheState> {
  load(tenantId: string): Promise<S>;
  /** State older than this is re-read (in the background; the old one serves meanwhile). */
  refreshMs: number;
  /** After a failed load, the next attempt waits this long (a broken tenant must not hammer the database). */
  retryMs: number;
  /** Tenants whose state is held; the least recently added are dropped beyond it. */
  maxTenants: number;
  onError?: (tenantId: string, err: unknown) => void;
  now?: () => number;
}

interface Slot<S> {
  state: S | undefined;
  at: number;
  pending: Promise<S | undefined> | undefined;
  /** The tenant revision the last load was started for; a load reads at least that revision. */
  revision: number | undefined;
  /** The revision the pending load was started for. */
  pendingRevision: number | undefined;
}

export function createKeySource<S = TenantCacheState>(opts: KeySourceOptions<S>): TenantStateSource<S> {
  const now = opts.now ?? Date.now;
  const slots = new Map<string, Slot<S>>();

  function load(tenantId: string, slot: Slot<S>, revision?: number): Promise<S | undefined> {
    if (slot.pending !== undefined) return slot.pending;
    // Captured before reading: the read sees this revision or a newer one, never an older one.
    slot.pendingRevision = revision ?? slot.revision;
    slot.pending = opts.load(tenantId).then(
      (state) => {
        slot.revision = slot.pendingRevision;
        slot.state = state;
        slot.at = now();
        slot.pending = undefined;
        return state;
      },
      (err: unknown) => {
        slot.revision = slot.pendingRevision;
        slot.state = undefined;
        slot.at = now();
        slot.pending = undefined;
        opts.onError?.(tenantId, err);
        return undefined;
      },
    );
    return slot.pending;
  }

  function slotOf(tenantId: string): Slot<S> {
    let slot = slots.get(tenantId);
    if (slot === undefined) {
      slot = { state: undefined, at: -Infinity, pending: undefined, revision: undefined, pendingRevision: undefined };
      slots.set(tenantId, slot);
      if (slots.size > opts.maxTenants) {
        const oldest = slots.keys().next().value;
        if (oldest !== undefined) slots.delete(oldest);
      }
    }
    return slot;
  }

  function due(slot: Slot<S>): boolean {
    const age = now() - slot.at;
    return slot.pending === undefined && (slot.state === undefined ? age >= opts.retryMs : age >= opts.refreshMs);
  }

  return {
    peek(tenantId, revision) {
      const slot = slotOf(tenantId);
      if (revision !== undefined && slot.revision !== revision) {
        // The tenant changed since this state was read (or it was never read for this revision):
        // read it again, and until then use none. A pending load started for an older revision
        // is let finish; the next request sees the revisions differ and starts another.
        void load(tenantId, slot, revision);
        return undefined;
      }
      if (due(slot)) void load(tenantId, slot, revision);
      return slot.state;
    },
    async get(tenantId) {
      const slot = slotOf(tenantId);
      if (slot.pending !== undefined) return slot.pending;
      if (due(slot)) return load(tenantId, slot);
      return slot.state;
    },
    forget(tenantId) {
      slots.delete(tenantId);
    },
    async reload(tenantId) {
      const slot = slots.get(tenantId);
      if (slot === undefined) return;
      // A load already running may have read the state from before the change: read again after it.
      if (slot.pending !== undefined) await slot.pending;
      await load(tenantId, slot);
    },
  };
}

/**
 * Reads a tenant's opt-in and, when it is on, derives its cache keys from its active data key
 * (one counted use per derivation). A tenant whose data key cannot be used keeps its settings
 * and gets no keys: nothing is served or stored for it.
 */
export function storeKeyLoader(
  store: Pick<Store, 'withTenant'>,
  keyring: Keyring,
  onKeyError?: (tenantId: string, err: unknown) => void,
): (tenantId: string) => Promise<TenantCacheState> {
  return (tenantId) =>
    store.withTenant(tenantId, async (tx) => {
      const row = await tenantsRepo.get(tx);
      const settings = cacheSettingsOf(row?.settings);
      if (settings === undefined) return { settings, keys: undefined };
      // Caching is a plan feature: an opt-in on a plan without it caches nothing.
      if (!(await planFeaturesOf(tx)).caching) return { settings: undefined, keys: undefined };
      try {
        const { version, dataKey } = await dataKeyForEncryption(tx, keyring);
        return { settings, keys: deriveCacheKeys(tenantId, version, dataKey) };
      } catch (err) {
        onKeyError?.(tenantId, err);
        return { settings, keys: undefined };
      }
    });
}
