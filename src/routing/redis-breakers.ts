/**
 * The fleet's circuit breakers in Redis (shared-breakers.ts). Keys (v1), one hash tag so every
 * script touches one cluster slot:
 *   `<prefix>{breakers}:v1`            hash   deployment id → "<open-until ms>:<cool-down ms>"
 *   `<prefix>{breakers}:v1:p:<id>`     string the probe lease's token, with PX = the lease
 * A closed breaker has no field. Times are Redis `TIME` inside the scripts and come back relative
 * (ms left), so replicas with skewed clocks agree. A field whose cool-down ended more than an
 * hour ago with nobody probing (its deployment gone from the configuration) is dropped by the read.
 *
 * Calls fail fast when Redis is unreachable (no offline queue, one command timeout): the caller
 * then falls back to per-replica breakers.
 */
import { failFastRedis, readyWithin } from '../redis.js';
import type { BreakerFleet, FleetEntry, ProbeClaim } from './shared-breakers.js';

export interface RedisBreakerFleetOptions {
  url: string;
  commandTimeoutMs: number;
  /** Prepended to every key (tests); default `gh:`. Must not contain `{`. */
  keyPrefix?: string;
}

const PRUNE_AFTER_MS = 3_600_000;

const CLOCK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function parse(v)
  local sep = string.find(v, ':', 1, true)
  return tonumber(string.sub(v, 1, sep - 1)), tonumber(string.sub(v, sep + 1))
end
`;

/** KEYS: hash, probe. ARGV: id, durationMs, openMs. Returns {remainingMs, openMs, ours}. */
const TRIP = `-- gatehouse breakers trip v1
${CLOCK}
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then
  local untilMs, m = parse(v)
  if untilMs > now then return {untilMs - now, m, 0} end
end
local d, m = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d:%d', now + d, m))
redis.call('DEL', KEYS[2])
return {d, m, 1}
`;

/** KEYS: hash, probe. ARGV: id, token. Closes only for the lease holder. */
const RECOVER = `-- gatehouse breakers recover v1
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
`;

/** KEYS: hash, probe. ARGV: id, token, leaseMs. Returns {0} closed, {1, ms, m} open, {2, ms} held, {3} won. */
const CLAIM = `-- gatehouse breakers claim v1
${CLOCK}
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return {0} end
local untilMs, m = parse(v)
if untilMs > now then return {1, untilMs - now, m} end
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then return {2, ttl} end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return {3}
`;

/** KEYS: probe. ARGV: token. */
const RELEASE = `-- gatehouse breakers release v1
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

/** KEYS: hash. ARGV: pruneAfterMs. Returns {id, remainingMs, openMs, ...}. */
const READ = `-- gatehouse breakers read v1
${CLOCK}
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local untilMs, m = parse(all[i + 1])
  if untilMs + tonumber(ARGV[1]) < now then
    redis.call('HDEL', KEYS[1], all[i])
  else
    out[#out + 1] = all[i]
    out[#out + 1] = untilMs - now
    out[#out + 1] = m
  end
end
return out
`;

interface Scripts {
  gatehouseBreakerTripV1(hash: string, probe: string, id: string, durationMs: number, openMs: number): Promise<[number, number, number]>;
  gatehouseBreakerRecoverV1(hash: string, probe: string, id: string, token: string): Promise<number>;
  gatehouseBreakerClaimV1(hash: string, probe: string, id: string, token: string, leaseMs: number): Promise<number[]>;
  gatehouseBreakerReleaseV1(probe: string, token: string): Promise<number>;
  gatehouseBreakerReadV1(hash: string, pruneAfterMs: number): Promise<(string | number)[]>;
}

export function createRedisBreakerFleet(opts: RedisBreakerFleetOptions): BreakerFleet {
  const prefix = opts.keyPrefix ?? 'gh:';
  if (prefix.includes('{')) throw new Error('keyPrefix must not contain "{"');
  const hash = `${prefix}{breakers}:v1`;
  const probeKey = (id: string): string => `${hash}:p:${id}`;
  // Unreachable means "fall back now", never "queue until it answers".
  const client = failFastRedis(opts.url, opts.commandTimeoutMs);
  client.defineCommand('gatehouseBreakerTripV1', { numberOfKeys: 2, lua: TRIP });
  client.defineCommand('gatehouseBreakerRecoverV1', { numberOfKeys: 2, lua: RECOVER });
  client.defineCommand('gatehouseBreakerClaimV1', { numberOfKeys: 2, lua: CLAIM });
  client.defineCommand('gatehouseBreakerReleaseV1', { numberOfKeys: 1, lua: RELEASE });
  client.defineCommand('gatehouseBreakerReadV1', { numberOfKeys: 1, lua: READ });
  const scripts = client as unknown as Scripts;

  return {
    async trip(id, durationMs, openMs) {
      const [remainingMs, m, ours] = await scripts.gatehouseBreakerTripV1(hash, probeKey(id), id, Math.round(durationMs), Math.round(openMs));
      return { remainingMs, openMs: m, ours: ours === 1 };
    },
    async recover(id, token) {
      return (await scripts.gatehouseBreakerRecoverV1(hash, probeKey(id), id, token)) === 1;
    },
    async claimProbe(id, token, leaseMs): Promise<ProbeClaim> {
      const r = await scripts.gatehouseBreakerClaimV1(hash, probeKey(id), id, token, Math.round(leaseMs));
      switch (r[0]) {
        case 0:
          return { kind: 'closed' };
        case 1:
          return { kind: 'open', remainingMs: r[1] as number, openMs: r[2] as number };
        case 2:
          return { kind: 'held', remainingMs: r[1] as number };
        default:
          return { kind: 'won' };
      }
    },
    async releaseProbe(id, token) {
      await scripts.gatehouseBreakerReleaseV1(probeKey(id), token);
    },
    async read() {
      const flat = await scripts.gatehouseBreakerReadV1(hash, PRUNE_AFTER_MS);
      const out = new Map<string, FleetEntry>();
      for (let i = 0; i + 2 < flat.length; i += 3) {
        out.set(String(flat[i]), { remainingMs: Number(flat[i + 1]), openMs: Number(flat[i + 2]) });
      }
      return out;
    },
    ready: (timeoutMs) => readyWithin(client, timeoutMs),
    async quit() {
      client.disconnect();
    },
  };
}
