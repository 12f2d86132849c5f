/**
 * Reservation leases on the real Redis (DESIGN §4: "reservations expire if an instance dies").
 * A process holds concurrency slots with a short lease that its heartbeat renews: the slots stay
 * taken for several leases while it lives, and come back within about one lease once it is
 * killed with SIGKILL (no settle, no goodbye). Before, leases were the request timeout plus a
 * minute (11 minutes by default), because nothing renewed a long stream's.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLeaseKeeper } from '../../../src/limits/leases.js';
import { createRedisBackend, type RedisLimitBackend } from '../../../src/limits/redis-backend.js';
import type { Charge } from '../../../src/limits/types.js';
import { REDIS_URL, redisAvailable } from '../../helpers/services.js';
import { removeChildScript, startLeaseHolder } from './child-limits.js';

const available = await redisAvailable();
const PREFIX = `gh-test-${randomUUID().slice(0, 8)}:`;
const LEASE_MS = 1_500;

describe.skipIf(!available)('reservation leases [Redis]', () => {
  let admin: Redis;
  let backend: RedisLimitBackend;

  beforeAll(async () => {
    admin = new Redis(REDIS_URL);
    backend = createRedisBackend({ url: REDIS_URL, keyPrefix: PREFIX, commandTimeoutMs: 5_000 });
    await backend.ready();
  });
  afterAll(async () => {
    await backend?.close();
    await removeChildScript();
    if (admin !== undefined) {
      const keys = await admin.keys(`${PREFIX}*`);
      if (keys.length > 0) await admin.del(...keys);
      await admin.quit();
    }
  });

  const concurrency = (limit: number): Charge => ({ kind: 'concurrency', key: `gh:{${randomUUID()}}:c:-`, limit, amount: 1 });

  it('a live process keeps its slots past several leases; killed with -9, they come back within about a lease', async () => {
    const c = concurrency(3);
    const holder = await startLeaseHolder(REDIS_URL, PREFIX, { leaseMs: LEASE_MS, key: c.key, limit: 3, count: 3 });
    let killed = false;
    try {
      expect(holder.held).toBe(3);
      // Three leases later the heartbeat has kept every slot.
      await sleep(3 * LEASE_MS);
      const full = await backend.reserve(randomUUID(), [c], LEASE_MS);
      expect(full.ok).toBe(false);

      await holder.kill();
      killed = true;
      const diedAt = Date.now();
      let back = false;
      while (!back && Date.now() - diedAt < 10 * LEASE_MS) {
        back = (await backend.reserve(randomUUID(), [c], 60_000)).ok;
        if (!back) await sleep(50);
      }
      const tookMs = Date.now() - diedAt;
      expect(back).toBe(true);
      // The last renewal was at most a third of a lease before the kill: the slot is free at most
      // one lease after it (plus scheduling noise on a shared machine).
      expect(tookMs).toBeLessThan(LEASE_MS + 1_000);
    } finally {
      if (!killed) await holder.kill();
    }
  }, 30_000);

  it('renews every held reservation in one round trip, and never brings back a settled one', async () => {
    const keeper = createLeaseKeeper({ backend, leaseMs: LEASE_MS, intervalMs: 3_600_000 });
    try {
      const tag = `{${randomUUID()}}`;
      const c: Charge = { kind: 'concurrency', key: `gh:${tag}:c:-`, limit: 10, amount: 1 };
      const w: Charge = { kind: 'window', key: `gh:${tag}:d:2099-01-01:-`, limit: 100, resetAt: Date.now() + 3_600_000, amount: 5 };
      const ids = [randomUUID(), randomUUID(), randomUUID()];
      for (const id of ids) {
        expect((await backend.reserve(id, [c, w], keeper.leaseMs)).ok).toBe(true);
        keeper.hold(id, [c, w], 60_000);
      }
      // One settled: released by its owner, and gone from Redis.
      await backend.settle(ids[0] as string, [c, w], [1, 5]);
      keeper.release(ids[0] as string);

      const before = Number(await admin.zscore(`${PREFIX}${c.key}`, ids[1] as string));
      await sleep(200);
      await keeper.beat();
      expect(keeper.stats()).toMatchObject({ held: 2, beats: 1, failures: 0, renewed: 4 });
      const after = Number(await admin.zscore(`${PREFIX}${c.key}`, ids[1] as string));
      expect(after - before).toBeGreaterThanOrEqual(150);
      expect(await admin.zscore(`${PREFIX}${c.key}`, ids[0] as string)).toBeNull();
      expect(await admin.zscore(`${PREFIX}${w.key}|l`, ids[0] as string)).toBeNull();
      expect(Number(await admin.zscore(`${PREFIX}${w.key}|l`, ids[2] as string))).toBe(after);

      // A settle that lands between beats: the next beat does not revive it.
      await backend.settle(ids[1] as string, [c, w], [1, 5]);
      await keeper.beat();
      expect(await admin.zscore(`${PREFIX}${c.key}`, ids[1] as string)).toBeNull();
      expect(await admin.hget(`${PREFIX}${w.key}`, 'p')).toBe('5');
    } finally {
      keeper.close();
    }
  });

  it('stops renewing a reservation past its deadline, so a lost settle cannot hold a slot forever', async () => {
    let t = 0;
    const keeper = createLeaseKeeper({ backend, leaseMs: LEASE_MS, intervalMs: 3_600_000, now: () => t });
    try {
      const c = concurrency(1);
      const id = randomUUID();
      expect((await backend.reserve(id, [c], keeper.leaseMs)).ok).toBe(true);
      keeper.hold(id, [c], 10_000);
      t = 5_000;
      await keeper.beat();
      expect(keeper.stats()).toMatchObject({ held: 1, renewed: 1 });
      t = 10_000;
      await keeper.beat();
      expect(keeper.stats()).toMatchObject({ held: 0, renewed: 1 });
    } finally {
      keeper.close();
    }
  });
});
