/**
 * The limit backend contract on the real Redis (127.0.0.1:6379), plus what only Redis has: key
 * expiry, the hash tag on derived keys, server time. Each run uses its own key prefix and tenant
 * tags, and deletes what it created.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBackend, type RedisLimitBackend } from '../../../src/limits/redis-backend.js';
import type { Charge } from '../../../src/limits/types.js';
import { REDIS_URL, redisAvailable } from '../../helpers/services.js';
import { limitBackendContract } from './backend.contract.js';

const available = await redisAvailable();
const PREFIX = `gh-test-${randomUUID().slice(0, 8)}:`;

async function deletePrefix(admin: Redis): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await admin.del(...keys);
  } while (cursor !== '0');
}

if (available) {
  limitBackendContract({
    label: 'Redis',
    async create() {
      const backend = createRedisBackend({ url: REDIS_URL, keyPrefix: PREFIX, commandTimeoutMs: 5_000 });
      await backend.ready();
      return {
        backend,
        now: () => Date.now(),
        advance: (ms: number) => sleep(ms),
        slackMs: 80,
        virtualTime: false,
        close: () => backend.close(),
      };
    },
  });

  describe('Redis limit backend', () => {
    let admin: Redis;
    let backend: RedisLimitBackend;
    beforeAll(async () => {
      admin = new Redis(REDIS_URL);
      backend = createRedisBackend({ url: REDIS_URL, keyPrefix: PREFIX, commandTimeoutMs: 5_000 });
      await backend.ready();
    });
    afterAll(async () => {
      await backend?.close();
      if (admin !== undefined) {
        await deletePrefix(admin);
        await admin.quit();
      }
    });

    it('puts an expiry on every key it writes, derived keys keep the tenant hash tag', async () => {
      const tag = `{${randomUUID()}}`;
      const charges: Charge[] = [
        { kind: 'bucket', key: `gh:${tag}:b`, limit: 10, burst: 10, periodMs: 10_000, amount: 4 },
        { kind: 'window', key: `gh:${tag}:w`, limit: 100, resetAt: Date.now() + 3_600_000, amount: 5 },
        { kind: 'concurrency', key: `gh:${tag}:c`, limit: 5, amount: 1 },
      ];
      const id = randomUUID();
      const pattern = `${PREFIX}gh:${tag.replace(/[{}]/g, '\\$&')}*`;
      const ttls = async () => {
        const keys = await admin.keys(pattern);
        return Object.fromEntries(await Promise.all(keys.map(async (k) => [k.slice(PREFIX.length), await admin.pttl(k)] as const)));
      };
      expect((await backend.reserve(id, charges, 30_000)).ok).toBe(true);
      const reserved = await ttls();
      expect(Object.keys(reserved).sort()).toEqual([`gh:${tag}:b`, `gh:${tag}:c`, `gh:${tag}:w`, `gh:${tag}:w|l`]);
      // Bucket: 4 of 10 taken at 1 per second → full in 4 s, plus the 60 s margin.
      expect(reserved[`gh:${tag}:b`]).toBeGreaterThan(63_000);
      expect(reserved[`gh:${tag}:b`]).toBeLessThanOrEqual(64_000);
      // Window and its leases: until the reset, plus the lease and the margin.
      for (const k of [`gh:${tag}:w`, `gh:${tag}:w|l`]) {
        expect(reserved[k]).toBeGreaterThan(3_600_000 + 30_000);
        expect(reserved[k]).toBeLessThanOrEqual(3_600_000 + 30_000 + 60_000);
      }
      // Concurrency: the lease plus the margin.
      expect(reserved[`gh:${tag}:c`]).toBeGreaterThan(85_000);
      expect(reserved[`gh:${tag}:c`]).toBeLessThanOrEqual(90_000);

      await backend.settle(id, charges, [2, 5, 1]);
      const settled = await ttls();
      // The holder and the lease were released (empty sets vanish); the settled id is kept.
      expect(Object.keys(settled).sort()).toEqual([`gh:${tag}:b`, `gh:${tag}:b#s:${id}`, `gh:${tag}:w`]);
      // Bucket after the refund of 2: 2 of 10 used → full in 2 s, plus the margin.
      expect(settled[`gh:${tag}:b`]).toBeGreaterThan(61_000);
      expect(settled[`gh:${tag}:b`]).toBeLessThanOrEqual(62_000);
      expect(settled[`gh:${tag}:b#s:${id}`]).toBeGreaterThan(0);
      expect(settled[`gh:${tag}:b#s:${id}`]).toBeLessThanOrEqual(30_000);
      const keys = [...Object.keys(reserved), ...Object.keys(settled)];
      for (const k of keys) expect(k).toContain(tag);
    });

    it('uses Redis time, not the caller\'s: a window reset in the caller\'s past still works', async () => {
      // The caller's clock is behind: resetAt is already over by Redis time. The window still
      // counts, hints a 1 ms retry, and keeps its key for the margin.
      const key = `gh:{${randomUUID()}}:w`;
      const w: Charge = { kind: 'window', key, limit: 1, resetAt: Date.now() - 5_000, amount: 1 };
      expect((await backend.reserve(randomUUID(), [w], 1_000)).ok).toBe(true);
      const r = await backend.reserve(randomUUID(), [w], 1_000);
      expect(r).toMatchObject({ ok: false, failed: 0, retryAfterMs: 1 });
      expect(await admin.pttl(`${PREFIX}${key}`)).toBeGreaterThan(55_000);
    });

    it('lets a burst of requests at start-up wait for the first connection together', async () => {
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(w.name);
      process.on('warning', onWarning);
      const fresh = createRedisBackend({ url: REDIS_URL, keyPrefix: PREFIX, commandTimeoutMs: 5_000 });
      try {
        const key = `gh:{${randomUUID()}}:w`;
        const w: Charge = { kind: 'window', key, limit: 150, resetAt: Date.now() + 60_000, amount: 1 };
        const results = await Promise.all(Array.from({ length: 200 }, () => fresh.reserve(randomUUID(), [w], 10_000)));
        expect(results.filter((r) => r.ok)).toHaveLength(150);
        await new Promise((r) => setImmediate(r));
        expect(warnings).not.toContain('MaxListenersExceededWarning');
      } finally {
        process.off('warning', onWarning);
        await fresh.close();
      }
    });

    it('refuses a key prefix that would move the hash tag', () => {
      expect(() => createRedisBackend({ url: REDIS_URL, keyPrefix: 'x{y}:' })).toThrow(/must not contain/);
    });

    it('reports a wrong key type as an error, not as Redis being down', async () => {
      const key = `gh:{${randomUUID()}}:w`;
      await admin.set(`${PREFIX}${key}`, 'not a hash');
      const err = await backend
        .reserve(randomUUID(), [{ kind: 'window', key, limit: 5, resetAt: Date.now() + 1_000, amount: 1 }], 1_000)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toBe('ReplyError');
      expect((err as Error).message).toMatch(/WRONGTYPE/);
    });
  });
} else {
  describe('limit backend contract [Redis]', () => {
    it.skip('needs Redis at 127.0.0.1:6379 (see test/helpers/services.ts)', () => {});
  });
}
