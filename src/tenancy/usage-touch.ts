/**
 * `last_used_at` of API keys, written asynchronously (issue 4): the authenticate stage calls
 * `touch(keyId, tenantId)`, which only records the use in memory, and a timer flushes the
 * batch every few seconds with one UPDATE per tenant inside that tenant's transaction. The
 * request path never waits on, or fails because of, the database (DESIGN §2).
 *
 * The figure is approximate by design: up to one interval late, and uses recorded while the
 * buffer is full or the database is down may be dropped (counted in stats). Memory is bounded
 * by `maxPending` distinct keys, whatever the traffic.
 */
import type { Logger } from '../observability/logger.js';
import { keyUsageRepo, type KeyUse, type Store } from '../store/index.js';
import { inParallel } from '../parallel.js';

export interface KeyTouchOptions {
  /** Flush period. */
  intervalMs?: number;
  /** Most distinct keys held between flushes; uses of further keys are dropped until a flush. */
  maxPending?: number;
  /** Tenant transactions run at once during a flush: leave the pool to the request path. */
  concurrency?: number;
  logger?: Pick<Logger, 'warn'>;
  now?: () => number;
}

export interface KeyTouchStats {
  pending: number;
  /** Uses not recorded because the buffer was full. */
  dropped: number;
  /** Rows updated by flushes so far. */
  written: number;
  failedFlushes: number;
}

export interface KeyTouch {
  /** Records a use. O(1), never throws, never touches the database. */
  touch(keyId: string, tenantId: string): void;
  /** Writes what is pending now; resolves when written (or failed and logged). */
  flush(): Promise<void>;
  /** Stops the timer and flushes once more; later touches are ignored. */
  close(): Promise<void>;
  stats(): KeyTouchStats;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export function createKeyTouch(store: Pick<Store, 'withTenant'>, opts: KeyTouchOptions = {}): KeyTouch {
  const intervalMs = opts.intervalMs ?? 5_000;
  const maxPending = opts.maxPending ?? 100_000;
  const concurrency = Math.max(1, opts.concurrency ?? 2);
  const now = opts.now ?? Date.now;

  /** tenant id → key id → latest use (epoch ms). */
  let pending = new Map<string, Map<string, number>>();
  let size = 0;
  const stats = { dropped: 0, written: 0, failedFlushes: 0 };
  let chain: Promise<void> = Promise.resolve();
  let closed = false;
  let earlyFlush = false;

  const timer = setInterval(() => void flush(), intervalMs);
  timer.unref(); // pending uses are not a reason to keep the process alive; close() flushes

  function record(tenantId: string, keyId: string, at: number): boolean {
    let keys = pending.get(tenantId);
    const known = keys?.has(keyId) ?? false;
    if (!known && size >= maxPending) return false;
    if (keys === undefined) {
      keys = new Map();
      pending.set(tenantId, keys);
    }
    if (!known) size += 1;
    const prev = keys.get(keyId);
    if (prev === undefined || prev < at) keys.set(keyId, at);
    return true;
  }

  function touch(keyId: string, tenantId: string): void {
    if (closed) return;
    if (record(tenantId, keyId, now())) return;
    stats.dropped += 1;
    if (!earlyFlush) {
      // Full: flush soon rather than drop for the rest of the interval; off the request path.
      earlyFlush = true;
      setImmediate(() => void flush());
    }
  }

  async function writeTenant(tenantId: string, keys: Map<string, number>): Promise<void> {
    const uses: KeyUse[] = [];
    for (const [keyId, at] of keys) uses.push({ keyId, at });
    try {
      // Awaited first: `stats.written += await ...` would read the counter before the await and
      // lose the other worker's additions.
      const written = await store.withTenant(tenantId, (tx) => keyUsageRepo.touch(tx, uses));
      stats.written += written;
    } catch (err) {
      stats.failedFlushes += 1;
      opts.logger?.warn({ err: message(err), tenant: tenantId, keys: uses.length }, 'could not record API key use; will retry');
      // Put them back for the next flush, as far as the bound allows (newer uses win).
      for (const u of uses) record(tenantId, u.keyId, u.at);
    }
  }

  async function writeBatch(): Promise<void> {
    earlyFlush = false;
    if (size === 0) return;
    const batch = [...pending];
    pending = new Map();
    size = 0;
    await inParallel(batch, concurrency, ([tenantId, uses]) => writeTenant(tenantId, uses));
  }

  /** Flushes run one after another, so a slow one never overlaps the next tick's. */
  function flush(): Promise<void> {
    chain = chain.then(writeBatch, writeBatch);
    return chain;
  }

  return {
    touch,
    flush,
    async close() {
      if (closed) return chain;
      closed = true;
      clearInterval(timer);
      await flush();
    },
    stats: () => ({ pending: size, ...stats }),
  };
}
