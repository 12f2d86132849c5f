/**
 * The local write-ahead spool for usage events (DESIGN §5): append-only segment files in one
 * directory, each record `u32 length | u32 crc32(payload) | payload` (little-endian).
 *
 * What "appended" means, precisely:
 * - append() returns (enqueue() resolves) once write(2) has handed the record to the kernel. From
 *   then on it survives a crash of this process (kill -9, OOM kill, an uncaught exception): the
 *   page cache belongs to the kernel. The server waits for it before releasing the response's last
 *   byte, so every response a client saw complete has its event in the spool. enqueue() groups
 *   the records of one event-loop turn into one write(2): under load a turn completes many
 *   responses (~16 on average in the default benchmark), and a write per record was the biggest
 *   syscall cost of metering.
 * - Group commit: every `fsyncIntervalMs` the current segment is fsync'd if anything was written
 *   since; synced() resolves once everything appended before the call is on disk. That bounds what
 *   a power loss or kernel crash can take to the last interval; `ackMode: fsync` makes the last
 *   byte wait for it instead (costs that interval plus one fsync per response).
 *
 * Reading is for the shipper: a cursor (segment, offset) moves over the records; commit() writes
 * it to a checkpoint file (write, fsync, rename) and deletes segments wholly behind it, only after
 * the store committed what was read. A crash between the two re-ships records the store already
 * has, which its idempotent insert ignores.
 *
 * Start-up: the last segment may end in a torn record (a crash mid-write, or a power loss that
 * kept the length but not the payload); the length and CRC checks find it and the file is cut
 * there. Appends then go to a fresh segment, never to a recovered one.
 */
import { closeSync, fsyncSync, openSync, writeSync, constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { fsync as fsyncCb } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncPath } from '../store/fsync.js';
import { lockDataDir, type DirLock } from '../store/lock.js';

export const HEADER_BYTES = 8;
/** A length above this is not a record (a torn or garbled header), whatever the CRC says. */
export const MAX_RECORD_BYTES = 64 * 1024;
const SEGMENT = /^segment-(\d{12})\.spool$/;
const CHECKPOINT = 'checkpoint.json';
const READ_CHUNK = 1024 * 1024;

export class SpoolFullError extends Error {
  override name = 'SpoolFullError';
}

export interface SpoolOptions {
  dir: string;
  /** Group-commit interval; 0 turns periodic fsync off (the OS writes back on its own). */
  fsyncIntervalMs: number;
  /** A segment is sealed and a new one started past this size. */
  segmentBytes: number;
  /**
   * Admission limit: accepting() turns false at this many unshipped-or-undeleted bytes. Appends
   * still succeed up to `maxBytes + hardMarginBytes`, for requests already admitted.
   */
  maxBytes: number;
  hardMarginBytes?: number;
  onWarn?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface Cursor {
  segment: number;
  offset: number;
}

export interface ReadBatch {
  records: Buffer[];
  /** Where the next read starts; pass to commit() once `records` are stored. */
  next: Cursor;
}

export interface SpoolStats {
  /** Bytes of every segment still on disk. */
  bytes: number;
  /** Bytes not yet committed by the shipper, records still queued for their write included. */
  backlogBytes: number;
  segments: number;
  appended: number;
  /** Records skipped as corrupt (CRC or length) while reading sealed segments. */
  corrupt: number;
  /** Appends refused: the spool was past its hard limit. */
  refused: number;
  /** Records enqueued whose grouped write failed (their enqueue() promise rejected). */
  writeFailed: number;
  fsyncs: number;
}

export interface Spool {
  readonly dir: string;
  /** Writes one record; throws SpoolFullError past the hard limit, or the I/O error. */
  append(payload: Buffer): void;
  /**
   * Writes one record together with the others enqueued in the same event-loop turn: one
   * write(2) for all of them, after the turn's I/O callbacks. Resolves once that write returned
   * (the record then has append()'s guarantee) and rejects with its error; the records of one
   * turn share that promise. Throws SpoolFullError at once past the hard limit (counting records
   * still queued).
   */
  enqueue(payload: Buffer): Promise<void>;
  /** Resolves when everything appended before this call has been fsync'd. */
  synced(): Promise<void>;
  /** False while the spool is at or over `maxBytes`: new requests should be refused. */
  accepting(): boolean;
  /** Up to `maxRecords` records from the cursor on (fewer at the end of what was written). */
  read(maxRecords: number): Promise<ReadBatch>;
  /** Durably moves the committed cursor and deletes segments wholly behind it. */
  commit(next: Cursor): Promise<void>;
  /** Called after each append (the shipper wakes up). */
  onAppend(listener: () => void): void;
  /**
   * Resolves once every record found at open (what the last process left unshipped, e.g. after a
   * crash) has been committed, i.e. is in the store; at once when there was none. Never rejects.
   */
  recovered(): Promise<void>;
  stats(): SpoolStats;
  /** fsyncs, closes the segment and releases the directory lock. */
  close(): Promise<void>;
}

function segmentName(seq: number): string {
  return `segment-${String(seq).padStart(12, '0')}.spool`;
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}

/** Parses complete, valid records from `buf`; stops at the first incomplete or invalid one. */
export function parseRecords(buf: Buffer, max: number): { records: Buffer[]; consumed: number; invalid: boolean } {
  const records: Buffer[] = [];
  let pos = 0;
  while (records.length < max && buf.length - pos >= HEADER_BYTES) {
    const len = buf.readUInt32LE(pos);
    if (len === 0 || len > MAX_RECORD_BYTES) return { records, consumed: pos, invalid: true };
    if (buf.length - pos - HEADER_BYTES < len) break;
    const payload = buf.subarray(pos + HEADER_BYTES, pos + HEADER_BYTES + len);
    if (crc32(payload) !== buf.readUInt32LE(pos + 4)) return { records, consumed: pos, invalid: true };
    records.push(Buffer.from(payload)); // a copy: the read buffer is reused
    pos += HEADER_BYTES + len;
  }
  return { records, consumed: pos, invalid: false };
}

/** Length of the valid prefix of a segment file (the torn tail is everything after it). */
async function validPrefix(file: string): Promise<{ valid: number; size: number }> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    let valid = 0;
    const buf = Buffer.allocUnsafe(READ_CHUNK + MAX_RECORD_BYTES + HEADER_BYTES);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, valid);
      if (bytesRead === 0) return { valid, size };
      const { consumed, invalid } = parseRecords(buf.subarray(0, bytesRead), Number.MAX_SAFE_INTEGER);
      valid += consumed;
      if (invalid || consumed === 0) return { valid, size };
    }
  } finally {
    await fh.close();
  }
}

