/**
 * Ships spooled usage events to the store in batches (DESIGN §5). A batch is read from the spool,
 * grouped by tenant and inserted with one tenant transaction per tenant (row-level security stays
 * in force: each group runs as gatehouse_app with its own tenant set). Only once every group
 * committed does the spool's checkpoint move past the batch; a failure keeps the same batch and
 * retries it with backoff, so a database outage only grows the spool and the backlog drains when
 * the database is back. Inserts are idempotent per event, so a batch shipped twice (a crash
 * between the commit and the checkpoint, or a group that committed before another failed) adds
 * nothing twice.
 */
import type { Logger } from 'pino';
import { isUniqueViolation, usageRepo, type Store } from '../store/index.js';
import { decodeEvent, type UsageEvent } from './event.js';
import type { ReadBatch, Spool } from './spool.js';

export interface ShipperOptions {
  spool: Spool;
  store: Store;
  /** Records per batch read from the spool. */
  batchSize: number;
  /** How long an idle shipper lets events gather before shipping what it has, ms. */
  lingerMs: number;
  /** Tenant transactions of one batch run at most this many at a time. */
  concurrency: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  logger?: Logger;
}

export interface ShipperStats {
  state: 'up' | 'down';
  shipped: number;
  /** Events inserted that the store did not have yet (shipped minus re-shipped duplicates). */
  inserted: number;
  batches: number;
  failures: number;
  /** Records that did not decode as events (skipped). */
  malformed: number;
}

export interface Shipper {
  /** Resolves once everything appended before the call is in the store (tests, benchmarks). */
  drain(timeoutMs?: number): Promise<void>;
  stats(): ShipperStats;
  /** Stops after the batch in flight; what is left stays in the spool for the next start. */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function startShipper(opts: ShipperOptions): Shipper {
  const { spool, store } = opts;
  const minBackoff = opts.minBackoffMs ?? 100;
  const maxBackoff = opts.maxBackoffMs ?? 5_000;
  const stats: ShipperStats = { state: 'up', shipped: 0, inserted: 0, batches: 0, failures: 0, malformed: 0 };
  let stopping = false;
  let wake: (() => void) | undefined;
  spool.onAppend(() => {
    const w = wake;
    if (w !== undefined) {
      wake = undefined;
      w();
    }
  });
  const idle = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  let stopWaiting: (() => void) | undefined;
  // The linger gathers events into one batch: each batch costs a transaction, a statement plan
  // and a checkpoint fsync, so a trickle of requests must not ship one small batch per event.
  // Only drain() and close() cut it short (appends do not).
  let stopLinger: (() => void) | undefined;
  const linger = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      stopLinger = () => {
        clearTimeout(t);
        resolve();
      };
    }).finally(() => (stopLinger = undefined));

  const ship = async (batch: ReadBatch): Promise<void> => {
    const byTenant = new Map<string, UsageEvent[]>();
    for (const r of batch.records) {
      const e = decodeEvent(r);
      if (e === undefined) {
        stats.malformed++;
        continue;
      }
      let group = byTenant.get(e.tenantId);
      if (group === undefined) byTenant.set(e.tenantId, (group = []));
      group.push(e);
    }
    let inserted = 0;
    await inParallel([...byTenant], opts.concurrency, async ([tenantId, events]) => {
      // Not `inserted += await ...`: that reads `inserted` before the await and loses the other workers' counts.
      // Nearly every batch is new: try the plain insert; a batch shipped again after a crash
      // (or carrying one event twice) meets the unique key, and goes through the idempotent one.
      const n = await store.withTenant(tenantId, (tx) => usageRepo.ingestNew(tx, events)).catch((err: unknown) => {
        if (!isUniqueViolation(err)) throw err;
        return store.withTenant(tenantId, (tx) => usageRepo.ingest(tx, events));
      });
      inserted += n;
    });
    await spool.commit(batch.next);
    stats.shipped += batch.records.length;
    stats.inserted += inserted;
    stats.batches++;
  };

  const loop = async (): Promise<void> => {
    let pending: ReadBatch | undefined;
    let backoff = minBackoff;
    let readAt = 0;
    while (!stopping) {
      if (pending === undefined) {
        const batch = await spool.read(opts.batchSize);
        if (batch.records.length === 0) {
          await idle(1_000);
          if (!stopping) await linger(opts.lingerMs);
          continue;
        }
        pending = batch;
        readAt = Date.now();
      }
      try {
        await ship(pending);
        const full = pending.records.length >= opts.batchSize;
        pending = undefined;
        backoff = minBackoff;
        // Under steady traffic the next read always finds something: without a pause the shipper
        // would ship whatever arrived during the last batch, in ever smaller batches that each
        // pay a transaction and a checkpoint (measured: ~20 events a batch and the embedded
        // store's thread busy with little else). So a partial batch is followed by the linger,
        // counted from its read: at most one batch per linger unless a backlog fills whole ones.
        if (!full && !stopping) await linger(opts.lingerMs - (Date.now() - readAt));
        if (stats.state === 'down') {
          stats.state = 'up';
          opts.logger?.info('usage shipping resumed');
        }
      } catch (err) {
        stats.failures++;
        if (stats.state === 'up') {
          stats.state = 'down';
          opts.logger?.error({ err }, 'usage shipping failed; events stay in the spool and are retried');
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, backoff * (0.5 + Math.random() / 2));
          stopWaiting = () => {
            clearTimeout(t);
            resolve();
          };
        });
        stopWaiting = undefined;
        backoff = Math.min(maxBackoff, backoff * 2);
      }
    }
  };
  const running = loop().catch((err: unknown) => opts.logger?.error({ err }, 'usage shipper stopped'));

  return {
    async drain(timeoutMs = 30_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (spool.stats().backlogBytes > 0) {
        if (Date.now() > deadline) throw new Error(`usage backlog did not drain in ${timeoutMs} ms`);
        wake?.();
        stopLinger?.();
        await sleep(10);
      }
    },
    stats: () => ({ ...stats }),
    async close(): Promise<void> {
      stopping = true;
      wake?.();
      stopLinger?.();
      stopWaiting?.();
      await running;
    },
  };
}
