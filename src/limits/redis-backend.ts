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
 *   seed marker  `gh:{<tenant>}:seeded`  string: the Redis run id the tenant's day/month counters
 *                were last reseeded from the ledger under (lives SEED_MARKER_TTL_MS)
 * Every key carries a PEXPIRE (bucket: until full + margin; window: until reset + lease + margin;
 * concurrency: lease + margin), so Redis memory stays bounded.
 *
 * Leases are short (src/limits/leases.ts renews those of live requests in one round trip per
 * interval), so the concurrency slots and pending window reservations of a process that died
 * come back within one lease.
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
  /**
   * The ledger's usage of one tenant's current day/month windows (src/billing/limit-seeds.ts, handed in by app.ts). Given,
   * a reservation with day/month charges first checks that its tenant's counters were seeded
   * since this Redis run started (a marker key in the same script); when they were not (Redis
   * restarted, failed over or was flushed: DESIGN §12), the tenant's counters are raised to the
   * ledger's figures and the reservation retried. One ledger read per tenant and Redis run.
   */
  ledger?: (tenantId: string) => Promise<readonly WindowSeed[]>;
  /** Told when reseeding a tenant fails (the reservation then goes ahead on Redis's own counts). */
  onSeedError?: (tenantId: string, err: unknown) => void;
  /** Told of each tenant reseeded: how many counters the ledger raised. */
  onSeeded?: (tenantId: string, raised: number) => void;
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
  /**
   * Extends the leases of live reservations to `leaseMs` from now (Redis time), all of them in
   * one round trip (a pipeline of one script call per tenant hash tag). A reservation that was
   * settled, or whose lease already lapsed and was purged, is not brought back. Resolves with
   * the number of leases extended.
   */
  renew(held: readonly HeldLeases[], leaseMs: number): Promise<number>;
  /**
   * Raises day/month window counters of one tenant to at least the given usage (never lowers
   * one) and marks the tenant seeded for this Redis run (`seedMarkerKey`). All keys must carry
   * the same tenant hash tag. Resolves with the number of counters raised.
   */
  seedWindows(marker: string, entries: readonly WindowSeed[]): Promise<number>;
  /**
   * The Redis server's run id (`INFO server`), read on every (re)connection: a new run id means
   * a restarted or failed-over server whose counters may have lost writes. '' when unknown.
   */
  runId(): Promise<string>;
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

/** Reservations whose leases a process keeps alive (src/limits/leases.ts). */
export interface HeldLeases {
  id: string;
  charges: readonly Charge[];
}

/** One day/month counter's usage as the ledger knows it (src/billing/limit-seeds.ts, handed in by app.ts). */
export interface WindowSeed {
  /** The window counter's key (`Charge.key` of a window charge). */
  key: string;
  /** Usage to raise the counter to, at least. */
  used: number;
  /** Epoch ms when the window ends (the counter's expiry follows it). */
  resetAt: number;
}

/**
 * Per tenant, whether its day/month counters were reseeded from the ledger since this Redis run
 * started (DESIGN §12). Holds the run id it was seeded under; expires, so an idle tenant's
 * marker does not live forever (an expired marker costs one more ledger read, nothing else).
 */
export const SEED_MARKER_SUFFIX = ':seeded';
export const SEED_MARKER_TTL_MS = 7 * 24 * 3_600_000;

/** `gh:{tenant}:seeded` for any charge key `gh:{tenant}:...`; undefined when the key has no hash tag. */
export function seedMarkerKey(chargeKey: string): string | undefined {
  const close = chargeKey.indexOf('}');
  if (close === -1 || chargeKey.indexOf('{') === -1) return undefined;
  return chargeKey.slice(0, close + 1) + SEED_MARKER_SUFFIX;
}

