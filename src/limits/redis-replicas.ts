/**
 * Replica membership in Redis (replicas.ts). One sorted set, `<prefix>{replicas}:v1`: member =
 * replica id, score = the Redis `TIME` (ms) its lease runs out, so replicas with skewed clocks
 * agree on who is alive. The heartbeat script renews, prunes and reads in one call; the key
 * expires with the longest lease in it, so a fleet that is gone leaves nothing behind.
 *
 * Replicas that share a Redis database are one fleet (as for limit counters and breakers).
 * Calls fail fast when Redis is unreachable (no offline queue, one command timeout): the caller
 * then keeps the last membership it read.
 */
import { failFastRedis, readyWithin } from '../redis.js';
import type { MembershipStore } from './replicas.js';

export interface RedisMembershipOptions {
  url: string;
  commandTimeoutMs: number;
  /** Prepended to the key (tests); default `gh:`. Must not contain `{`. */
  keyPrefix?: string;
}

/** KEYS: set. ARGV: id, leaseMs. Returns the live ids. */
const BEAT = `-- gatehouse replicas beat v1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < lease then redis.call('PEXPIRE', KEYS[1], lease) end
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

interface Scripts {
  gatehouseReplicasBeatV1(key: string, id: string, leaseMs: number): Promise<string[]>;
}

export function createRedisMembership(opts: RedisMembershipOptions): MembershipStore {
  const prefix = opts.keyPrefix ?? 'gh:';
  if (prefix.includes('{')) throw new Error('keyPrefix must not contain "{"');
  const key = `${prefix}{replicas}:v1`;
  // Unreachable means "keep the last membership now", never "queue until it answers".
  const client = failFastRedis(opts.url, opts.commandTimeoutMs);
  client.defineCommand('gatehouseReplicasBeatV1', { numberOfKeys: 1, lua: BEAT });
  const scripts = client as unknown as Scripts;

  return {
    async beat(id, leaseMs) {
      return (await scripts.gatehouseReplicasBeatV1(key, id, Math.round(leaseMs))).map(String);
    },
    async leave(id) {
      await client.zrem(key, id);
    },
    ready: (timeoutMs) => readyWithin(client, timeoutMs),
    async quit() {
      client.disconnect();
    },
  };
}
