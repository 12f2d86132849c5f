/**
 * What a replica counts while failing open is added to the shared Redis counters once Redis
 * answers again, exactly once (src/limits/outage-journal.ts, failover.ts; DESIGN §13 "Leases,
 * reseeding, fail-open seeds"). Before, the local usage stayed local: after an outage Redis read
 * 41,000 µ of a 100,000 µ budget while the ledger read 50,000 µ, and the fleet let spend reach
 * 104,000 µ.
 *
 * Two replicas (failover wrappers) share one real Redis: A reaches it through a TCP proxy the
 * test can cut, or make lose the reply to the merge (Redis slow: the command ran, the answer never
 * came), B directly. Keys live under a random prefix and tenant hash tag (db 0, never flushed).
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFailoverBackend, type FailoverLimits } from '../../../src/limits/failover.js';
import { createLeaseKeeper } from '../../../src/limits/leases.js';
import { createMemoryBackend } from '../../../src/limits/memory-backend.js';
import { createRedisBackend, type RedisLimitBackend } from '../../../src/limits/redis-backend.js';
import { MERGE_LUA } from '../../../src/limits/redis-scripts.js';
import type { Charge } from '../../../src/limits/types.js';
import { REDIS_URL, redisAvailable } from '../../helpers/services.js';

const available = await redisAvailable();
const PREFIX = `gh-test-${randomUUID().slice(0, 8)}:`;
const BUDGET = 100_000;

/**
 * A TCP proxy to the real Redis that can be cut (every connection destroyed, new ones refused)
 * and restored, and can lose the reply to the next command holding a given string: the command
 * is forwarded and runs, then the connection is dropped before its reply gets through.
 */
