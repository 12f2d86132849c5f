/**
 * A single instance's day/month counters after a start (src/limits/start-seeds.ts), on the real
 * memory backend with a ledger function the test controls: one read per tenant, the first
 * reservations wait for it (bounded), figures landing late still count, a failed read is retried
 * later, and the read waits for the spool's backlog to be in the ledger.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryBackend } from '../../../src/limits/memory-backend.js';
import type { WindowSeed } from '../../../src/limits/redis-backend.js';
import { createStartSeeder } from '../../../src/limits/start-seeds.js';
import type { Charge } from '../../../src/limits/types.js';

const RESET = Date.now() + 3_600_000;
const dayKey = (tenant: string) => `gh:{${tenant}}:requests-per-day:2026-12-07:-`;
const day = (tenant: string, limit = 10): Charge => ({ kind: 'window', key: dayKey(tenant), limit, resetAt: RESET, amount: 1 });
const rate = (tenant: string): Charge => ({ kind: 'bucket', key: `gh:{${tenant}}:rpm:b:-`, limit: 100, burst: 100, periodMs: 60_000, amount: 1 });

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A ledger whose reads the test answers one by one. */
function ledger() {
  const reads: { tenant: string; answer: ReturnType<typeof deferred<readonly WindowSeed[]>> }[] = [];
  return {
    reads,
    read: (tenant: string) => {
      const answer = deferred<readonly WindowSeed[]>();
      reads.push({ tenant, answer });
      return answer.promise;
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('start seeds for in-memory counters', () => {
  it('one read per tenant; its reservations wait for it and then count from the ledger', async () => {
    const memory = createMemoryBackend();
    const l = ledger();
    const seeder = createStartSeeder({ backend: memory, ledger: l.read, waitMs: 5_000 });
    expect(seeder.before([rate('a')])).toBeUndefined(); // no day/month charge: nothing to seed
    const first = seeder.before([rate('a'), day('a')]);
    const second = seeder.before([day('a')]);
    expect(first).toBeInstanceOf(Promise);
    expect(second).toBe(first);
    await tick();
    expect(l.reads.map((r) => r.tenant)).toEqual(['a']);
    l.reads[0]?.answer.resolve([{ key: dayKey('a'), used: 7, resetAt: RESET }]);
    await first;
    expect(seeder.before([day('a')])).toBeUndefined(); // seeded: synchronous from now on
    expect(memory.reserve('r1', [day('a')], 1_000)).toMatchObject({ ok: true, states: [{ remaining: 2 }] });
    expect(seeder.stats()).toEqual({ seeded: 1, failures: 0 });
    expect(l.reads).toHaveLength(1);
  });

  it('waits at most waitMs; figures that land later still raise the counter, never lower it', async () => {
    const memory = createMemoryBackend();
    const l = ledger();
    const seeder = createStartSeeder({ backend: memory, ledger: l.read, waitMs: 30 });
    const started = Date.now();
    await seeder.before([day('b')]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    // The wait is over: later reservations go ahead at once while the read is still out.
    expect(seeder.before([day('b')])).toBeUndefined();
    const r = memory.reserve('r1', [day('b')], 1_000);
    expect(r).toMatchObject({ ok: true, states: [{ remaining: 9 }] });
    memory.settle('r1', [day('b')], [1]);
    l.reads[0]?.answer.resolve([{ key: dayKey('b'), used: 8, resetAt: RESET }]);
    await tick();
    expect(memory.peekWindows([dayKey('b')]).get(dayKey('b'))).toEqual({ used: 8, pending: 0 });
    expect(l.reads).toHaveLength(1);
  });

  it('a failed read lets requests go ahead and is retried after retryMs', async () => {
    let now = 1_000_000;
    const memory = createMemoryBackend();
    const l = ledger();
    const seeder = createStartSeeder({ backend: memory, ledger: l.read, waitMs: 5_000, retryMs: 10_000, now: () => now });
    const wait = seeder.before([day('c')]);
    await tick();
    l.reads[0]?.answer.reject(new Error('store down'));
    await wait;
    expect(seeder.stats()).toEqual({ seeded: 0, failures: 1 });
    now += 9_999;
    expect(seeder.before([day('c')])).toBeUndefined();
    await tick();
    expect(l.reads).toHaveLength(1);
    now += 1;
    const retry = seeder.before([day('c')]);
    expect(retry).toBeInstanceOf(Promise);
    await tick();
    l.reads[1]?.answer.resolve([{ key: dayKey('c'), used: 10, resetAt: RESET }]);
    await retry;
    expect(memory.reserve('r', [day('c')], 1_000)).toMatchObject({ ok: false });
  });

  it('reads the ledger only once the spool backlog of the last process is in it', async () => {
    const memory = createMemoryBackend();
    const l = ledger();
    const shipped = deferred<void>();
    const seeder = createStartSeeder({ backend: memory, ledger: l.read, ledgerCurrent: () => shipped.promise, waitMs: 5_000 });
    const wait = seeder.before([day('d')]);
    await tick();
    expect(l.reads).toHaveLength(0);
    shipped.resolve();
    await tick();
    expect(l.reads).toHaveLength(1);
    l.reads[0]?.answer.resolve([{ key: dayKey('d'), used: 3, resetAt: RESET }]);
    await wait;
    expect(memory.reserve('r', [day('d')], 1_000)).toMatchObject({ ok: true, states: [{ remaining: 6 }] });
  });

  it('tenants are seeded separately', async () => {
    const memory = createMemoryBackend();
    const l = ledger();
    const seeder = createStartSeeder({ backend: memory, ledger: l.read, waitMs: 5_000 });
    const a = seeder.before([day('e')]);
    const b = seeder.before([day('f')]);
    expect(a).not.toBe(b);
    await tick();
    expect(l.reads.map((r) => r.tenant)).toEqual(['e', 'f']);
    for (const r of l.reads) r.answer.resolve([]);
    await Promise.all([a, b]);
    expect(seeder.stats().seeded).toBe(2);
  });
});
