/**
 * Audit entries from places that must not wait on the database (the data plane, DESIGN §2):
 * `enqueue` only records the event in memory; a timer appends what is queued in batches, one
 * tenant transaction per batch, through the same hash-chained `appendAudit` as every other entry.
 *
 * Bounded twice, so a flood of failures cannot become a flood of memory or of audit rows:
 * - the queue holds at most `maxQueued` events; beyond it events are dropped and counted;
 * - events given a throttle key (e.g. tenant + key + reason) are written at most once per
 *   `throttleMs`: the first one at once, later ones only counted, and when the window ends with
 *   attempts counted, one more entry stands for all of them (`attempts`, `first_at`, `last_at`)
 *   and a new window starts. A sustained flood on one key and reason thus writes one entry per
 *   window, however fast it comes.
 *
 * What is queued when the process dies is lost: these entries are evidence of attempts, not
 * records of changes (those are appended in the change's own transaction, see append.ts).
 */
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/index.js';
import { inParallel } from '../parallel.js';
import { appendAudit } from './append.js';
import type { AuditEvent } from './types.js';

export interface AuditQueueOptions {
  /** Flush period. */
  intervalMs?: number;
  /** Most events held between flushes (throttle windows not counted). */
  maxQueued?: number;
  /** Entries appended per tenant transaction: the tenant's chain head is locked meanwhile. */
  batchSize?: number;
  /** Tenant transactions run at once during a flush: leave the pool to the request path. */
  concurrency?: number;
  /** One entry per throttle key per window. */
  throttleMs?: number;
  /** Most throttle keys tracked at once; events with a new key are dropped beyond it. */
  maxThrottled?: number;
  /** Flushes an event may fail before it is given up (the database is down for that long). */
  maxTries?: number;
  logger?: Pick<Logger, 'warn' | 'error'>;
  now?: () => number;
}

export interface AuditQueueStats {
  queued: number;
  /** Open throttle windows. */
  throttled: number;
  /** Events lost: queue full, too many throttle keys, or failed too often. */
  dropped: number;
  /** Events counted into a throttled entry instead of written one by one. */
  suppressed: number;
  /** Entries appended so far. */
  written: number;
  failedFlushes: number;
}

export interface AuditQueue {
  /**
   * Queues `event` for `tenantId`'s chain. With `throttleKey`, at most one entry per key and
   * window (see above). O(1), never throws, never touches the database; false if not queued
   * (dropped, or counted into a throttle window).
   */
  enqueue(tenantId: string, event: AuditEvent, throttleKey?: string): boolean;
  /** Appends what is queued now (and the summaries of ended windows); resolves when done or failed. */
  flush(): Promise<void>;
  /** Stops the timer, ends every throttle window and flushes once more; later events are ignored. */
  close(): Promise<void>;
  stats(): AuditQueueStats;
}

interface Queued {
  tenantId: string;
  event: AuditEvent;
  tries: number;
}