async function redisProxy() {
  const target = new URL(REDIS_URL);
  const sockets = new Set<net.Socket>();
  let down = false;
  let loseReplyTo: string | undefined;
  let lostReplies = 0;
  const server = net.createServer((client) => {
    if (down) return void client.destroy();
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    let muted = false;
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s)).on('error', drop);
    }
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (loseReplyTo !== undefined && chunk.includes(loseReplyTo)) {
        loseReplyTo = undefined;
        muted = true;
        lostReplies++;
        setTimeout(drop, 100); // Redis has run it by then
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!muted) client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    loseNextReplyTo(marker: string) {
      loseReplyTo = marker;
    },
    lostReplies: () => lostReplies,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe.skipIf(!available)('fail-open usage written back to Redis [Redis]', () => {
  let admin: Redis;
  const open: { close(): Promise<unknown> }[] = [];

  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });
  afterAll(async () => {
    const keys = await admin.keys(`${PREFIX}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  /**
   * A replica: Redis at `url` (its own connection), a local fallback with a third of every limit.
   * `merges` gets each merge script's answer (rows applied, -1: the batch was applied before).
   */
  function replica(url: string, merges: number[] = []): FailoverLimits {
    const redis = createRedisBackend({ url, keyPrefix: PREFIX, commandTimeoutMs: 250, connectTimeoutMs: 250 });
    const primary: RedisLimitBackend = {
      ...redis,
      mergeOutage: async (batch) => {
        const applied = await redis.mergeOutage(batch);
        merges.push(applied);
        return applied;
      },
    };
    const leases = createLeaseKeeper({ backend: redis, leaseMs: 30_000 });
    const f = createFailoverBackend({ primary, fallback: createMemoryBackend(), leases, probeIntervalMs: 50, fallbackShare: 1 / 3 });
    open.push(f);
    return f;
  }

  const budget = (tag: string, amount: number): Charge => ({
    kind: 'window',
    key: `gh:${tag}:budget-monthly:m:2030-01:-`,
    limit: BUDGET,
    resetAt: Date.now() + 3_600_000,
    amount,
  });
  const counter = async (tag: string) => {
    const [u, p] = await admin.hmget(`${PREFIX}gh:${tag}:budget-monthly:m:2030-01:-`, 'u', 'p');
    return { used: Number(u ?? 0), pending: Number(p ?? 0) };
  };

  /** One request: reserve `reserve` µ, settle `used` µ. */
  async function spend(f: FailoverLimits, tag: string, reserve: number, used: number, failMode: 'open' | 'closed' = 'open') {
    const id = randomUUID();
    const r = await f.reserve(id, [budget(tag, reserve)], 600_000, failMode);
    if (!r.ok) throw new Error(`refused: ${JSON.stringify(r)}`);
    await f.settle(r.via, id, [budget(tag, reserve)], [used]);
    return r.via;
  }

  it('adds the outage spend to the shared counter, open reservations included; the other replica then stops at the budget', async () => {
    const proxy = await redisProxy();
    open.push(proxy);
    const a = replica(proxy.url);
    const b = replica(REDIS_URL);
    const tag = `{${randomUUID()}}`;
    let ledger = 0; // every µ settled, whichever backend counted it (what the usage ledger holds)

    // Before: 40,000 µ through Redis; Redis and the ledger agree.
    for (let i = 0; i < 4; i++) {
      expect(await spend(i % 2 === 0 ? a : b, tag, 12_000, 10_000)).toBe('primary');
      ledger += 10_000;
    }
    expect(await counter(tag)).toEqual({ used: 40_000, pending: 0 });

    // A loses Redis. It serves 9,000 µ from its local counters, and one request is still open
    // (2,000 µ reserved) when Redis comes back. B keeps spending through Redis meanwhile.
    proxy.cut();
    for (let i = 0; i < 9; i++) {
      expect(await spend(a, tag, 1_500, 1_000)).toBe('fallback');
      ledger += 1_000;
    }
    const streaming = randomUUID();
    const held = await a.reserve(streaming, [budget(tag, 2_000)], 600_000, 'open');
    expect(held).toMatchObject({ ok: true, via: 'fallback' });
    expect(await spend(b, tag, 1_000, 1_000)).toBe('primary');
    ledger += 1_000;
    expect(await counter(tag)).toEqual({ used: 41_000, pending: 0 }); // what the tester saw, and was left with

    proxy.restore();
    await until('A back on Redis with its outage usage merged', () => a.state() === 'up' && a.stats().mergedBatches === 1 && a.stats().pendingMerges === 0);
    // Redis now holds what the ledger holds, and the open request's reservation as pending.
    expect(await counter(tag)).toEqual({ used: ledger, pending: 2_000 });
    expect(ledger).toBe(50_000);

    // The open request ends: its settle goes to Redis (the hold is released, its usage counted once).
    await a.settle(held.via, streaming, [budget(tag, 2_000)], [1_800]);
    ledger += 1_800;
    await until('the open request settled on Redis', async () => (await counter(tag)).pending === 0);
    expect(await counter(tag)).toEqual({ used: ledger, pending: 0 });

    // B admits exactly what is left of the budget, and nothing more.
    const left = BUDGET - ledger;
    const last = await b.reserve(randomUUID(), [budget(tag, left)], 600_000, 'closed');
    expect(last).toMatchObject({ ok: true, via: 'primary', states: [{ remaining: 0 }] });
    const over = await b.reserve(randomUUID(), [budget(tag, 1)], 600_000, 'closed');
    expect(over).toMatchObject({ ok: false, via: 'primary' });

    // Another outage of A (found by a request failing closed), then back: nothing is added twice.
    proxy.cut();
    await expect(a.reserve(randomUUID(), [budget(tag, 1)], 600_000, 'closed')).rejects.toMatchObject({ code: 'limits_unavailable' });
    expect(a.state()).toBe('down');
    proxy.restore();
    await until('A back on Redis', () => a.state() === 'up');
    await sleep(200);
    expect(await counter(tag)).toEqual({ used: ledger, pending: left });
    expect(a.stats()).toMatchObject({ mergedBatches: 1, pendingMerges: 0, mergeFailures: 0, droppedOutageUsage: 0 });
  });

  it('adds a batch once when Redis ran it but the reply was lost, or the outage came back before it was acknowledged', async () => {
    await admin.script('LOAD', MERGE_LUA); // the merge runs by EVALSHA (no NOSCRIPT round that would not run it)
    const proxy = await redisProxy();
    open.push(proxy);
    const merges: number[] = [];
    const a = replica(proxy.url, merges);
    const tag = `{${randomUUID()}}`;
    expect(await spend(a, tag, 1_000, 1_000)).toBe('primary');

    proxy.cut();
    for (let i = 0; i < 3; i++) expect(await spend(a, tag, 1_000, 700)).toBe('fallback');
    proxy.loseNextReplyTo(':merged:');
    proxy.restore();

    await until('the merge retried after its lost reply', () => proxy.lostReplies() === 1 && a.state() === 'up' && a.stats().pendingMerges === 0, 15_000);
    // The first attempt ran but its answer was lost (no entry); the retry found the batch applied.
    expect(merges).toEqual([-1]);
    expect(a.stats().mergedBatches).toBe(1);
    expect(await counter(tag)).toEqual({ used: 1_000 + 3 * 700, pending: 0 });
    expect(await admin.keys(`${PREFIX}gh:${tag}:merged:*`)).toHaveLength(1);
  });

  it('a merge into a Redis that restarted meanwhile leaves settled usage to the ledger reseed, once', async () => {
    // A backend with a ledger reads the run id on connect; the merge compares it with the one
    // the replica saw before its outage.
    const redis: RedisLimitBackend = createRedisBackend({ url: REDIS_URL, keyPrefix: PREFIX, ledger: async () => [] });
    open.push(redis);
    const run = await redis.runId();
    expect(run).toMatch(/^[0-9a-f]{40}$/);
    const tag = `{${randomUUID()}}`;
    const key = budget(tag, 0).key;
    const resetAt = Date.now() + 3_600_000;
    const batch = (sinceRun: string) => ({
      id: randomUUID(),
      tenantKey: key,
      sinceRun,
      rows: [
        { kind: 'used' as const, key, resetAt, used: 700 },
        { kind: 'window-hold' as const, key, resetAt, id: 'open-1', amount: 300, leaseMs: 30_000 },
      ],
      holds: [],
    });
    const seedMarker = `${PREFIX}gh:${tag}:seeded`;
    await admin.set(seedMarker, run);

    // Same run: everything added; the same batch again adds nothing.
    const same = batch(run);
    expect(await redis.mergeOutage(same)).toBe(2);
    expect(await redis.mergeOutage(same)).toBe(-1);
    expect(await counter(tag)).toEqual({ used: 700, pending: 300 });
    expect(await admin.get(seedMarker)).toBe(run);

    // Another run before the outage: Redis lost its counters and reseeds them from the ledger,
    // which has the settled usage; the tenant is marked for a fresh reseed, the hold still added.
    expect(await redis.mergeOutage({ ...batch('f'.repeat(40)), rows: [...batch('').rows.slice(0, 1), { kind: 'window-hold', key, resetAt, id: 'open-2', amount: 50, leaseMs: 30_000 }] })).toBe(1);
    expect(await counter(tag)).toEqual({ used: 700, pending: 350 });
    expect(await admin.get(seedMarker)).toBeNull();
  });
});
