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
 *   merge marker `gh:{<tenant>}:merged:<batch id>`  string: a batch of fail-open usage was added
 *                (src/limits/outage-journal.ts; lives until the batch's last window ends + margin)
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
import { LEASES_SUFFIX, MARGIN_MS, MERGE_LUA, RENEW_LUA, RESERVE_LUA, SEED_LUA, SETTLE_LUA, SETTLED_INFIX } from './redis-scripts.js';
import type { MergeBatch } from './outage-journal.js';

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
  /** The run id as last read (on the last connection), without asking Redis; '' when unknown. */
  lastRunId(): string;
  /**
   * Adds one batch of what this replica counted locally while Redis was unreachable (settled
   * usage, open reservations as leased holds), at most once per batch id: resolves with the rows
   * applied, or -1 when the batch had been applied already (a retry after a lost reply).
   */
  mergeOutage(batch: MergeBatch): Promise<number>;
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

export const MERGE_MARKER_INFIX = ':merged:';

/** `gh:{tenant}:merged:<batch>` for any charge key `gh:{tenant}:...`. */
export function mergeMarkerKey(chargeKey: string, batchId: string): string | undefined {
  const close = chargeKey.indexOf('}');
  if (close === -1 || chargeKey.indexOf('{') === -1) return undefined;
  return chargeKey.slice(0, close + 1) + MERGE_MARKER_INFIX + batchId;
}

/** Reply of the reserve script when the tenant's counters must be reseeded first. */
export const UNSEEDED = -2;

type Arg = string | number;

interface ScriptClient {
  gatehouseLimitsReserveV2(...args: Arg[]): Promise<unknown>;
  gatehouseLimitsSettleV1(...args: Arg[]): Promise<unknown>;
  gatehouseLimitsSeedV1(...args: Arg[]): Promise<unknown>;
  gatehouseLimitsMergeV1(...args: Arg[]): Promise<unknown>;
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
  client.defineCommand('gatehouseLimitsMergeV1', { lua: MERGE_LUA });
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

  async function mergeOutage(batch: MergeBatch): Promise<number> {
    const marker = mergeMarkerKey(batch.tenantKey, batch.id);
    const seedMarker = seedMarkerKey(batch.tenantKey);
    if (marker === undefined || seedMarker === undefined) throw new Error('limits: a merged counter key has no tenant hash tag');
    if (!everReady) await ready();
    // The run id of this connection: a different one than before the outage means Redis restarted.
    if (runFetch !== undefined) await runFetch;
    const keys: string[] = [marker, seedMarker];
    const argv: Arg[] = [batch.sinceRun, run, MARGIN_MS];
    for (const r of batch.rows) {
      if (r.kind === 'used') {
        keys.push(r.key);
        argv.push('u', Math.ceil(r.resetAt), units(r.used), '', 0);
      } else if (r.kind === 'window-hold') {
        keys.push(r.key, r.key + LEASES_SUFFIX);
        argv.push('w', Math.ceil(r.resetAt), units(r.amount), r.id, Math.max(1, Math.ceil(r.leaseMs)));
      } else {
        keys.push(r.key);
        argv.push('c', 0, 0, r.id, Math.max(1, Math.ceil(r.leaseMs)));
      }
    }
    try {
      return toNumber(await scripts.gatehouseLimitsMergeV1(keys.length, ...keys, ...argv));
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

  return { kind: 'redis', reserve, settle, renew, seedWindows, runId, lastRunId: () => run, mergeOutage, ping, peekWindows, ready, close };
}
