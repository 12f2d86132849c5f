/**
 * The request log's background writer. `offer` is all the request path does: an O(1) push onto a
 * bounded in-memory queue (entries and the bytes they hold on to), or a counted drop when it is
 * full (or more than half full and the tenant already holds a quarter of it: one tenant's flood
 * leaves room for the others). Logs are best-effort, unlike usage events (src/metering/): nothing
 * is spooled, a full queue, a full log_bytes quota or a failed write loses entries (counted),
 * never a request, and what is queued when the process dies is lost.
 *
 * A timer (and a full batch) drains the queue: entries are grouped by tenant, and each group is
 * written in one tenant transaction that locks the tenant's usage row, turns each entry's content
 * into text (src/logs/content.ts), checks the quota, seals the contents with the tenant's data key
 * (associated data: tenant, table, row id, column; the batch's key uses counted in one statement)
 * and inserts the batch in one statement. A batch the database refuses for what an entry holds (a
 * data error) is halved until the refused entries stand alone (writeIsolating, as usage shipping
 * does): they are dropped and counted, the other entries of the batch are written.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { isDataError, requestLogsRepo, sqlState, writeIsolating, type FieldSealer, type NewRequestLog, type Store, type TenantTx } from '../store/index.js';
import { buildContent } from './content.js';
import type { PendingLog } from './entry.js';

/**
 * What an entry counts against log_bytes besides its sealed content: its row and index entries
 * in PostgreSQL, roughly. Metadata-only logs are then bounded by the quota too.
 */
export const ENTRY_META_BYTES = 256;
/** Sealing adds format byte, key version, IV and tag (src/crypto/envelope.ts). */
const SEAL_OVERHEAD = 1 + 4 + 12 + 16;

export type LogOutcome =
  /** Written to the store. */
  | 'written'
  /** The queue was full: dropped before anything was done with it. */
  | 'queue_full'
  /** The tenant's log_bytes quota had no room. */
  | 'quota'
  /** The write failed (database down, sealing): the entries of that tenant batch not written yet are lost. */
  | 'error'
  /** The database refused the entry for what it holds (a data error); the rest of its batch is written. */
  | 'refused'
  /** The client opted out (`x-gatehouse-log: off`). */
  | 'opted_out';

export interface LogWriterOptions {
  store: Pick<Store, 'withTenant'>;
  sealer: FieldSealer;
  /** Content text kept per entry (request and response together). */
  maxEntryBytes: number;
  /** Most entries queued; later ones are dropped until the writer catches up. */
  maxQueued: number;
  /** Most bytes queued entries (and those being written) may hold on to (request bodies, captured responses). */
  maxQueuedBytes: number;
  /** Entries per tenant transaction. */
  batchSize: number;
  intervalMs: number;
  onEvent?: (outcome: LogOutcome, n: number) => void;
  logger?: Pick<Logger, 'warn'>;
}

export interface LogWriterStats {
  queued: number;
  queuedBytes: number;
  written: number;
  dropped: number;
}

export interface LogWriter {
  /** Queues a finished request's entry; false (and counted) when the queue is full. Never throws. */
  offer(entry: PendingLog): boolean;
  /** Writes what is queued now; resolves when done (or failed, counted). */
  flush(): Promise<void>;
  count(outcome: LogOutcome): void;
  stats(): LogWriterStats;
  /** Stops the timer and writes what is queued once more; later offers are dropped. */
  close(): Promise<void>;
}

/**
 * The insert of a batch failed on what its entries hold. Only this is worth halving the batch for:
 * a data error elsewhere (the tenant's usage row, when the tenant is gone) fails every part alike.
 */
class EntriesRefused extends Error {
  readonly sqlState: string | undefined;
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.sqlState = sqlState(cause);
  }
}
const entriesRefused = (err: unknown): boolean => err instanceof EntriesRefused;

