/**
 * API keys hashed with a previous master key's pepper (before a rotation) are moved onto the
 * current pepper the first time they authenticate: the authenticate stage reports the two
 * hashes, never the key, and this queue writes them off the request path, one compare-and-set
 * UPDATE per tenant and flush. The write notifies the snapshot (the hash is snapshot data), so
 * every replica then verifies the key with the current pepper; once all keys in use have moved,
 * GATEHOUSE_MASTER_KEY_PREVIOUS can be dropped.
 */
import type { Logger } from '../observability/logger.js';
import { apiKeysRepo, type Store } from '../store/index.js';

export interface KeyRehash {
  /** Records a move. O(1), never throws, never touches the database. */
  report(tenantId: string, keyId: string, from: Buffer, to: Buffer): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Keys moved so far by this process. */
  moved(): number;
}

/** More than this many keys waiting means a burst after a rotation: the rest move on their next use. */
const MAX_PENDING = 10_000;

export function createKeyRehash(store: Pick<Store, 'withTenant'>, logger: Pick<Logger, 'warn'>, intervalMs = 1_000): KeyRehash {
  let pending = new Map<string, Map<string, { from: Buffer; to: Buffer }>>();
  let size = 0;
  let moved = 0;
  let chain: Promise<void> = Promise.resolve();
  const timer = setInterval(() => void flush(), intervalMs);
  timer.unref();

  function flush(): Promise<void> {
    chain = chain.then(async () => {
      if (size === 0) return;
      const batch = pending;
      pending = new Map();
      size = 0;
      for (const [tenantId, keys] of batch) {
        const moves = [...keys].map(([id, m]) => ({ id, ...m }));
        try {
          moved += await store.withTenant(tenantId, (tx) => apiKeysRepo.rehash(tx, moves));
        } catch (err) {
          // Nothing lost: the key still matches the previous pepper and reports again on a later use.
          logger.warn({ err, tenantId }, 'moving API key hashes onto the current master key failed');
        }
      }
    });
    return chain;
  }

  return {
    report(tenantId, keyId, from, to) {
      let keys = pending.get(tenantId);
      if (keys?.has(keyId) === true || size >= MAX_PENDING) return;
      if (keys === undefined) pending.set(tenantId, (keys = new Map()));
      keys.set(keyId, { from, to });
      size += 1;
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
    },
    moved: () => moved,
  };
}
