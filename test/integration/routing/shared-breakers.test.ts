/**
 * The shared-breaker contract on the in-process fleet and on the real Redis (two clients, one key
 * prefix per test, so concurrent runs never see each other's breakers).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { createRedisBreakerFleet } from '../../../src/routing/redis-breakers.js';
import type { BreakerFleet } from '../../../src/routing/shared-breakers.js';
import { REDIS_URL, redisAvailable } from '../../helpers/services.js';
import { memoryBreakerFleet } from './memory-fleet.js';
import { sharedBreakersContract } from './shared-breakers.contract.js';

sharedBreakersContract({
  label: 'memory',
  async pair() {
    const fleet = memoryBreakerFleet();
    return [fleet, fleet];
  },
  async unreachable() {
    const fleet = memoryBreakerFleet();
    fleet.unreachable = true;
    return { fleet, other: fleet, heal: () => void (fleet.unreachable = false) };
  },
});

const haveRedis = await redisAvailable();
const clients: BreakerFleet[] = [];
const prefixes: string[] = [];
afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
  if (!haveRedis || prefixes.length === 0) return;
  // The fleet's keys have no expiry (breakers of a live fleet): this run's go with it.
  const redis = new Redis(REDIS_URL);
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});

const redisFleet = (url: string, keyPrefix: string): BreakerFleet => {
  const f = createRedisBreakerFleet({ url, commandTimeoutMs: 500, keyPrefix });
  clients.push(f);
  return f;
};

sharedBreakersContract({
  label: 'Redis',
  skip: !haveRedis,
  async pair() {
    const prefix = `gh-test-${randomBytes(6).toString('hex')}:`;
    prefixes.push(prefix);
    return [redisFleet(REDIS_URL, prefix), redisFleet(REDIS_URL, prefix)];
  },
  async unreachable() {
    // Nothing listens on port 1: every call fails at once, like a Redis that went away.
    return { fleet: redisFleet('redis://127.0.0.1:1', 'gh-test-dead:') };
  },
});
