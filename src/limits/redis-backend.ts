/**
 * The Redis limit backend (DESIGN §4, §12): the same semantics as the memory backend, shared by
 * every replica. One round trip per reserve: a Lua script checks and reserves every charge of a
 * request atomically. Settling is one script call too; its promise settles when Redis answered,
 * and the caller need not wait for it.
 *
 * Time comes from Redis (`TIME`), never from the gateway, so replicas with skewed clocks agree on
 * refill and lease expiry. Window reset instants are computed by the caller (calendar windows
 * are named in the key); Redis only uses them for retry hints and key expiry.
 *
 * Key layout (v1), all derived from `Charge.key`, which carries the tenant hash tag `{<tenant>}`
 * so every key of one request hashes to one cluster slot; every key is passed through KEYS:
 *   bucket       `<key>`     hash  l = level (float), t = last update (Redis ms)
 *   window       `<key>`     hash  u = settled usage, p = pending sum, r:<id> = reserved amount
 *                `<key>|l`   zset  <id> → lease expiry
 *   concurrency  `<key>`     zset  <id> → lease expiry
 *   settled id   `<first key>#s:<id>`  string, lives SETTLED_TTL_MS (idempotent settle)
 * Every key carries a PEXPIRE (bucket: until full + margin; window: until reset + lease + margin;
 * concurrency: lease + margin), so Redis memory stays bounded.
 *
 * Reservation ids must be unique per reservation and chosen by the gateway: an id a client can
 * repeat would let two requests share one reservation. The keys of one request must be distinct.
 */
import { Redis } from 'ioredis';
import { CONCURRENCY_RETRY_MAX_MS, CONCURRENCY_RETRY_MIN_MS, LEVEL_EPSILON, SETTLED_TTL_MS, units } from './semantics.js';
import type { Charge, ChargeState, LimitBackend, ReserveResult, WindowCounterState } from './types.js';
import { LimitsUnavailableError } from './unavailable.js';

export interface RedisBackendOptions {
  url: string;
  /** Prepended to every key (ioredis keyPrefix); must not contain '{' (it would move the hash tag). */
  keyPrefix?: string;
  /** Default 1,000 ms. */
  connectTimeoutMs?: number;
  /** Default 250 ms: a dead or stalled Redis must not stall requests. */
  commandTimeoutMs?: number;
}

export interface RedisLimitBackend extends LimitBackend {
  readonly kind: 'redis';
  reserve(reservationId: string, charges: readonly Charge[], leaseMs: number): Promise<ReserveResult>;
  /**
   * Resolves once Redis applied the settlement; rejects (LimitsUnavailableError when Redis is
   * unreachable) so a wrapper can retry it. Use it through the failover wrapper, whose settle
   * never rejects, or attach a handler.
   */
  settle(reservationId: string, charges: readonly Charge[], used: readonly number[]): Promise<void>;
  /** One PING; rejects with LimitsUnavailableError when Redis cannot answer. */
  ping(): Promise<void>;
  /**
   * Window counters by key, read in one pipelined round trip (HMGET u p) without running the
   * reserve script: reservations whose lease expired stay counted until the next reserve on
   * that key purges them (a dead replica's requests, for at most their lease).
   */
  peekWindows(keys: readonly string[]): Promise<Map<string, WindowCounterState>>;
  /**
   * Waits until the connection is ready, at most the connect timeout; rejects on the first
   * connection error. Reserve and settle wait for it until the first connection succeeded, so
   * requests at start-up are not refused while the connection is still being made.
   */
  ready(): Promise<void>;
}

/** Extra key lifetime beyond the computed need: absorbs clock skew between gateway and Redis. */
const MARGIN_MS = 60_000;
const LEASES_SUFFIX = '|l';
const SETTLED_INFIX = '#s:';

const LUA_HELPERS = `
local function fmt(x) return string.format('%.17g', x) end
local function int(x) return string.format('%d', x) end
local function extend(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
`;

/**
 * KEYS: per charge, bucket <key>; window <key>, <key>|l; concurrency <key>.
 * ARGV: id, leaseMs, retryMin, retryMax, margin, epsilon, then per charge: kind (b|w|c), limit,
 * p1 (bucket: burst; window: resetAt), p2 (bucket: periodMs), amount.
 * Returns {failed (0-based, -1 when admitted), retryAfterMs, remaining1, resetMs1, ...}.
 */