/** Reply of the reserve script when the tenant's counters must be reseeded first. */
export const UNSEEDED = -2;

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
 * KEYS: per charge, bucket <key>; window <key>, <key>|l; concurrency <key>; then, when ARGV[7]
 * is not '-', the tenant's seed marker.
 * ARGV: id, leaseMs, retryMin, retryMax, margin, epsilon, runId ('-': no seed check; '': any
 * marker will do), then per charge: kind (b|w|c), limit, p1 (bucket: burst; window: resetAt),
 * p2 (bucket: periodMs), amount.
 * Returns {failed (0-based, -1 when admitted, -2 when the tenant must be reseeded first and
 * nothing was reserved), retryAfterMs, remaining1, resetMs1, ...}.
 */
const RESERVE_LUA = `-- gatehouse limits reserve v2
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
local run = ARGV[7]
local n = (#ARGV - 7) / 5
if run ~= '-' then
  -- Day/month counters after a restart, failover or flush: reseed from the ledger first.
  local seeded = redis.call('GET', KEYS[#KEYS])
  if not seeded or (run ~= '' and seeded ~= run) then return { -2, 0 } end
end
local now = clock()
local at, vals, stamps = {}, {}, {}
local failed, retry = -1, 0
local k = 1

for i = 1, n do
  local a = 8 + (i - 1) * 5
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
  local a = 8 + (i - 1) * 5
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

/**
 * KEYS: lease sets (a window's `<key>|l`, a concurrency `<key>`), all of one tenant. ARGV:
 * leaseMs, margin, then per key: how many ids follow, the ids. Only ids still in their set get
 * the new expiry (XX): a settled or purged reservation stays gone.
 */
const RENEW_LUA = `-- gatehouse limits renew v1
${LUA_HELPERS}
local lease, margin = tonumber(ARGV[1]), tonumber(ARGV[2])
local expiry = fmt(clock() + lease)
local a, renewed = 3, 0
for k = 1, #KEYS do
  local count = tonumber(ARGV[a])
  a = a + 1
  for j = 1, count do
    renewed = renewed + redis.call('ZADD', KEYS[k], 'XX', 'CH', expiry, ARGV[a])
    a = a + 1
  end
  extend(KEYS[k], lease + margin)
