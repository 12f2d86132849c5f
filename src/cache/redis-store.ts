/**
 * The Redis cache store, shared by every replica. Entry keys are namespaced and hash-tagged by
 * tenant (`gh:cache:{<tenantId>}:e:<cache key>`), so a tenant's entries and its bookkeeping live in
 * one cluster slot; TTL is Redis expiry. The cache_bytes quota needs to know what a tenant holds:
 * one Lua script (atomic, Redis `TIME`) keeps per tenant
 *   `...:i`  zset   cache key → expiry (ms)
 *   `...:s`  hash   cache key → entry size, and `#` → the tenant's total
 * drops what has expired from both, and stores only when the total stays within the quota.
 * Nothing is evicted for room here: Redis's own maxmemory policy bounds the whole, and an entry
 * Redis evicts early stays counted until its expiry (the quota errs on the tight side).
 *
 * A cache is an optimisation: Redis errors and timeouts are misses and skipped stores, never
 * request failures (the caller counts them).
 */
import { failFastRedis } from '../redis.js';
import { entrySize } from './memory-store.js';
import type { CacheStore, StoreResult } from './types.js';

const SET_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idx, sizes = KEYS[2], KEYS[3]
local member, size, ttl, quota = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local total = tonumber(redis.call('HGET', sizes, '#') or '0')
local expired = redis.call('ZRANGEBYSCORE', idx, '-inf', now)
for _, m in ipairs(expired) do
  total = total - tonumber(redis.call('HGET', sizes, m) or '0')
  redis.call('HDEL', sizes, m)
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', idx, '-inf', now) end
local old = tonumber(redis.call('HGET', sizes, member) or '0')
if total - old + size > quota then
  redis.call('HSET', sizes, '#', total)
  return 0
end
total = total - old + size
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
redis.call('ZADD', idx, now + ttl, member)
redis.call('HSET', sizes, member, size, '#', total)
if redis.call('PTTL', idx) < ttl then
  redis.call('PEXPIRE', idx, ttl)
  redis.call('PEXPIRE', sizes, ttl)
end
return 1
`;

export interface RedisStoreOptions {
  url: string;
  /** A cache call slower than this is a miss. */
  commandTimeoutMs: number;
}

/** The script as an EVALSHA command (ioredis falls back to EVAL once when Redis lacks it). */
interface ScriptClient {
  gatehouseCacheSetV1(entry: string, index: string, sizes: string, member: string, value: Buffer, size: number, ttlMs: number, quota: number): Promise<unknown>;
}

export function tenantPrefix(tenantId: string): string {
  return `gh:cache:{${tenantId.toLowerCase()}}:`;
}

/** The Redis store; `ready` resolves once connected (until then every call is a quick miss). */
export function createRedisStore(opts: RedisStoreOptions): CacheStore & { ready(): Promise<void> } {
  // A cache lookup must not wait for a reconnect: fail at once and answer from upstream.
  const client = failFastRedis(opts.url, opts.commandTimeoutMs);
  client.defineCommand('gatehouseCacheSetV1', { numberOfKeys: 3, lua: SET_SCRIPT });
  const scripts = client as unknown as ScriptClient;

  return {
    kind: 'redis',
    async get(tenantId, key) {
      const value = await client.getBuffer(`${tenantPrefix(tenantId)}e:${key}`);
      return value ?? undefined;
    },
    async set(tenantId, key, value, ttlMs, quotaBytes): Promise<StoreResult> {
      const p = tenantPrefix(tenantId);
      const ttl = Math.max(1, Math.round(ttlMs));
      const stored = await scripts.gatehouseCacheSetV1(`${p}e:${key}`, `${p}i`, `${p}s`, key, value, entrySize(key, value), ttl, quotaBytes);
      return { outcome: stored === 1 ? 'stored' : 'quota', evicted: 0 };
    },
    bytes: () => undefined,
    ready: () => (client.status === 'ready' ? Promise.resolve() : new Promise((resolve) => client.once('ready', () => resolve()))),
    async close() {
      client.disconnect();
    },
  };
}
