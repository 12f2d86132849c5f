/**
 * The limit backend contract (DESIGN §4, §11.8), run against the memory backend (virtual time)
 * and Redis (real time: short periods, real waits well under a second per test). Time-derived
 * values are compared within the harness's slack: 0 for memory, a few tens of ms for Redis.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Charge, LimitBackend, ReserveResult } from '../../../src/limits/types.js';

export interface BackendHarness {
  backend: LimitBackend;
  /** The backend's notion of now (epoch ms): virtual for memory, the wall clock for Redis. */
  now(): number;
  /** Lets time pass: moves the virtual clock, or really waits. */
  advance(ms: number): Promise<void>;
  /** Tolerance on time-derived values (ms). */
  slackMs: number;
  /** Time is virtual: sub-100 ms lease checks are only deterministic there. */
  virtualTime: boolean;
  close(): Promise<void>;
}

export interface BackendFactory {
  label: string;
  create(): Promise<BackendHarness>;
}

type Bucket = Extract<Charge, { kind: 'bucket' }>;
type Window = Extract<Charge, { kind: 'window' }>;
type Concurrency = Extract<Charge, { kind: 'concurrency' }>;

export function limitBackendContract(factory: BackendFactory): void {
  describe(`limit backend contract [${factory.label}]`, () => {
    let h: BackendHarness;
    let tenant: string;

    beforeEach(async () => {
      h = await factory.create();
      tenant = randomUUID();
    });
    afterEach(async () => h.close());

    const key = (name: string) => `gh:{${tenant}}:${name}`;
    const bucket = (name: string, limit: number, periodMs: number, burst = limit, amount = 1): Bucket => ({
      kind: 'bucket',
      key: key(name),
      limit,
      burst,
      periodMs,
      amount,
    });
    const window = (name: string, limit: number, amount: number, resetInMs = 60_000): Window => ({
      kind: 'window',
      key: key(name),
      limit,
      resetAt: h.now() + resetInMs,
      amount,
    });
    const concurrency = (name: string, limit: number): Concurrency => ({ kind: 'concurrency', key: key(name), limit, amount: 1 });
    const with_ = <C extends Charge>(c: C, amount: number): C => ({ ...c, amount });

    const reserve = (charges: Charge[], leaseMs = 10_000, id: string = randomUUID()): Promise<ReserveResult & { id: string }> =>
      Promise.resolve(h.backend.reserve(id, charges, leaseMs)).then((r) => ({ ...r, id }));
    const settle = (id: string, charges: Charge[], used: number[]) => Promise.resolve(h.backend.settle(id, charges, used));
    const near = (actual: number, expected: number) => {
      expect(actual).toBeGreaterThanOrEqual(expected - h.slackMs);
      expect(actual).toBeLessThanOrEqual(expected + h.slackMs);
    };
    const refused = (r: ReserveResult) => {
      if (r.ok) throw new Error(`expected a refusal, got ${JSON.stringify(r)}`);
      return r;
    };

    it('a bucket admits its burst, then refuses with the time until one unit refills', async () => {
      const b = bucket('burst', 5, 5_000); // 1 unit per second
      for (let i = 0; i < 5; i++) {
        const r = await reserve([b]);
        expect(r.ok).toBe(true);
        expect(r.states[0]?.remaining).toBe(4 - i);
      }
      const r = refused(await reserve([b]));
      expect(r.failed).toBe(0);
      expect(r.states[0]?.remaining).toBe(0);
      near(r.states[0]?.resetMs ?? -1, 5_000);
      near(r.retryAfterMs, 1_000);
    });

    it('a bucket with a burst above its rate admits the burst at once', async () => {
      const b = bucket('big-burst', 1, 1_000, 3);
      for (let i = 0; i < 3; i++) expect((await reserve([b])).ok).toBe(true);
      near(refused(await reserve([b])).retryAfterMs, 1_000);
    });

    it('a bucket refills continuously', async () => {
      const b = bucket('refill', 2, 600); // 1 unit per 300 ms
      expect((await reserve([b])).ok).toBe(true);
      expect((await reserve([b])).ok).toBe(true);
      near(refused(await reserve([b])).retryAfterMs, 300);
      await h.advance(320);
      const again = await reserve([b]);
      expect(again.ok).toBe(true);
      expect(again.states[0]?.remaining).toBe(0);
      const r = refused(await reserve([b]));
      expect(r.retryAfterMs).toBeLessThanOrEqual(300);
    });

    it('an amount above the burst never passes: retry after the bucket is full, or a period', async () => {
      const big = bucket('too-big', 5, 5_000, 5, 6);
      const whenFull = refused(await reserve([big]));
      expect(whenFull.retryAfterMs).toBe(5_000);
      expect(whenFull.states[0]?.remaining).toBe(5);
      expect((await reserve([with_(big, 1)])).ok).toBe(true);
      near(refused(await reserve([big])).retryAfterMs, 1_000);
    });

    it('settling a bucket refunds what was not used and debits usage beyond the reservation', async () => {
      const b = bucket('refund', 10, 10_000); // 1 unit per second
      const r1 = await reserve([with_(b, 8)]);
      expect(r1.states[0]?.remaining).toBe(2);
      await settle(r1.id, [with_(b, 8)], [3]); // refund 5
      const r2 = await reserve([with_(b, 7)]);
      expect(r2.ok).toBe(true);
      expect(r2.states[0]?.remaining).toBe(0);
      await settle(r2.id, [with_(b, 7)], [10]); // debit 3: level -3
      const r3 = refused(await reserve([with_(b, 1)]));
      expect(r3.states[0]?.remaining).toBe(0);
      near(r3.retryAfterMs, 4_000);
      near(r3.states[0]?.resetMs ?? -1, 13_000);
    });

    it('a window refuses an amount above what remains and counts what was used', async () => {
      const w = window('win', 10, 6);
      const r1 = await reserve([w]);
      expect(r1.ok).toBe(true);
      expect(r1.states[0]?.remaining).toBe(4);
      near(r1.states[0]?.resetMs ?? -1, 60_000);
      const r2 = refused(await reserve([with_(w, 5)]));
      expect(r2.failed).toBe(0);
      expect(r2.states[0]?.remaining).toBe(4);
      near(r2.retryAfterMs, 60_000);
      const r3 = await reserve([with_(w, 4)]);
      expect(r3.ok && r3.states[0]?.remaining).toBe(0);
      await settle(r1.id, [w], [2]); // 6 reserved, 2 used: 4 come back
      const r4 = await reserve([with_(w, 4)]);
      expect(r4.ok && r4.states[0]?.remaining).toBe(0);
      expect(refused(await reserve([with_(w, 1)])).failed).toBe(0);
    });

    it('usage above the reservation is counted in full', async () => {
      const w = window('over', 10, 2);
      const r = await reserve([w]);
      await settle(r.id, [w], [9]);
      expect((await reserve([with_(w, 1)])).states[0]?.remaining).toBe(0);
    });

    it('is all or nothing: a failing third charge leaves the first two untouched', async () => {
      const b = bucket('aon-bucket', 10, 60_000);
      const w1 = window('aon-w1', 100, 30);
      const w2 = window('aon-w2', 1, 1);
      expect((await reserve([w2])).ok).toBe(true); // w2 is now full
      const r = refused(await reserve([with_(b, 4), w1, w2]));
      expect(r.failed).toBe(2);
      expect(r.states.map((s) => s.remaining)).toEqual([10, 100, 0]);
      const again = await reserve([with_(b, 4), w1]);
      expect(again.ok).toBe(true);
      expect(again.states.map((s) => s.remaining)).toEqual([6, 70]);
    });

    it('names the first failing charge and the longest retry among the failures', async () => {
      const b = bucket('first-fail', 1, 1_000); // empty after one: retry ~1 s
      const w = window('second-fail', 1, 1, 5_000); // full: retry ~5 s
      const free = window('free', 100, 1);
      expect((await reserve([b, w])).ok).toBe(true);
      const r = refused(await reserve([free, b, w]));
      expect(r.failed).toBe(1);
      near(r.retryAfterMs, 5_000);
      expect(r.states[0]?.remaining).toBe(100);
    });

    it('reports remaining and reset for every kind of charge when admitted', async () => {
      const b = bucket('states-b', 4, 4_000, 4, 2);
      const w = window('states-w', 50, 20, 30_000);
      const c = concurrency('states-c', 3);
      const r = await reserve([b, w, c]);
      expect(r.ok).toBe(true);
      expect(r.states.map((s) => s.remaining)).toEqual([2, 30, 2]);
      near(r.states[0]?.resetMs ?? -1, 2_000);
      near(r.states[1]?.resetMs ?? -1, 30_000);
      expect(r.states[2]?.resetMs).toBe(0);
    });

    it('gives back the reservations of a dead instance after their lease', async () => {
      const w = window('lease-w', 3, 3);
      const c = concurrency('lease-c', 1);
      expect((await reserve([w, c], 300)).ok).toBe(true);
      expect(refused(await reserve([with_(w, 1)])).failed).toBe(0);
      expect(refused(await reserve([c])).failed).toBe(0);
      await h.advance(350);
      const r = await reserve([with_(w, 1), c]);
      expect(r.ok).toBe(true);
      expect(r.states.map((s) => s.remaining)).toEqual([2, 0]);
    });

    it('counts concurrency holders, releases them on settle, and hints the soonest lease', async () => {
      const c = concurrency('conc', 2);
      const a = await reserve([c], 60_000);
      expect(a.ok && a.states[0]?.remaining).toBe(1);
      const b = await reserve([c], 700);
      expect(b.ok && b.states[0]?.remaining).toBe(0);
      const r = refused(await reserve([c]));
      expect(r.states[0]).toEqual({ remaining: 0, resetMs: 0 });
      near(r.retryAfterMs, 700);
      await settle(b.id, [c], [1]);
      const d = await reserve([c], 60_000);
      expect(d.ok).toBe(true);
      // Both holders' leases run a minute: the hint is capped at a second.
      expect(refused(await reserve([c])).retryAfterMs).toBe(1_000);
    });

    it('never hints a concurrency retry sooner than 100 ms', async () => {
      if (!h.virtualTime) return; // a 50 ms lease may lapse before the next call on a busy machine
      const c = concurrency('conc-floor', 1);
      expect((await reserve([c], 50)).ok).toBe(true);
      expect(refused(await reserve([c])).retryAfterMs).toBe(100);
    });

    it('settling twice counts once', async () => {
      const w = window('twice-w', 10, 5);
      const r = await reserve([w]);
      await settle(r.id, [w], [5]);
      await settle(r.id, [w], [5]);
      expect((await reserve([w])).ok).toBe(true);
      expect(refused(await reserve([with_(w, 1)])).failed).toBe(0);

      const b = bucket('twice-b', 10, 600_000);
      const b1 = await reserve([with_(b, 6)]);
      expect((await reserve([with_(b, 4)])).ok).toBe(true); // empty now
      await settle(b1.id, [with_(b, 6)], [0]);
      await settle(b1.id, [with_(b, 6)], [0]); // a second refund would fill it to 10
      expect(refused(await reserve([with_(b, 7)])).states[0]?.remaining).toBe(6);

      const c = concurrency('twice-c', 2);
      const c1 = await reserve([c]);
      expect((await reserve([c])).ok).toBe(true);
      await settle(c1.id, [c], [1]);
      await settle(c1.id, [c], [1]);
      expect((await reserve([c])).ok).toBe(true);
      expect(refused(await reserve([c])).failed).toBe(0);
    });

    it('counts the usage of an expired or unknown reservation, once', async () => {
      const w = window('late', 10, 5);
      const r = await reserve([w], 200);
      await h.advance(250);
      await settle(r.id, [w], [4]);
      await settle(r.id, [w], [4]);
      expect((await reserve([with_(w, 6)])).ok).toBe(true);
      expect(refused(await reserve([with_(w, 1)])).failed).toBe(0);

      const other = window('unknown', 10, 1);
      await settle(randomUUID(), [other], [7]);
      expect(refused(await reserve([with_(other, 4)])).states[0]?.remaining).toBe(3);
    });

    it('a limit of 0 blocks every request', async () => {
      const b = refused(await reserve([bucket('zero-b', 0, 1_000)]));
      expect(b.retryAfterMs).toBe(1_000);
      expect(b.states[0]?.remaining).toBe(0);
      const w = refused(await reserve([window('zero-w', 0, 1, 20_000)]));
      near(w.retryAfterMs, 20_000);
      const c = refused(await reserve([concurrency('zero-c', 0)]));
      expect(c.retryAfterMs).toBe(1_000);
      expect(c.states[0]?.remaining).toBe(0);
    });

    it('a window of 0 still passes what counts nothing (a free model on a zero budget)', async () => {
      expect((await reserve([window('zero-free', 0, 0, 20_000)])).ok).toBe(true);
      refused(await reserve([window('zero-free', 0, 1, 20_000)]));
    });

    it('keeps counters apart by key', async () => {
      const w = window('shared-name', 1, 1);
      expect((await reserve([w])).ok).toBe(true);
      expect((await reserve([w])).ok).toBe(false);
      expect((await reserve([{ ...w, key: `${w.key}:other` }])).ok).toBe(true);
    });

    it('admits a request with no charges', async () => {
      expect(await reserve([])).toMatchObject({ ok: true, states: [] });
    });
  });
}
