/** The usage spool: records round-trip, torn tails are cut on start, the bound holds, checkpoints resume. */
import { mkdtemp, readdir, rm, stat, truncate, appendFile, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HEADER_BYTES, openSpool, parseRecords, SpoolFullError, type Spool } from '../../../src/metering/spool.js';

let dir: string;
const open: Spool[] = [];

async function spoolAt(opts: Partial<Parameters<typeof openSpool>[0]> = {}): Promise<Spool> {
  const s = await openSpool({ dir, fsyncIntervalMs: 2, segmentBytes: 1024 * 1024, maxBytes: 64 * 1024 * 1024, ...opts });
  open.push(s);
  return s;
}

const rec = (i: number) => Buffer.from(JSON.stringify({ i, pad: 'x'.repeat(i % 50) }));

async function readAll(s: Spool): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const b = await s.read(1000);
    if (b.records.length === 0) return out;
    out.push(...b.records.map((r) => r.toString()));
    await s.commit(b.next);
  }
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-spool-'));
});
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

describe('usage spool', () => {
  it('reads back what was appended, in order, across segments, and deletes shipped segments', async () => {
    const s = await spoolAt({ segmentBytes: 4096 });
    for (let i = 0; i < 500; i++) s.append(rec(i));
    expect(s.stats().segments).toBeGreaterThan(5);
    const got = await readAll(s);
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => rec(i).toString()));
    expect(s.stats().backlogBytes).toBe(0);
    expect(s.stats().segments).toBe(1); // only the live one is left
    await s.synced();
    expect(s.stats().fsyncs).toBeGreaterThan(0);
  });

  it('resumes after a restart from the durable checkpoint: nothing shipped twice, nothing lost', async () => {
    let s = await spoolAt({ segmentBytes: 4096 });
    for (let i = 0; i < 100; i++) s.append(rec(i));
    const first = await s.read(40);
    await s.commit(first.next);
    await s.read(30); // read but never committed: must come back
    await s.close();
    open.length = 0;
    s = await spoolAt({ segmentBytes: 4096 });
    for (let i = 100; i < 110; i++) s.append(rec(i));
    const rest = await readAll(s);
    expect(rest).toEqual(Array.from({ length: 70 }, (_, i) => rec(i + 40).toString()));
  });

  it('cuts a torn last record on start (length prefix without its payload, or a bad CRC) and keeps the rest', async () => {
    let s = await spoolAt();
    for (let i = 0; i < 10; i++) s.append(rec(i));
    await s.close();
    open.length = 0;
    const written = (await readdir(dir)).filter((n) => n.startsWith('segment-')).sort();
    const file = join(dir, written[written.length - 1] as string);
    const size = (await stat(file)).size;
    // A crash mid-write: the header and half the payload of an eleventh record.
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32LE(200, 0);
    header.writeUInt32LE(12345, 4);
    await appendFile(file, Buffer.concat([header, Buffer.alloc(50, 1)]));
    s = await spoolAt();
    expect((await stat(file)).size).toBe(size);
    expect(await readAll(s)).toEqual(Array.from({ length: 10 }, (_, i) => rec(i).toString()));
    await s.close();
    open.length = 0;

    // A complete-looking record whose payload is garbage (power loss kept the length only).
    const s2 = await spoolAt();
    for (let i = 0; i < 3; i++) s2.append(rec(i));
    await s2.close();
    open.length = 0;
    const segs = (await readdir(dir)).filter((n) => n.startsWith('segment-')).sort();
    const last = join(dir, segs[segs.length - 1] as string);
    const full = (await stat(last)).size;
    const bytes = await readFile(last);
    bytes[full - 1] = (bytes[full - 1] as number) ^ 0xff; // flip a bit of the last payload
    await writeFile(last, bytes);
    const s3 = await spoolAt();
    expect(await readAll(s3)).toEqual([rec(0).toString(), rec(1).toString()]);
  });

  it('a truncated segment (lost tail) yields every whole record before the cut', async () => {
    let s = await spoolAt();
    for (let i = 0; i < 20; i++) s.append(rec(i));
    await s.close();
    open.length = 0;
    const segs = (await readdir(dir)).filter((n) => n.startsWith('segment-')).sort();
    const file = join(dir, segs[segs.length - 1] as string);
    await truncate(file, (await stat(file)).size - 3);
    s = await spoolAt();
    expect(await readAll(s)).toEqual(Array.from({ length: 19 }, (_, i) => rec(i).toString()));
  });

  it('is bounded: stops accepting at maxBytes, refuses appends past the hard margin, recovers once shipped', async () => {
    const s = await spoolAt({ maxBytes: 10_000, hardMarginBytes: 2_000, segmentBytes: 4096 });
    let n = 0;
    while (s.accepting()) s.append(rec(n++));
    expect(s.stats().bytes).toBeGreaterThanOrEqual(10_000);
    // Requests already admitted may still finish...
    s.append(rec(n++));
    // ...until the hard limit.
    expect(() => {
      for (let i = 0; i < 1000; i++) s.append(rec(n++));
    }).toThrow(SpoolFullError);
    expect(s.stats().bytes).toBeLessThanOrEqual(12_000);
    expect(s.stats().refused).toBe(1);
    await readAll(s);
    expect(s.accepting()).toBe(true);
    expect(s.stats().bytes).toBeLessThan(4096 + 200);
  });

  it('enqueue() writes the records of one turn together, after the turn, in order', async () => {
    const s = await spoolAt({ segmentBytes: 4096 });
    let writes = 0;
    s.onAppend(() => writes++);
    const done = Array.from({ length: 100 }, (_, i) => s.enqueue(rec(i)));
    // Nothing is written (or reported written) before the turn's I/O callbacks are over, but the
    // records already count as backlog: a drain() called now must wait for them.
    expect(s.stats().appended).toBe(0);
    expect(s.stats().backlogBytes).toBe(done.length * HEADER_BYTES + Array.from({ length: 100 }, (_, i) => rec(i).length).reduce((a, b) => a + b, 0));
    await Promise.all(done);
    expect(writes).toBe(1);
    expect(s.stats().appended).toBe(100);
    const next = [s.enqueue(rec(100)), s.enqueue(rec(101))];
    await Promise.all(next);
    expect(writes).toBe(2);
    expect(await readAll(s)).toEqual(Array.from({ length: 102 }, (_, i) => rec(i).toString()));
  });

  it('enqueue() counts queued records against the hard limit, and close() writes what is queued', async () => {
    const s = await spoolAt({ maxBytes: 4096, hardMarginBytes: 1024 });
    const big = Buffer.alloc(1000, 'a');
    const queued: Promise<void>[] = [];
    for (let i = 0; i < 5; i++) queued.push(s.enqueue(big));
    // 5 × 1,008 bytes queued: a sixth would pass 4,096 + 1,024 before anything is on disk.
    expect(() => s.enqueue(big)).toThrow(SpoolFullError);
    await s.close();
    await Promise.all(queued);
    const again = await spoolAt({ maxBytes: 4096, hardMarginBytes: 1024 });
    expect((await readAll(again)).length).toBe(5);
  });

  it('one writer per directory', async () => {
    await spoolAt();
    await expect(openSpool({ dir, fsyncIntervalMs: 0, segmentBytes: 4096, maxBytes: 1 << 20 })).rejects.toThrow(/in use/);
  });

  it('parseRecords stops at a length that cannot be a record', () => {
    const b = Buffer.alloc(16);
    b.writeUInt32LE(0xffffffff, 0);
    expect(parseRecords(b, 10)).toEqual({ records: [], consumed: 0, invalid: true });
  });

  it('synced() resolves after the group commit covering the append', async () => {
    const s = await spoolAt({ fsyncIntervalMs: 20 });
    s.append(rec(1));
    const before = s.stats().fsyncs;
    await s.synced();
    expect(s.stats().fsyncs).toBeGreaterThan(before);
  });

  it('recovered() resolves at once without a backlog, and only once what the last process left is committed', async () => {
    const settled = (p: Promise<void>) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20))]);
    const first = await spoolAt({ segmentBytes: 2048 });
    expect(await settled(first.recovered())).toBe(true); // an empty directory left nothing
    for (let i = 0; i < 60; i++) first.append(rec(i)); // several segments
    const shipped = await first.read(10);
    await first.commit(shipped.next); // shipped 10, then the process "crashed"
    await first.close();
    open.splice(open.indexOf(first), 1);

    const s = await spoolAt({ segmentBytes: 2048 });
    const recovered = s.recovered();
    s.append(rec(1000)); // this process's own events are not part of the backlog
    expect(await settled(recovered)).toBe(false);
    let left = 50;
    while (left > 0) {
      const b = await s.read(7);
      const old = b.records.filter((r) => JSON.parse(r.toString()).i < 1000).length;
      expect(await settled(recovered)).toBe(false); // read is not shipped
      await s.commit(b.next);
      left -= old;
      // Resolves with the commit that passes the last record found at open, not before.
      expect(await settled(recovered)).toBe(left === 0);
      if (b.records.length === 0) break;
    }
    expect(left).toBe(0);
    // A clean stop (everything committed) leaves nothing to wait for on the next start.
    await readAll(s);
    await s.close();
    open.splice(open.indexOf(s), 1);
    expect(await settled((await spoolAt()).recovered())).toBe(true);
  });
});

describe('usage spool: grouped writes', () => {
  it('records enqueued in one turn go out in one write and all resolve; close() writes a pending group first', async () => {
    const s = await spoolAt();
    const before = s.stats().appended;
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.enqueue(rec(i))));
    expect(s.stats().appended - before).toBe(20);
    expect(await readAll(s)).toEqual(Array.from({ length: 20 }, (_, i) => rec(i).toString()));
    const pending = [s.enqueue(rec(100)), s.enqueue(rec(101))];
    await s.close();
    open.splice(open.indexOf(s), 1);
    await Promise.all(pending);
    expect(s.stats().writeFailed).toBe(0);
    expect(await readAll(await spoolAt())).toEqual([rec(100).toString(), rec(101).toString()]);
  });
});