export function createLogWriter(opts: LogWriterOptions): LogWriter {
  let queue: PendingLog[] = [];
  let queuedBytes = 0;
  /** Bytes of entries taken off the queue and not written yet: still held, so still bounded. */
  let writingBytes = 0;
  /** What each tenant's entries (queued or being written) hold. */
  const heldBy = new Map<string, { entries: number; bytes: number }>();
  const release = (e: PendingLog): void => {
    const held = heldBy.get(e.tenantId);
    if (held === undefined) return;
    held.entries--;
    held.bytes -= e.heldBytes;
    if (held.entries <= 0) heldBy.delete(e.tenantId);
  };
  let closed = false;
  let running: Promise<void> | undefined;
  let kicked = false;
  let warnedAt = 0;
  const totals = { written: 0, dropped: 0 };

  const count = (outcome: LogOutcome, n = 1): void => {
    if (n <= 0) return;
    if (outcome === 'written') totals.written += n;
    else if (outcome !== 'opted_out') totals.dropped += n;
    opts.onEvent?.(outcome, n);
  };

  function warn(fields: Record<string, unknown>, msg: string): void {
    // One line per 10 s at most: a database outage must not become a line per batch.
    const now = Date.now();
    if (now - warnedAt < 10_000) return;
    warnedAt = now;
    opts.logger?.warn(fields, msg);
  }

  /** One tenant transaction: the entries that fit the quota, sealed and inserted in one statement. */
  async function writeEntries(tx: TenantTx, items: readonly PendingLog[], quota: number | undefined): Promise<{ written: number; overQuota: number }> {
    const before = await requestLogsRepo.lockUsage(tx);
    let used = before.bytes;
    let over = 0;
    // First what fits (the sealed size is known before sealing), then one sealing of the
    // batch: its key uses are counted in one statement, not one per entry.
    const kept: { e: PendingLog; id: string; plain: Buffer | undefined; truncated: boolean }[] = [];
    for (const e of items) {
      const doc = e.content === undefined ? undefined : buildContent(e.content, opts.maxEntryBytes);
      const plain = doc === undefined ? undefined : Buffer.from(JSON.stringify(doc), 'utf8');
      const bytes = ENTRY_META_BYTES + (plain === undefined ? 0 : plain.length + SEAL_OVERHEAD);
      if (quota !== undefined && used + bytes > quota) {
        over += 1;
        continue;
      }
      used += bytes;
      kept.push({ e, id: randomUUID(), plain, truncated: doc !== undefined && (doc.request_truncated || doc.response_truncated) });
    }
    const toSeal = kept.filter((k): k is typeof k & { plain: Buffer } => k.plain !== undefined);
    const sealed = await opts.sealer.sealMany(
      tx,
      toSeal.map((k) => ({ field: { table: 'request_logs', recordId: k.id, column: 'content' }, plaintext: k.plain })),
    );
    const contentOf = new Map(toSeal.map((k, i) => [k.id, sealed[i] ?? null]));
    let stored = 0;
    const rows: NewRequestLog[] = kept.map(({ e, id, truncated }) => {
      const content = contentOf.get(id) ?? null;
      const bytes = ENTRY_META_BYTES + (content?.ciphertext.length ?? 0);
      stored += bytes;
      return {
        id,
        requestId: e.requestId,
        occurredAt: e.occurredAt,
        keyId: e.keyId,
        teamId: e.teamId,
        endUser: e.endUser,
        operation: e.operation,
        model: e.model,
        deploymentId: e.deploymentId,
        status: e.status,
        latencyMs: e.latencyMs,
        inputTokens: e.inputTokens,
        outputTokens: e.outputTokens,
        streamed: e.streamed,
        clientAborted: e.clientAborted,
        cacheHit: e.cacheHit,
        content,
        contentTruncated: truncated,
        bytes,
      };
    });
    await requestLogsRepo.insert(tx, rows).catch((err: unknown) => {
      throw isDataError(err) ? new EntriesRefused(err) : err;
    });
    if (rows.length > 0) await requestLogsRepo.addUsage(tx, { bytes: stored, entries: rows.length });
    return { written: rows.length, overQuota: over };
  }

  async function writeTenant(tenantId: string, items: readonly PendingLog[]): Promise<void> {
    // The latest snapshot's quota: a limit changed while entries waited applies to all of them.
    const quota = items[items.length - 1]?.quotaBytes;
    let written = 0;
    let overQuota = 0;
    let refused = 0;
    let refusal: unknown;
    try {
      await writeIsolating(
        items,
        async (part) => {
          const r = await opts.store.withTenant(tenantId, (tx) => writeEntries(tx, part, quota));
          written += r.written;
          overQuota += r.overQuota;
        },
        (_e, err) => {
          refused += 1;
          refusal = err;
        },
        entriesRefused,
      );
    } catch (err) {
      count('error', items.length - written - overQuota - refused);
      warn({ err: err instanceof Error ? err.message : String(err), tenant: tenantId, entries: items.length }, 'request log: entries could not be written and were dropped');
    }
    count('written', written);
    count('quota', overQuota);
    count('refused', refused);
    if (refused > 0) {
      const err = refusal instanceof EntriesRefused ? refusal : undefined;
      warn({ err: err?.message, sqlState: err?.sqlState, tenant: tenantId, entries: refused }, 'request log: entries the database refused were dropped');
    }
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const taken = queue;
      queue = [];
      queuedBytes = 0;
      const byTenant = new Map<string, PendingLog[]>();
      for (const e of taken) {
        const list = byTenant.get(e.tenantId);
        if (list === undefined) byTenant.set(e.tenantId, [e]);
        else list.push(e);
      }
      for (const e of taken) writingBytes += e.heldBytes;
      for (const [tenantId, items] of byTenant) {
        for (let i = 0; i < items.length; i += opts.batchSize) {
          const batch = items.slice(i, i + opts.batchSize);
          await writeTenant(tenantId, batch);
          for (const e of batch) {
            writingBytes -= e.heldBytes;
            release(e);
          }
        }
      }
    }
  }

  function flush(): Promise<void> {
    running ??= drain().finally(() => {
      running = undefined;
    });
    return running;
  }

  const timer = setInterval(() => void flush(), opts.intervalMs);
  timer.unref(); // queued entries are no reason to keep the process alive; close() writes them

  return {
    offer(entry) {
      const held = heldBy.get(entry.tenantId);
      const bytes = queuedBytes + writingBytes + entry.heldBytes;
      // Past half full, a tenant already holding a quarter of the queue adds nothing more: one
      // tenant's flood cannot take the room other tenants' entries need.
      const crowding =
        held !== undefined &&
        (queue.length * 2 > opts.maxQueued || bytes * 2 > opts.maxQueuedBytes) &&
        (held.entries * 4 >= opts.maxQueued || held.bytes * 4 >= opts.maxQueuedBytes);
      if (closed || crowding || queue.length >= opts.maxQueued || bytes > opts.maxQueuedBytes) {
        count('queue_full');
        return false;
      }
      queue.push(entry);
      queuedBytes += entry.heldBytes;
      if (held === undefined) heldBy.set(entry.tenantId, { entries: 1, bytes: entry.heldBytes });
      else {
        held.entries++;
        held.bytes += entry.heldBytes;
      }
      if (queue.length >= opts.batchSize && !kicked && running === undefined) {
        kicked = true;
        setImmediate(() => {
          kicked = false;
          void flush();
        });
      }
      return true;
    },
    flush: async () => {
      await running;
      await flush();
    },
    count: (outcome) => count(outcome),
    stats: () => ({ queued: queue.length, queuedBytes, written: totals.written, dropped: totals.dropped }),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await running;
      await flush();
    },
  };
}