end
return renewed
`;

/**
 * KEYS: the tenant's seed marker, then window counters. ARGV: runId, markerTtl, margin, then per
 * counter: used, resetAt. Raises each counter's settled usage to `used` when below (the larger of
 * Redis and the ledger, DESIGN §12), then marks the tenant seeded under runId. Returns how many
 * counters were raised.
 */
const SEED_LUA = `-- gatehouse limits seed v1
${LUA_HELPERS}
local margin = tonumber(ARGV[3])
local now = clock()
local raised = 0
for k = 2, #KEYS do
  local a = 4 + (k - 2) * 2
  local used, reset = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local left = math.ceil(reset - now)
  if left > 0 then
    local u = tonumber(redis.call('HGET', KEYS[k], 'u')) or 0
    if used > u then
      redis.call('HSET', KEYS[k], 'u', int(used))
      raised = raised + 1
    end
    extend(KEYS[k], left + margin)
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return raised
`;

type Arg = string | number;

interface ScriptClient {
  gatehouseLimitsReserveV2(...args: Arg[]): Promise<unknown>;
  gatehouseLimitsSettleV1(...args: Arg[]): Promise<unknown>;
  gatehouseLimitsSeedV1(...args: Arg[]): Promise<unknown>;
}

interface ScriptPipeline {
  gatehouseLimitsRenewV1(...args: Arg[]): ScriptPipeline;
  exec(): Promise<[Error | null, unknown][] | null>;
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

/** The lease sets of one reservation's charges (buckets hold no lease). */
function leaseKeys(charges: readonly Charge[]): string[] {
  const keys: string[] = [];
  for (const c of charges) {
    if (c.kind === 'window') keys.push(c.key + LEASES_SUFFIX);
    else if (c.kind === 'concurrency') keys.push(c.key);
  }
  return keys;
}

/** The `{...}` hash tag of a key (every key of one tenant shares it), or '' when it has none. */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return '';
  const close = key.indexOf('}', open);
  return close === -1 ? '' : key.slice(open, close + 1);
}

/** Renew script arguments per hash tag: lease set → ids holding a lease in it. */
function renewGroups(held: readonly HeldLeases[]): Map<string, Map<string, string[]>> {
  const groups = new Map<string, Map<string, string[]>>();
  for (const h of held) {
    for (const key of leaseKeys(h.charges)) {
      const tag = hashTag(key);
      let sets = groups.get(tag);
      if (sets === undefined) groups.set(tag, (sets = new Map()));
      const ids = sets.get(key);
      if (ids === undefined) sets.set(key, [h.id]);
      else ids.push(h.id);
    }
  }
  return groups;
}

function toNumber(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

function parseReserve(reply: unknown, n: number): ReserveResult | typeof UNSEEDED {
  if (Array.isArray(reply) && reply.length === 2 && toNumber(reply[0]) === UNSEEDED) return UNSEEDED;
  if (!Array.isArray(reply) || reply.length !== 2 + 2 * n) throw new Error('limits: unexpected reply from the reserve script');
  const states = new Array<ChargeState>(n);
  for (let i = 0; i < n; i++) states[i] = { remaining: toNumber(reply[2 + 2 * i]), resetMs: toNumber(reply[3 + 2 * i]) };
  const failed = toNumber(reply[0]);
  if (failed < 0) return { ok: true, states };
  return { ok: false, failed, states, retryAfterMs: toNumber(reply[1]) };
}

/** After a failed reseed, a tenant is not retried for this long (requests go ahead meanwhile). */
const SEED_RETRY_MS = 10_000;
const MAX_SEED_FAILURES = 10_000;

function tenantOfMarker(marker: string): string {
  return marker.slice(marker.indexOf('{') + 1, marker.indexOf('}'));
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
  client.defineCommand('gatehouseLimitsReserveV2', { lua: RESERVE_LUA });
  client.defineCommand('gatehouseLimitsSettleV1', { lua: SETTLE_LUA });
  client.defineCommand('gatehouseLimitsRenewV1', { lua: RENEW_LUA });
  client.defineCommand('gatehouseLimitsSeedV1', { lua: SEED_LUA });
  const scripts = client as unknown as ScriptClient;
  const ledger = opts.ledger;

  // The server's run id, read on every (re)connection before any reservation uses it: after a
  // failover the new primary has another run id, and its replicated counters may lack the last
  // writes, so every tenant is reseeded even though its marker was replicated.
  let run = '';
  let runFetch: Promise<void> | undefined;
  async function fetchRunId(): Promise<void> {
    try {
      const info = await client.info('server');
      run = /run_id:([0-9a-f]+)/.exec(info)?.[1] ?? '';
    } catch {
      run = ''; // INFO refused (renamed command): a missing marker still triggers a reseed
    } finally {
      runFetch = undefined;
    }
  }
  let everReady = false;
  client.on('ready', () => {
    everReady = true;
    if (ledger !== undefined) runFetch = fetchRunId();
  });

  const seeding = new Map<string, Promise<void>>();
  const seedFailedAt = new Map<string, number>();

  /** Reseeds one tenant's windows from the ledger; once at a time per tenant. Never rejects. */
  function reseed(marker: string): Promise<void> {
    let pending = seeding.get(marker);
    if (pending !== undefined) return pending;
    const tenantId = tenantOfMarker(marker);
    pending = (async () => {
      try {
        const entries = await (ledger as NonNullable<typeof ledger>)(tenantId);
        const raised = await seedWindows(marker, entries);
        seedFailedAt.delete(marker);
        opts.onSeeded?.(tenantId, raised);
      } catch (err) {
        if (seedFailedAt.size >= MAX_SEED_FAILURES) seedFailedAt.clear();
        seedFailedAt.set(marker, Date.now());
        opts.onSeedError?.(tenantId, err);
      } finally {
        seeding.delete(marker);
      }
    })();
    seeding.set(marker, pending);
    return pending;
  }

  /** The tenant's seed marker when this reservation must check it, else undefined. */
  function markerFor(charges: readonly Charge[]): string | undefined {
    if (ledger === undefined) return undefined;
    for (const c of charges) {
      if (c.kind !== 'window') continue;
      const marker = seedMarkerKey(c.key);
      if (marker === undefined) return undefined;
      const failedAt = seedFailedAt.get(marker);
      if (failedAt !== undefined && Date.now() - failedAt < SEED_RETRY_MS) return undefined;
      return marker;
    }
    return undefined;
  }

  async function reserve(reservationId: string, charges: readonly Charge[], leaseMs: number): Promise<ReserveResult> {
    const n = charges.length;
    if (n === 0) return { ok: true, states: [] };
    if (!everReady) await ready();
    if (runFetch !== undefined) await runFetch;
    // At most one reseed per call: a second "unseeded" (the server changed again meanwhile)
    // goes ahead on Redis's counts rather than stalling the request.
    for (let attempt = 0; ; attempt++) {
      const marker = attempt === 0 ? markerFor(charges) : undefined;
      const keys: string[] = [];
      const argv: Arg[] = [
        reservationId,
        Math.max(1, Math.ceil(leaseMs)),
        CONCURRENCY_RETRY_MIN_MS,
        CONCURRENCY_RETRY_MAX_MS,
        MARGIN_MS,
        LEVEL_EPSILON,
        marker === undefined ? '-' : run,
      ];
      for (const c of charges) {
        pushKeys(keys, c);
        pushParams(argv, c);
        argv.push(units(c.amount));
      }
      if (marker !== undefined) keys.push(marker);
      let reply: unknown;
      try {
        reply = await scripts.gatehouseLimitsReserveV2(keys.length, ...keys, ...argv);
      } catch (err) {
        throw classify(err);
      }
      const result = parseReserve(reply, n);
      if (result !== UNSEEDED) return result;
      await reseed(marker as string);
    }
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

  async function renew(held: readonly HeldLeases[], leaseMs: number): Promise<number> {
    const groups = renewGroups(held);
    if (groups.size === 0) return 0;
    const lease = Math.max(1, Math.ceil(leaseMs));
    const pipeline = client.pipeline() as unknown as ScriptPipeline;
    for (const sets of groups.values()) {
      const keys: string[] = [];
      const argv: Arg[] = [lease, MARGIN_MS];
      for (const [key, ids] of sets) {
        keys.push(key);
        argv.push(ids.length, ...ids);
      }
      pipeline.gatehouseLimitsRenewV1(keys.length, ...keys, ...argv);
    }
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (err) {
      throw classify(err);
    }
    let renewed = 0;
    for (const [err, value] of replies ?? []) {
      if (err !== null) throw classify(err);
      renewed += toNumber(value);
    }
    return renewed;
  }

  async function seedWindows(marker: string, entries: readonly WindowSeed[]): Promise<number> {
    const keys: string[] = [marker];
    const argv: Arg[] = [run, SEED_MARKER_TTL_MS, MARGIN_MS];
    for (const e of entries) {
      keys.push(e.key);
      argv.push(units(e.used), Math.ceil(e.resetAt));
    }
    try {
      return toNumber(await scripts.gatehouseLimitsSeedV1(keys.length, ...keys, ...argv));
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

  async function runId(): Promise<string> {
    if (!everReady) await ready();
    if (runFetch !== undefined) await runFetch;
    else if (ledger === undefined) await fetchRunId();
    return run;
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

  return { kind: 'redis', reserve, settle, renew, seedWindows, runId, ping, peekWindows, ready, close };
}