/** A throttle window: when it ends, and the attempts counted in it after the first. */
interface Window {
  tenantId: string;
  until: number;
  count: number;
  firstAt: number;
  lastAt: number;
  /** The latest counted event: its source address and request id go into the summary. */
  last: AuditEvent | undefined;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function withAttempts(event: AuditEvent, attempts: number, firstAt: number, lastAt: number): AuditEvent {
  const after = event.after;
  const base = after !== null && typeof after === 'object' && !Array.isArray(after) ? (after as Record<string, unknown>) : { value: after };
  return {
    ...event,
    after: { ...base, attempts, first_at: new Date(firstAt).toISOString(), last_at: new Date(lastAt).toISOString() },
  };
}

export function createAuditQueue(store: Pick<Store, 'withTenant'>, opts: AuditQueueOptions = {}): AuditQueue {
  const intervalMs = opts.intervalMs ?? 1_000;
  const maxQueued = opts.maxQueued ?? 10_000;
  const batchSize = Math.max(1, opts.batchSize ?? 100);
  const concurrency = Math.max(1, opts.concurrency ?? 2);
  const throttleMs = opts.throttleMs ?? 10_000;
  const maxThrottled = opts.maxThrottled ?? 50_000;
  const maxTries = Math.max(1, opts.maxTries ?? 10);
  const now = opts.now ?? Date.now;

  let queue: Queued[] = [];
  const windows = new Map<string, Window>();
  const stats = { dropped: 0, suppressed: 0, written: 0, failedFlushes: 0 };
  let droppedReported = 0;
  let chain: Promise<void> = Promise.resolve();
  let closed = false;

  const timer = setInterval(() => void flush(), intervalMs);
  timer.unref(); // queued entries are not a reason to keep the process alive; close() flushes

  function push(item: Queued): boolean {
    if (queue.length >= maxQueued) {
      stats.dropped += 1;
      return false;
    }
    queue.push(item);
    return true;
  }

  function enqueue(tenantId: string, event: AuditEvent, throttleKey?: string): boolean {
    if (closed) return false;
    if (throttleKey === undefined) return push({ tenantId, event, tries: 0 });
    const at = now();
    const key = `${tenantId}\0${throttleKey}`;
    const open = windows.get(key);
    if (open !== undefined && at < open.until) {
      if (open.count === 0) open.firstAt = at;
      open.count += 1;
      open.lastAt = at;
      open.last = event;
      stats.suppressed += 1;
      return false;
    }
    if (open === undefined && windows.size >= maxThrottled) {
      stats.dropped += 1;
      return false;
    }
    // A window that ended unflushed with attempts in it: its summary goes first.
    if (open !== undefined) closeWindow(key, open);
    if (!push({ tenantId, event: withAttempts(event, 1, at, at), tries: 0 })) return false;
    windows.set(key, { tenantId, until: at + throttleMs, count: 0, firstAt: at, lastAt: at, last: undefined });
    return true;
  }

  /** Queues the summary of a window that counted attempts, and forgets the window. */
  function closeWindow(key: string, w: Window): void {
    windows.delete(key);
    if (w.count > 0 && w.last !== undefined) {
      push({ tenantId: w.tenantId, event: withAttempts(w.last, w.count, w.firstAt, w.lastAt), tries: 0 });
    }
  }

  /**
   * Ended windows: a summary when attempts were counted, and the window goes on (so a sustained
   * flood keeps writing one entry per window); a quiet window is forgotten. `all`: end every one.
   */
  function sweep(all: boolean): void {
    const at = now();
    for (const [key, w] of windows) {
      if (!all && at < w.until) continue;
      if (w.count > 0 && w.last !== undefined) {
        push({ tenantId: w.tenantId, event: withAttempts(w.last, w.count, w.firstAt, w.lastAt), tries: 0 });
        if (all) windows.delete(key);
        else windows.set(key, { tenantId: w.tenantId, until: at + throttleMs, count: 0, firstAt: at, lastAt: at, last: undefined });
      } else {
        windows.delete(key);
      }
    }
  }

  async function writeBatch(tenantId: string, items: Queued[]): Promise<void> {
    try {
      const written = await store.withTenant(tenantId, async (tx) => {
        let n = 0;
        for (const item of items) {
          try {
            await appendAudit(tx, item.event);
            n += 1;
          } catch (err) {
            // A malformed event is refused before any SQL runs (append.ts), leaving the
            // transaction usable: skip it rather than lose the batch.
            if (!(err instanceof RangeError)) throw err;
            stats.dropped += 1;
            opts.logger?.error({ err: message(err), tenant: tenantId, action: item.event.action }, 'audit: malformed event dropped');
          }
        }
        return n;
      });
      stats.written += written;
    } catch (err) {
      stats.failedFlushes += 1;
      opts.logger?.warn({ err: message(err), tenant: tenantId, entries: items.length }, 'audit: could not append queued entries; will retry');
      for (const item of items) {
        if (item.tries + 1 >= maxTries) stats.dropped += 1;
        else push({ ...item, tries: item.tries + 1 });
      }
    }
  }

  async function writeAll(endWindows: boolean): Promise<void> {
    sweep(endWindows);
    if (queue.length > 0) {
      const byTenant = new Map<string, Queued[]>();
      for (const item of queue) {
        const list = byTenant.get(item.tenantId);
        if (list === undefined) byTenant.set(item.tenantId, [item]);
        else list.push(item);
      }
      queue = [];
      // Each tenant's entries in order, in batches; tenants in parallel up to `concurrency`.
      await inParallel([...byTenant], concurrency, async ([tenantId, items]) => {
        for (let j = 0; j < items.length; j += batchSize) await writeBatch(tenantId, items.slice(j, j + batchSize));
      });
    }
    if (stats.dropped > droppedReported) {
      opts.logger?.warn({ dropped: stats.dropped - droppedReported, total: stats.dropped }, 'audit: entries dropped (queue full or database unavailable)');
      droppedReported = stats.dropped;
    }
  }

  /** Flushes run one after another, so a slow one never overlaps the next tick's. */
  function run(endWindows: boolean): Promise<void> {
    const work = () => writeAll(endWindows);
    chain = chain.then(work, work);
    return chain;
  }

  function flush(): Promise<void> {
    return run(false);
  }

  return {
    enqueue(tenantId, event, throttleKey) {
      try {
        return enqueue(tenantId, event, throttleKey);
      } catch {
        // Never the caller's problem: the request path must not fail because of its audit trail.
        stats.dropped += 1;
        return false;
      }
    },
    flush,
    async close() {
      if (closed) return chain;
      closed = true;
      clearInterval(timer);
      await run(true);
    },
    stats: () => ({ queued: queue.length, throttled: windows.size, ...stats }),
  };
}