const RESERVE_LUA = `-- gatehouse limits reserve v1
${LUA_HELPERS}
local function purge(key, lkey, now)
  local gone = redis.call('ZRANGEBYSCORE', lkey, '-inf', now)
  if #gone == 0 then return end
  local sum = 0
  for j = 1, #gone, 500 do
    local fields = {}
    for x = j, math.min(j + 499, #gone) do fields[#fields + 1] = 'r:' .. gone[x] end
    local amounts = redis.call('HMGET', key, unpack(fields))
    for x = 1, #amounts do sum = sum + (tonumber(amounts[x]) or 0) end
    redis.call('HDEL', key, unpack(fields))
  end
  redis.call('HINCRBY', key, 'p', int(-sum))
  redis.call('ZREMRANGEBYSCORE', lkey, '-inf', now)
end

local id = ARGV[1]
local lease = tonumber(ARGV[2])
local rmin, rmax = tonumber(ARGV[3]), tonumber(ARGV[4])
local margin, eps = tonumber(ARGV[5]), tonumber(ARGV[6])
local now = clock()
local n = (#ARGV - 6) / 5
local at, vals, stamps = {}, {}, {}
local failed, retry = -1, 0
local k = 1

for i = 1, n do
  local a = 7 + (i - 1) * 5
  local kind, limit, p1, p2, amount = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  at[i] = k
  local ok, r = true, 0
  if kind == 'b' then
    local h = redis.call('HMGET', KEYS[k], 'l', 't')
    k = k + 1
    local level, ts = tonumber(h[1]), tonumber(h[2])
    if level == nil or ts == nil then level, ts = p1, now end
    if limit > 0 and p2 > 0 and now > ts then level = level + (now - ts) * limit / p2 end
    if level > p1 then level = p1 end
    vals[i], stamps[i] = level, ts
    ok = limit > 0 and amount <= p1 and level + eps >= amount
    if not ok then
      local period = p2 > 0 and p2 or 1
      if limit <= 0 then r = period
      elseif amount > p1 then
        r = math.ceil((p1 - level) * p2 / limit)
        if r <= 0 then r = period end
      else r = math.ceil((amount - level) * p2 / limit) end
    end
  elseif kind == 'w' then
    purge(KEYS[k], KEYS[k + 1], now)
    local h = redis.call('HMGET', KEYS[k], 'u', 'p')
    k = k + 2
    local taken = (tonumber(h[1]) or 0) + (tonumber(h[2]) or 0)
    vals[i] = taken
    ok = taken + amount <= limit
    if not ok then r = math.ceil(p1 - now) end
  else
    redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now)
    local count = redis.call('ZCARD', KEYS[k])
    vals[i] = count
    ok = limit > 0 and count < limit
    if not ok then
      local first = redis.call('ZRANGE', KEYS[k], 0, 0, 'WITHSCORES')
      if first[2] then r = math.ceil(tonumber(first[2]) - now) else r = rmax end
      if r < rmin then r = rmin elseif r > rmax then r = rmax end
    end
    k = k + 1
  end
  if not ok then
    if failed < 0 then failed = i - 1 end
    if r > retry then retry = r end
  end
end

local take = failed < 0
local expiry = now + lease
local out = { failed, retry > 1 and retry or 1 }
for i = 1, n do
  local a = 7 + (i - 1) * 5
  local kind, limit, p1, p2 = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local amount = take and tonumber(ARGV[a + 4]) or 0
  local key = KEYS[at[i]]
  local remaining, reset
  if kind == 'b' then
    local level = vals[i] - amount
    reset = limit > 0 and math.ceil((p1 - level) * p2 / limit) or 0
    if take then
      local ts = stamps[i] > now and stamps[i] or now
      redis.call('HSET', key, 'l', fmt(level), 't', fmt(ts))
      redis.call('PEXPIRE', key, (reset > 0 and reset or 0) + margin)
    end
    remaining = math.floor(level + eps)
  elseif kind == 'w' then
    if take then
      local field = 'r:' .. id
      local prior = tonumber(redis.call('HGET', key, field)) or 0
      redis.call('HSET', key, field, int(amount))
      redis.call('HINCRBY', key, 'p', int(amount - prior))
      redis.call('ZADD', KEYS[at[i] + 1], fmt(expiry), id)
      local left = math.ceil(p1 - now)
      local ttl = (left > 0 and left or 0) + lease + margin
      extend(key, ttl)
      extend(KEYS[at[i] + 1], ttl)
    end
    remaining = limit - vals[i] - amount
    reset = math.ceil(p1 - now)
  else
    if take then
      redis.call('ZADD', key, fmt(expiry), id)
      extend(key, lease + margin)
      remaining = limit - vals[i] - 1
    else
      remaining = limit - vals[i]
    end
    reset = 0
  end
  out[#out + 1] = remaining > 0 and remaining or 0
  out[#out + 1] = reset > 0 and reset or 0
end
return out
`;

