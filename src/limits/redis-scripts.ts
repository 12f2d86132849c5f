/**
 * The Lua scripts of the Redis limit backend (redis-backend.ts, whose header gives the key
 * layout), kept apart from the TypeScript that calls them: each script is one atomic step on
 * Redis's clock, versioned in its first line and registered under that version's name.
 */
/** Extra key lifetime beyond the computed need: absorbs clock skew between gateway and Redis. */
export const MARGIN_MS = 60_000;
export const LEASES_SUFFIX = '|l';
export const SETTLED_INFIX = '#s:';

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
export const RESERVE_LUA = `-- gatehouse limits reserve v2
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
export const SETTLE_LUA = `-- gatehouse limits settle v1
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
export const RENEW_LUA = `-- gatehouse limits renew v1
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
export const SEED_LUA = `-- gatehouse limits seed v1
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

/**
 * What one replica counted locally while it could not reach Redis (fail open), added once
 * (src/limits/outage-journal.ts). KEYS: the batch's merge marker, the tenant's seed marker, then
 * per row: 'u' <key>; 'w' <key>, <key>|l; 'c' <key>. ARGV: sinceRun (the Redis run id the replica
 * last saw before the outage, '' unknown), currentRun ('' unknown), margin, then per row: kind
 * (u|w|c), resetAt, amount (u: settled usage; w: reserved amount), id (w, c), leaseMs (w, c).
 * A marker present means the batch was applied already (a retry after a lost reply): -1.
 * Rows of windows that ended are skipped. When Redis restarted meanwhile (both run ids known and
 * different), its day/month counters are, or will be, reseeded from the ledger, which holds the
 * settled usage too: 'u' rows are skipped and the tenant's seed marker deleted, so its next
 * reservation reseeds again with what the ledger has now. Holds are still applied (the ledger
 * has no open reservations). Returns the rows applied.
 */
export const MERGE_LUA = `-- gatehouse limits merge v1
${LUA_HELPERS}
if redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local since, current, margin = ARGV[1], ARGV[2], tonumber(ARGV[3])
local restarted = since ~= '' and current ~= '' and since ~= current
local now = clock()
local applied, last = 0, now
local n = (#ARGV - 3) / 5
local k = 3
for i = 1, n do
  local a = 4 + (i - 1) * 5
  local kind, reset, amount, id, lease = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), ARGV[a + 3], tonumber(ARGV[a + 4])
  if kind == 'u' then
    local key = KEYS[k]
    k = k + 1
    local left = math.ceil(reset - now)
    if left > 0 and not restarted then
      redis.call('HINCRBY', key, 'u', int(amount))
      extend(key, left + margin)
      applied = applied + 1
      if reset > last then last = reset end
    end
  elseif kind == 'w' then
    local key, lkey = KEYS[k], KEYS[k + 1]
    k = k + 2
    local left = math.ceil(reset - now)
    if left > 0 then
      local field = 'r:' .. id
      local prior = tonumber(redis.call('HGET', key, field)) or 0
      redis.call('HSET', key, field, int(amount))
      redis.call('HINCRBY', key, 'p', int(amount - prior))
      redis.call('ZADD', lkey, fmt(now + lease), id)
      local ttl = left + lease + margin
      extend(key, ttl)
      extend(lkey, ttl)
      applied = applied + 1
      if reset > last then last = reset end
    end
  else
    local key = KEYS[k]
    k = k + 1
    redis.call('ZADD', key, fmt(now + lease), id)
    extend(key, lease + margin)
    applied = applied + 1
  end
end
if restarted then redis.call('DEL', KEYS[2]) end
redis.call('SET', KEYS[1], '1', 'PX', math.ceil(last - now) + margin)
return applied
`;
