/**
 * A Redis database index of its own, for tests that must FLUSHDB (a Redis that lost its data).
 * Every other test shares db 0 and isolates itself by key prefix or tenant hash tag, so db 0 is
 * never flushed. An index is claimed with SET NX on a claim key in db 0 (expiring, in case the
 * test process dies), so concurrent test files, and other engineers' runs on this machine, never
 * flush each other's index.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_URL } from './services.js';

const CLAIM_TTL_MS = 15 * 60_000;
/** db 0 is everyone's; a default Redis has 16 databases. */
const FIRST = 1;
const LAST = 15;

export interface DedicatedRedisDb {
  /** REDIS_URL with the claimed database index. */
  url: string;
  index: number;
  /** A client on that database (FLUSHDB, inspection). */
  client: Redis;
  release(): Promise<void>;
}

export async function claimRedisDb(): Promise<DedicatedRedisDb> {
  const root = new Redis(REDIS_URL);
  const token = randomUUID();
  try {
    for (let index = FIRST; index <= LAST; index++) {
      const claim = `gh-test:redis-db-claim:${index}`;
      if ((await root.set(claim, token, 'PX', CLAIM_TTL_MS, 'NX')) !== 'OK') continue;
      const url = new URL(REDIS_URL);
      url.pathname = `/${index}`;
      const client = new Redis(url.toString());
      await client.flushdb(); // whatever a crashed earlier run left there
      return {
        url: url.toString(),
        index,
        client,
        async release() {
          await client.flushdb();
          await client.quit();
          // Only our own claim: it may have expired and been taken by someone else meanwhile.
          const holder = await root.get(claim);
          if (holder === token) await root.del(claim);
          await root.quit();
        },
      };
    }
  } catch (err) {
    await root.quit();
    throw err;
  }
  await root.quit();
  throw new Error('no free Redis database index to claim (1-15 are all taken)');
}