/**
 * KEYS: as for reserve, then the settled-id key. ARGV: id, settledTtl, margin, then per charge:
 * kind, limit, p1, p2, amount, used. Returns 1, or 0 when the id was already settled.
 */
const SETTLE_LUA = `-- gatehouse limits settle v1
${LUA_HELPERS}
local id = ARGV[1]
if not redis.call('SET', KEYS[#KEYS], '1', 'PX', ARGV[2], 'NX') then return 0 end
local margin = tonumber(ARGV[3])
local now = clock()
local n = (#ARGV - 3) / 6
local k = 1
for i = 1, n do
  local a = 4 + (i - 1) * 6
  local kind, limit, p1, p2 = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local amount, used = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  if kind == 'b' then
    local key = KEYS[k]
    k = k + 1
    local diff = amount - used
    if limit > 0 and diff ~= 0 then
      local h = redis.call('HMGET', key, 'l', 't')
      local level, ts = tonumber(h[1]), tonumber(h[2])
      -- A missing bucket is full: a refund changes nothing, a debit recreates it.
      if level ~= nil and ts ~= nil or diff < 0 then
        if level == nil or ts == nil then level, ts = p1, now end
        if p2 > 0 and now > ts then level = level + (now - ts) * limit / p2 end
        if level > p1 then level = p1 end
        level = level + diff
        if level > p1 then level = p1 end
        if ts < now then ts = now end
        redis.call('HSET', key, 'l', fmt(level), 't', fmt(ts))
        local reset = math.ceil((p1 - level) * p2 / limit)
        redis.call('PEXPIRE', key, (reset > 0 and reset or 0) + margin)
      end
    end
  elseif kind == 'w' then
    local key, lkey = KEYS[k], KEYS[k + 1]
    k = k + 2
    local field = 'r:' .. id
    local held = tonumber(redis.call('HGET', key, field))
    if held then
      redis.call('HDEL', key, field)
      redis.call('HINCRBY', key, 'p', int(-held))
      redis.call('ZREM', lkey, id)
    end
    redis.call('HINCRBY', key, 'u', int(used))
    local left = math.ceil(p1 - now)
    extend(key, (left > 0 and left or 0) + margin)
  else
    redis.call('ZREM', KEYS[k], id)
    k = k + 1
  end
end
return 1
`;

type Arg = string | number;

interface ScriptClient {
  gatehouseLimitsReserveV1(...args: Arg[]): Promise<unknown>;
  gatehouseLimitsSettleV1(...args: Arg[]): Promise<unknown>;
}

/** Server-side refusals that mean "cannot serve now", not "your command is wrong". */
const TRANSIENT_REPLY = /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|NOREPLICAS|OOM)\b/;