async function readCheckpoint(dir: string): Promise<Cursor | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(join(dir, CHECKPOINT), 'utf8'));
    if (
      typeof parsed === 'object' && parsed !== null && 'segment' in parsed && 'offset' in parsed &&
      Number.isSafeInteger(parsed.segment) && Number.isSafeInteger(parsed.offset)
    ) {
      return { segment: Number(parsed.segment), offset: Number(parsed.offset) };
    }
    return undefined;
  } catch {
    // Missing or unreadable: start from the oldest segment; re-shipping is harmless.
    return undefined;
  }
}

export async function openSpool(opts: SpoolOptions): Promise<Spool> {
  const { dir } = opts;
  const warn = opts.onWarn ?? (() => {});
  const hardLimit = opts.maxBytes + (opts.hardMarginBytes ?? Math.max(1024 * 1024, Math.floor(opts.maxBytes / 100)));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // One writer per directory: two processes appending to one segment would interleave records.
  const lock: DirLock = await lockDataDir(dir);

  const sizes = new Map<number, number>();
  let cursor: Cursor;
  let current: number;
  try {
    const found = (await readdir(dir))
      .map((n) => SEGMENT.exec(n)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const checkpoint = await readCheckpoint(dir);
    cursor = checkpoint ?? { segment: found[0] ?? 1, offset: 0 };
    for (const seq of found) {
      if (seq < cursor.segment) {
        await rm(join(dir, segmentName(seq)), { force: true }); // shipped; the delete was cut short
        continue;
      }
      sizes.set(seq, (await stat(join(dir, segmentName(seq)))).size);
    }
    const last = found[found.length - 1];
    if (last !== undefined && last >= cursor.segment) {
      const file = join(dir, segmentName(last));
      const { valid, size } = await validPrefix(file);
      if (valid < size) {
        warn('usage spool: cut a torn record at the end of the last segment', { segment: last, valid, size });
        const fh = await open(file, 'r+');
        await fh.truncate(valid);
        await fh.sync();
        await fh.close();
        sizes.set(last, valid);
      }
    }
    current = Math.max(last ?? 0, cursor.segment - 1) + 1;
    // The checkpoint's segment is gone (it was wholly shipped): reading resumes at the next one.
    if (!sizes.has(cursor.segment)) cursor = { segment: cursor.segment, offset: 0 };
  } catch (err) {
    await lock.release();
    throw err;
  }

  let fd = openSync(join(dir, segmentName(current)), fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_APPEND, 0o600);
  sizes.set(current, 0);
  await fsyncPath(dir);
  /** Appends of this process start here: segments before it hold what the last process left. */
  const firstLive = current;

  let totalBytes = [...sizes.values()].reduce((a, b) => a + b, 0);
  /** Bytes of the committed cursor's segment before the cursor, and of earlier segments (gone). */
  let committedInCursorSegment = cursor.offset;
  let appended = 0;
  let corrupt = 0;
  let refused = 0;
  let writeFailed = 0;
  let fsyncs = 0;
  let writePos = 0; // bytes appended by this process, monotonic
  let syncedPos = 0;
  let syncing = false;
  let dirty = false;
  let closed = false;
  const waiters: { pos: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  /** Bytes of the segments found at open that the shipper has not committed yet. */
  const recoveredLeft = (): number => {
    if (cursor.segment >= firstLive) return 0;
    let left = -committedInCursorSegment;
    for (const [seq, size] of sizes) if (seq >= cursor.segment && seq < firstLive) left += size;
    return Math.max(0, left);
  };
  let markRecovered: (() => void) | undefined;
  const recovered = new Promise<void>((resolve) => (markRecovered = resolve));
  if (recoveredLeft() === 0) {
    (markRecovered as () => void)();
    markRecovered = undefined;
  }

  const listeners: (() => void)[] = [];
  /** Sealed segments' fds waiting for their final fsync before close. */
  const retiring: Promise<void>[] = [];

  const fsyncFd = (target: number) =>
    new Promise<void>((resolve, reject) => fsyncCb(target, (err) => (err ? reject(err) : resolve())));

  const syncNow = async (): Promise<void> => {
    if (syncing || !dirty) return;
    syncing = true;
    dirty = false;
    const upTo = writePos;
    try {
      await Promise.all(retiring.splice(0));
      await fsyncFd(fd);
      fsyncs++;
      syncedPos = upTo;
      let i = 0;
      for (; i < waiters.length && (waiters[i] as (typeof waiters)[number]).pos <= syncedPos; i++) (waiters[i] as (typeof waiters)[number]).resolve();
      waiters.splice(0, i);
      if (waiters.length === 0) timer?.unref();
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      for (const w of waiters.splice(0)) w.reject(e);
      warn('usage spool: fsync failed', { err: e.message });
    } finally {
      syncing = false;
      // Writes that arrived during the fsync are left for the next tick.
    }
  };

  const timer =
    opts.fsyncIntervalMs > 0
      ? setInterval(() => {
          void syncNow();
        }, opts.fsyncIntervalMs)
      : undefined;
  timer?.unref();

  const rotate = (): void => {
    const old = fd;
    current += 1;
    fd = openSync(join(dir, segmentName(current)), fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_APPEND, 0o600);
    sizes.set(current, 0);
    // The sealed segment is fsync'd before the next group commit reports anything durable.
    retiring.push(
      fsyncFd(old).finally(() => closeSync(old)),
      fsyncPath(dir),
    );
  };

  /**
   * A record in its frame (`len | crc32 | payload`), checked against the limits. Records still
   * queued for the turn's write count against the hard limit.
   */
  const frame = (payload: Buffer): Buffer => {
    if (closed) throw new Error('usage spool is closed');
    const len = payload.length;
    if (len === 0 || len > MAX_RECORD_BYTES) throw new RangeError(`usage record of ${len} bytes`);
    if (totalBytes + queuedBytes + len + HEADER_BYTES > hardLimit) {
      refused++;
      throw new SpoolFullError(`usage spool ${dir} is full (${totalBytes} bytes)`);
    }
    const rec = Buffer.allocUnsafe(HEADER_BYTES + len);
    rec.writeUInt32LE(len, 0);
    rec.writeUInt32LE(crc32(payload), 4);
    payload.copy(rec, HEADER_BYTES);
    return rec;
  };

  /** One buffer, one write(2) (looped only on a short write): a record is never split across two calls. */
  const writeRecords = (recs: readonly Buffer[]): void => {
    const buf = recs.length === 1 ? (recs[0] as Buffer) : Buffer.concat(recs);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    writePos += buf.length;
    totalBytes += buf.length;
    sizes.set(current, (sizes.get(current) ?? 0) + buf.length);
    appended += recs.length;
    dirty = true;
    if ((sizes.get(current) ?? 0) >= opts.segmentBytes) rotate();
    for (const l of listeners) l();
  };

  /** The records of this turn and the one promise they all wait on (a promise per record was ~1% of the CPU). */
  let group: { recs: Buffer[]; written: Promise<void>; resolve: () => void; reject: (err: Error) => void } | undefined;
  let queuedBytes = 0;
  const flushQueue = (): void => {
    const g = group;
    group = undefined;
    queuedBytes = 0;
    if (g === undefined) return;
    try {
      if (closed) throw new Error('usage spool is closed');
      writeRecords(g.recs);
    } catch (err) {
      writeFailed += g.recs.length;
      g.reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    g.resolve();
  };

  let readFh: { seq: number; fh: FileHandle } | undefined;
  const readBuf = Buffer.allocUnsafe(READ_CHUNK);
  let readCursor: Cursor = { ...cursor };

  const spool: Spool = {
    dir,

    append(payload: Buffer): void {
      writeRecords([frame(payload)]);
    },

    enqueue(payload: Buffer): Promise<void> {
      const rec = frame(payload);
      queuedBytes += rec.length;
      let g = group;
      if (g === undefined) {
        let resolve: () => void = () => {};
        let reject: (err: Error) => void = () => {};
        const written = new Promise<void>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        g = group = { recs: [], written, resolve, reject };
        setImmediate(flushQueue);
      }
      g.recs.push(rec);
      return g.written;
    },

    synced(): Promise<void> {
      if (syncedPos >= writePos) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waiters.push({ pos: writePos, resolve, reject });
        // The group-commit timer is unref'd while idle; a waiter keeps the process alive for it.
        timer?.ref();
        if (opts.fsyncIntervalMs === 0) void syncNow();
      });
    },

    accepting: () => totalBytes < opts.maxBytes,

    async read(maxRecords: number): Promise<ReadBatch> {
      const records: Buffer[] = [];
      let at = { ...readCursor };
      while (records.length < maxRecords) {
        const limit = sizes.get(at.segment);
        if (limit === undefined) {
          if (at.segment >= current) break;
          at = { segment: at.segment + 1, offset: 0 };
          continue;
        }
        if (at.offset >= limit) {
          if (at.segment >= current) break; // the live segment: nothing more yet
          at = { segment: at.segment + 1, offset: 0 };
          continue;
        }
        if (readFh?.seq !== at.segment) {
          await readFh?.fh.close();
          readFh = { seq: at.segment, fh: await open(join(dir, segmentName(at.segment)), 'r') };
        }
        const want = Math.min(readBuf.length, limit - at.offset);
        const { bytesRead } = await readFh.fh.read(readBuf, 0, want, at.offset);
        const parsed = parseRecords(readBuf.subarray(0, bytesRead), maxRecords - records.length);
        records.push(...parsed.records);
        at = { segment: at.segment, offset: at.offset + parsed.consumed };
        if (parsed.invalid || (parsed.consumed === 0 && parsed.records.length === 0)) {
          if (parsed.invalid || at.segment < current) {
            // Garbled in a sealed segment (a disk fault): skip the rest of it, loudly.
            corrupt++;
            warn('usage spool: skipping a corrupt tail of a segment', { segment: at.segment, offset: at.offset });
            at = { segment: at.segment + 1, offset: 0 };
            continue;
          }
          break;
        }
      }
      readCursor = at;
      return { records, next: { ...at } };
    },

    async commit(next: Cursor): Promise<void> {
      const tmp = join(dir, `${CHECKPOINT}.tmp`);
      await writeFile(tmp, JSON.stringify(next), { mode: 0o600, flush: true });
      await rename(tmp, join(dir, CHECKPOINT));
      await fsyncPath(dir);
      for (const seq of [...sizes.keys()].sort((a, b) => a - b)) {
        if (seq >= next.segment || seq >= current) break;
        if (readFh?.seq === seq) {
          await readFh.fh.close();
          readFh = undefined;
        }
        await rm(join(dir, segmentName(seq)), { force: true });
        totalBytes -= sizes.get(seq) ?? 0;
        sizes.delete(seq);
      }
      cursor = { ...next };
      committedInCursorSegment = next.offset;
      if (markRecovered !== undefined && recoveredLeft() === 0) {
        markRecovered();
        markRecovered = undefined;
      }
    },

    onAppend(listener: () => void): void {
      listeners.push(listener);
    },

    recovered: () => recovered,

    stats(): SpoolStats {
      let behind = 0;
      for (const [seq, size] of sizes) if (seq < cursor.segment) behind += size;
      return {
        bytes: totalBytes,
        // Records enqueued for this turn's write are backlog too: drain() must wait for them.
        backlogBytes: Math.max(0, totalBytes - behind - committedInCursorSegment) + queuedBytes,
        segments: sizes.size,
        appended,
        corrupt,
        refused,
        writeFailed,
        fsyncs,
      };
    },

    async close(): Promise<void> {
      if (closed) return;
      flushQueue();
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      try {
        await Promise.all(retiring.splice(0));
        fsyncSync(fd);
        syncedPos = writePos;
        for (const w of waiters.splice(0)) w.resolve();
        closeSync(fd);
        await readFh?.fh.close();
      } catch (err) {
        if (errorCode(err) !== 'EBADF') throw err;
      } finally {
        await lock.release();
      }
    },
  };
  return spool;
}
