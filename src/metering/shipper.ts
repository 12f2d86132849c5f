/**
 * Ships spooled usage events to the store in batches (DESIGN §5). A batch is read from the spool,
 * grouped by tenant and inserted with one tenant transaction per tenant (row-level security stays
 * in force: each group runs as gatehouse_app with its own tenant set). Only once every group
 * committed does the spool's checkpoint move past the batch; a failure keeps the same batch and
 * retries it with backoff, so a database outage only grows the spool and the backlog drains when
 * the database is back. Inserts are idempotent per event, so a batch shipped twice (a crash
 * between the commit and the checkpoint, or a group that committed before another failed) adds
 * nothing twice. Records the store cannot take as they are (malformed, or an event the database
 * refuses for what it holds) are set aside (rejects.ts) instead of failing their batch forever.
 */
import type { Logger } from 'pino';
import { inParallel } from '../parallel.js';
import { isDataError, sqlState, usageRepo, writeIsolating, type Store } from '../store/index.js';
import { decodeEvent, type UsageEvent } from './event.js';
import type { RejectedRecord, Rejects } from './rejects.js';
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
  /** Where records the store cannot take are set aside; without it they are only counted and logged. */
  rejects?: Rejects;
  logger?: Logger;
}

/** One tenant's events of a batch, and the spool records they came from (same order). */
interface Group {
  events: UsageEvent[];
  records: Buffer[];
}

export interface ShipperStats {
  state: 'up' | 'down';
  shipped: number;
  /** Events inserted that the store did not have yet (shipped minus re-shipped duplicates). */
  inserted: number;
  batches: number;
  failures: number;
  /** Records that did not decode as events (set aside). */
  malformed: number;
  /** Events the database refused for what they hold (set aside). */
  rejected: number;
}

export interface Shipper {
  /** Resolves once everything appended before the call is in the store (tests, benchmarks). */
  drain(timeoutMs?: number): Promise<void>;
  stats(): ShipperStats;
  /** Stops after the batch in flight; what is left stays in the spool for the next start. */
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function startShipper(opts: ShipperOptions): Shipper {
  const { spool, store } = opts;
  const minBackoff = opts.minBackoffMs ?? 100;
  const maxBackoff = opts.maxBackoffMs ?? 5_000;
  const stats: ShipperStats = { state: 'up', shipped: 0, inserted: 0, batches: 0, failures: 0, malformed: 0, rejected: 0 };
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

  /**
   * Inserts one tenant's events. Nearly every batch is new: the plain insert first. A batch
   * shipped again after a crash (or carrying one event twice) meets the unique key and goes
   * through the idempotent insert; so does one the database refuses for what an event holds,
   * which is then halved until the events it refuses stand alone and are set aside (writeIsolating,
   * src/store/errors.ts): a bad event costs a few transactions, never the events around it.
   */
  const ingestGroup = async (tenantId: string, group: Group, rejected: RejectedRecord[]): Promise<number> => {
    try {
      return await store.withTenant(tenantId, (tx) => usageRepo.ingestNew(tx, group.events));
    } catch (err) {
      if (!isDataError(err)) throw err;
      return ingestOrIsolate(tenantId, group, rejected);
    }
  };
  const ingestOrIsolate = async (tenantId: string, group: Group, rejected: RejectedRecord[]): Promise<number> => {
    let inserted = 0;
    await writeIsolating(
      group.events.map((_, i) => i),
      async (part) => {
        const n = await store.withTenant(tenantId, (tx) => usageRepo.ingest(tx, part.map((i) => group.events[i] as UsageEvent)));
        inserted += n;
      },
      (i, err) => {
        const reason = err instanceof Error ? err.message : String(err);
        rejected.push({ record: group.records[i] as Buffer, reason, sqlState: sqlState(err), tenantId });
      },
    );
    return inserted;
  };

  const setAside = async (rejected: readonly RejectedRecord[]): Promise<void> => {
    const kept = opts.rejects === undefined ? 0 : await opts.rejects.put(rejected);
    const refused = rejected.filter((r) => r.sqlState !== undefined);
    stats.rejected += refused.length;
    stats.malformed += rejected.length - refused.length;
    opts.logger?.error(
      {
        records: rejected.length,
        keptInFile: kept,
        refused: refused.map((r) => ({ tenant: r.tenantId, sqlState: r.sqlState, reason: r.reason })).slice(0, 10),
      },
      'usage records set aside: the store cannot take them as they are',
    );
  };

  const ship = async (batch: ReadBatch): Promise<void> => {
    const byTenant = new Map<string, Group>();
    const rejected: RejectedRecord[] = [];
    for (const r of batch.records) {
      const e = decodeEvent(r);
      if (e === undefined) {
        rejected.push({ record: r, reason: 'malformed' });
        continue;
      }
      let group = byTenant.get(e.tenantId);
      if (group === undefined) byTenant.set(e.tenantId, (group = { events: [], records: [] }));
      group.events.push(e);
      group.records.push(r);
    }
    let inserted = 0;
    await inParallel([...byTenant], opts.concurrency, async ([tenantId, group]) => {
      // Not `inserted += await ...`: that reads `inserted` before the await and loses the other workers' counts.
      const n = await ingestGroup(tenantId, group, rejected);
      inserted += n;
    });
    // Set aside (and synced) before the checkpoint lets go of them.
    if (rejected.length > 0) await setAside(rejected);
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