function classify(err: unknown): Error {
  if (err instanceof Error && err.name === 'ReplyError' && !TRANSIENT_REPLY.test(err.message)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new LimitsUnavailableError(`Redis unavailable: ${message}`, { cause: err });
}

function pushKeys(keys: string[], c: Charge): void {
  keys.push(c.key);
  if (c.kind === 'window') keys.push(c.key + LEASES_SUFFIX);
}

function pushParams(argv: Arg[], c: Charge): void {
  if (c.kind === 'bucket') argv.push('b', c.limit, c.burst, c.periodMs);
  else if (c.kind === 'window') argv.push('w', c.limit, c.resetAt, 0);
  else argv.push('c', c.limit, 0, 0);
}

function toNumber(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

function parseReserve(reply: unknown, n: number): ReserveResult {
  if (!Array.isArray(reply) || reply.length !== 2 + 2 * n) throw new Error('limits: unexpected reply from the reserve script');
  const states = new Array<ChargeState>(n);
  for (let i = 0; i < n; i++) states[i] = { remaining: toNumber(reply[2 + 2 * i]), resetMs: toNumber(reply[3 + 2 * i]) };
  const failed = toNumber(reply[0]);
  if (failed < 0) return { ok: true, states };
  return { ok: false, failed, states, retryAfterMs: toNumber(reply[1]) };
}

export function createRedisBackend(opts: RedisBackendOptions): RedisLimitBackend {
  const keyPrefix = opts.keyPrefix ?? '';
  if (keyPrefix.includes('{') || keyPrefix.includes('}')) throw new Error('limits: the Redis key prefix must not contain { or }');
  const connectTimeoutMs = opts.connectTimeoutMs ?? 1_000;
  const client = new Redis(opts.url, {
    keyPrefix,
    connectTimeout: connectTimeoutMs,
    commandTimeout: opts.commandTimeoutMs ?? 250,
    // Fail at once while disconnected instead of queueing: a queued reserve that timed out
    // would still run later and hold capacity nobody uses. Likewise never resend a command
    // whose answer was lost: a reserve must not run twice.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times: number) => Math.min(times * 100, 1_000),
  });
  // Connection errors surface through commands (and the failover wrapper logs them); without
  // a listener ioredis would print each reconnect failure.
  client.on('error', () => {});
  client.defineCommand('gatehouseLimitsReserveV1', { lua: RESERVE_LUA });
  client.defineCommand('gatehouseLimitsSettleV1', { lua: SETTLE_LUA });
  const scripts = client as unknown as ScriptClient;
  let everReady = false;
  client.once('ready', () => {
    everReady = true;
  });

  async function reserve(reservationId: string, charges: readonly Charge[], leaseMs: number): Promise<ReserveResult> {
    const n = charges.length;
    if (n === 0) return { ok: true, states: [] };
    const keys: string[] = [];
    const argv: Arg[] = [
      reservationId,
      Math.max(1, Math.ceil(leaseMs)),
      CONCURRENCY_RETRY_MIN_MS,
      CONCURRENCY_RETRY_MAX_MS,
      MARGIN_MS,
      LEVEL_EPSILON,
    ];
    for (const c of charges) {
      pushKeys(keys, c);
      pushParams(argv, c);
      argv.push(units(c.amount));
    }
    if (!everReady) await ready();
    let reply: unknown;
    try {
      reply = await scripts.gatehouseLimitsReserveV1(keys.length, ...keys, ...argv);
    } catch (err) {
      throw classify(err);
    }
    return parseReserve(reply, n);
  }

  async function settle(reservationId: string, charges: readonly Charge[], used: readonly number[]): Promise<void> {
    const first = charges[0];
    if (first === undefined) return;
    const keys: string[] = [];
    const argv: Arg[] = [reservationId, SETTLED_TTL_MS, MARGIN_MS];
    for (let i = 0; i < charges.length; i++) {
      const c = charges[i] as Charge;
      pushKeys(keys, c);
      pushParams(argv, c);
      argv.push(units(c.amount), units(used[i] ?? 0));
    }
    keys.push(first.key + SETTLED_INFIX + reservationId);
    if (!everReady) await ready();
    try {
      await scripts.gatehouseLimitsSettleV1(keys.length, ...keys, ...argv);
    } catch (err) {
      throw classify(err);
    }
  }

  async function peekWindows(keys: readonly string[]): Promise<Map<string, WindowCounterState>> {
    const out = new Map<string, WindowCounterState>();
    if (keys.length === 0) return out;
    if (!everReady) await ready();
    const pipeline = client.pipeline();
    for (const key of keys) pipeline.hmget(key, 'u', 'p');
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (err) {
      throw classify(err);
    }
    keys.forEach((key, i) => {
      const [err, value] = replies?.[i] ?? [null, null];
      if (err !== null || !Array.isArray(value)) return;
      const [u, p] = value as (string | null)[];
      if (u === null && p === null) return;
      out.set(key, { used: Number(u ?? 0), pending: Math.max(0, Number(p ?? 0)) });
    });
    return out;
  }

  async function ping(): Promise<void> {
    try {
      await client.ping();
    } catch (err) {
      throw classify(err);
    }
  }

  // One wait shared by every caller: a burst of requests at start-up must not add a listener each.
  let connecting: Promise<void> | undefined;

  function ready(): Promise<void> {
    if (client.status === 'ready') return Promise.resolve();
    connecting ??= new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('error', onError);
        connecting = undefined;
        if (err === undefined) resolve();
        else reject(err);
      };
      const onReady = () => done();
      const onError = (err: unknown) => done(classify(err));
      const timer = setTimeout(() => done(new LimitsUnavailableError(`Redis not ready after ${connectTimeoutMs} ms`)), connectTimeoutMs);
      client.on('ready', onReady);
      client.on('error', onError);
    });
    return connecting;
  }

  async function close(): Promise<void> {
    if (client.status === 'end') return;
    try {
      await client.quit();
    } catch {
      client.disconnect();
    }
  }

  return { kind: 'redis', reserve, settle, ping, peekWindows, ready, close };
}
