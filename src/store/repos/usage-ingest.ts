/**
 * Ingest of a tenant's usage events: the raw insert, then the rollups of exactly the events it
 * inserted, in the caller's transaction.
 *
 * Why two statements and sums made here: the rollups used to be computed in SQL from the
 * insert's RETURNING rows (two bucket rows per event, a zone-aware date_trunc each, a GROUP BY
 * over all of them). That was ~40% of the ingest's cost per event on PGlite, where ingest
 * shares the gateway's CPUs. The events of one shipped batch fall in a minute or two and share a
 * handful of rollup keys, so they are summed here per (rollup key, UTC minute) and the database
 * upserts those few rows; it still derives the hour and the tenant's local day from each minute,
 * so the buckets are the database's own, in the tenant's stored time zone. A minute never
 * straddles an hour or a local midnight: every zone offset in use is a whole number of minutes.
 *
 * Exactly-once: a batch's first try inserts all of its events or none (a unique-key violation);
 * the retry skips what is stored and returns how many rows were new and, only when some were not
 * (a batch shipped again after a crash), which ones; only those are summed.
 */
import type { TenantTx } from '../types.js';
import type { UsageEventRecord } from './usage.js';

const MINUTE_MS = 60_000;

/**
 * The batch travels as one JSON parameter (json_to_recordset): one round trip and one plan for
 * any batch size. Null, false and empty values are left out of it (a third less to parse);
 * json_to_recordset reads a missing key as NULL, hence the coalesces. The time goes as epoch
 * milliseconds: no date formatting here, no timestamp parsing there, and to_timestamp() of a
 * whole millisecond is exact (float8 seconds, rounded to the microsecond).
 */
const INSERT_ROWS = /* sql */ `
  INSERT INTO usage_events (tenant_id, event_id, request_id, occurred_at, team_id, key_id, end_user, tags, model,
    deployment_id, provider, region, input_tokens, output_tokens, cached_tokens, cost_micros, price_version,
    latency_ms, ttft_ms, status, streamed, client_aborted, usage_estimated, cache_hit)
  SELECT $1::uuid, event_id, request_id, to_timestamp(occurred_ms::float8 / 1000), team_id, key_id, end_user, coalesce(tags, '{}'), model,
    deployment_id, provider, region, coalesce(input_tokens, 0), coalesce(output_tokens, 0), coalesce(cached_tokens, 0),
    coalesce(cost_micros, 0), price_version, coalesce(latency_ms, 0), ttft_ms, status, coalesce(streamed, false),
    coalesce(client_aborted, false), coalesce(usage_estimated, false), coalesce(cache_hit, false)
  FROM json_to_recordset($2::json) AS r (
    event_id uuid, request_id text, occurred_ms bigint, team_id uuid, key_id uuid, end_user text, tags text[],
    model text, deployment_id text, provider text, region text, input_tokens bigint, output_tokens bigint,
    cached_tokens bigint, cost_micros bigint, price_version text, latency_ms integer, ttft_ms integer, status smallint,
    streamed boolean, client_aborted boolean, usage_estimated boolean, cache_hit boolean)`;

/**
 * Skips the events already stored and says how many rows were new and, only when some were not,
 * which ones.
 */
const INSERT_SQL = /* sql */ `
WITH ins AS (
  ${INSERT_ROWS}
  ON CONFLICT (tenant_id, event_id, occurred_at) DO NOTHING
  RETURNING event_id, occurred_at
)
SELECT count(*)::int AS inserted,
       CASE WHEN count(*) < $3::int
            THEN string_agg(event_id::text || '@' || round(extract(epoch FROM occurred_at) * 1000)::bigint::text, ',')
       END AS which
FROM ins`;

/**
 * The common case, a batch none of which is stored yet, as a plain insert: every row goes in or
 * the statement fails (an event already stored breaks the unique key, and with it the
 * transaction), so it needs neither ON CONFLICT's speculative insertion (~10% of an embedded
 * ingest per event) nor RETURNING: the rows returned, kept for the count and aggregated into the
 * list of new ones (computed for every row even when unused) cost another ~18% per event on
 * PGlite (bench/README.md "Stop 17").
 */
const INSERT_NEW_SQL = INSERT_ROWS;

/** The day bucket is the tenant's local day; a deleted tenant (events outlive it) counts in UTC. */
const BUCKETS = /* sql */ `
zone AS (SELECT coalesce((SELECT time_zone FROM tenants WHERE id = $1::uuid), 'UTC') AS z),
b AS (
  SELECT src.*, g.granularity, g.bucket_start
  FROM src CROSS JOIN zone
  CROSS JOIN LATERAL (VALUES ('hour', date_trunc('hour', src.minute, 'UTC')),
                             ('day', date_trunc('day', src.minute, zone.z))) AS g (granularity, bucket_start)
)`;

const ROLLUPS_SQL = /* sql */ `
WITH src AS (
  SELECT * FROM json_to_recordset($2::json) AS r (
    minute timestamptz, team_id uuid, key_id uuid, model text, deployment_id text, region text, status_class text,
    price_version text, requests bigint, input_tokens bigint, output_tokens bigint, cached_tokens bigint,
    cost_micros bigint, latency_ms_sum bigint, ttft_ms_sum bigint, ttft_count bigint, cache_hits bigint)
),
${BUCKETS}
INSERT INTO usage_rollups AS u (tenant_id, granularity, bucket_start, team_id, key_id, model, deployment_id, region,
  status_class, price_version, requests, input_tokens, output_tokens, cached_tokens, cost_micros, latency_ms_sum,
  ttft_ms_sum, ttft_count, cache_hits)
SELECT $1::uuid, granularity, bucket_start, team_id, key_id, model, deployment_id, region, status_class, price_version,
  sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(cost_micros), sum(latency_ms_sum),
  sum(ttft_ms_sum), sum(ttft_count), sum(cache_hits)
FROM b
GROUP BY granularity, bucket_start, team_id, key_id, model, deployment_id, region, status_class, price_version
ON CONFLICT ON CONSTRAINT usage_rollups_key DO UPDATE SET
  requests = u.requests + EXCLUDED.requests,
  input_tokens = u.input_tokens + EXCLUDED.input_tokens,
  output_tokens = u.output_tokens + EXCLUDED.output_tokens,
  cached_tokens = u.cached_tokens + EXCLUDED.cached_tokens,
  cost_micros = u.cost_micros + EXCLUDED.cost_micros,
  latency_ms_sum = u.latency_ms_sum + EXCLUDED.latency_ms_sum,
  ttft_ms_sum = u.ttft_ms_sum + EXCLUDED.ttft_ms_sum,
  ttft_count = u.ttft_count + EXCLUDED.ttft_count,
  cache_hits = u.cache_hits + EXCLUDED.cache_hits`;

const TAG_ROLLUPS_SQL = /* sql */ `
WITH src AS (
  SELECT * FROM json_to_recordset($2::json) AS r (
    minute timestamptz, tag text, model text, requests bigint, input_tokens bigint, output_tokens bigint,
    cached_tokens bigint, cost_micros bigint)
),
${BUCKETS}
INSERT INTO usage_tag_rollups AS u (tenant_id, granularity, bucket_start, tag, model, requests, input_tokens,
  output_tokens, cached_tokens, cost_micros)
SELECT $1::uuid, granularity, bucket_start, tag, model, sum(requests), sum(input_tokens), sum(output_tokens),
  sum(cached_tokens), sum(cost_micros)
FROM b
GROUP BY granularity, bucket_start, tag, model
ON CONFLICT ON CONSTRAINT usage_tag_rollups_key DO UPDATE SET
  requests = u.requests + EXCLUDED.requests,
  input_tokens = u.input_tokens + EXCLUDED.input_tokens,
  output_tokens = u.output_tokens + EXCLUDED.output_tokens,
  cached_tokens = u.cached_tokens + EXCLUDED.cached_tokens,
  cost_micros = u.cost_micros + EXCLUDED.cost_micros`;

/** An event as the insert reads it: only the keys that are not null, false or empty. */
function toJsonRow(e: UsageEventRecord): Record<string, unknown> {
  const row: Record<string, unknown> = {
    event_id: e.eventId,
    request_id: e.requestId,
    occurred_ms: e.occurredAt,
    model: e.model,
    input_tokens: e.inputTokens,
    output_tokens: e.outputTokens,
    cached_tokens: e.cachedTokens,
    cost_micros: e.costMicros,
    latency_ms: e.latencyMs,
    status: e.status,
  };
  if (e.teamId !== null) row.team_id = e.teamId;
  if (e.keyId !== null) row.key_id = e.keyId;
  if (e.endUser !== null) row.end_user = e.endUser;
  if (e.tags.length > 0) row.tags = e.tags;
  if (e.deploymentId !== null) row.deployment_id = e.deploymentId;
  if (e.provider !== null) row.provider = e.provider;
  if (e.region !== null) row.region = e.region;
  if (e.priceVersion !== null) row.price_version = e.priceVersion;
  if (e.ttftMs !== null) row.ttft_ms = e.ttftMs;
  if (e.streamed) row.streamed = true;
  if (e.clientAborted) row.client_aborted = true;
  if (e.usageEstimated) row.usage_estimated = true;
  if (e.cacheHit) row.cache_hit = true;
  return row;
}

/** The rollups' status classes; the same rule as the tenant metrics'. */
export function usageStatusClass(e: Pick<UsageEventRecord, 'status' | 'clientAborted'>): string {
  if (e.clientAborted) return 'aborted';
  if (e.status >= 500 || e.status < 100) return 'server_error';
  if (e.status >= 400) return 'client_error';
  return 'ok';
}

interface RollupSum {
  minute: string;
  team_id: string | null;
  key_id: string | null;
  model: string;
  deployment_id: string | null;
  region: string | null;
  status_class: string;
  price_version: string | null;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  cost_micros: number;
  latency_ms_sum: number;
  ttft_ms_sum: number;
  ttft_count: number;
  cache_hits: number;
}

interface TagSum {
  minute: string;
  tag: string;
  model: string;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  cost_micros: number;
}

/** The UTC minute of `ms` as an ISO string; a batch spans a minute or two, so the last one is kept. */
let lastMinute = -1;
let lastMinuteIso = '';
function minuteOf(ms: number): string {
  const m = ms - (ms % MINUTE_MS);
  if (m !== lastMinute) {
    lastMinute = m;
    lastMinuteIso = new Date(m).toISOString();
  }
  return lastMinuteIso;
}

/** The events summed per (rollup key, minute) and per (tag, model, minute). */
export function sumForRollups(events: readonly UsageEventRecord[]): { rollups: RollupSum[]; tags: TagSum[] } {
  const rollups = new Map<string, RollupSum>();
  const tags = new Map<string, TagSum>();
  let last: RollupSum | undefined;
  for (const e of events) {
    const minute = minuteOf(e.occurredAt);
    const statusClass = usageStatusClass(e);
    // Steady traffic sends runs of events with the same key: those skip building and hashing it.
    let r =
      last !== undefined && last.minute === minute && last.team_id === e.teamId && last.key_id === e.keyId && last.model === e.model &&
      last.deployment_id === e.deploymentId && last.region === e.region && last.status_class === statusClass && last.price_version === e.priceVersion
        ? last
        : undefined;
    // JSON.stringify of the tuple: a separator no value can fake.
    const key = r === undefined ? JSON.stringify([minute, e.teamId, e.keyId, e.model, e.deploymentId, e.region, statusClass, e.priceVersion]) : '';
    if (r === undefined) r = rollups.get(key);
    if (r === undefined) {
      r = {
        minute,
        team_id: e.teamId,
        key_id: e.keyId,
        model: e.model,
        deployment_id: e.deploymentId,
        region: e.region,
        status_class: statusClass,
        price_version: e.priceVersion,
        requests: 0,
        input_tokens: 0,
        output_tokens: 0,
        cached_tokens: 0,
        cost_micros: 0,
        latency_ms_sum: 0,
        ttft_ms_sum: 0,
        ttft_count: 0,
        cache_hits: 0,
      };
      rollups.set(key, r);
    }
    last = r;
    r.requests += 1;
    r.input_tokens += e.inputTokens;
    r.output_tokens += e.outputTokens;
    r.cached_tokens += e.cachedTokens;
    r.cost_micros += e.costMicros;
    r.latency_ms_sum += e.latencyMs;
    if (e.ttftMs !== null) {
      r.ttft_ms_sum += e.ttftMs;
      r.ttft_count += 1;
    }
    if (e.cacheHit) r.cache_hits += 1;
    // An event counts once per distinct tag, however often the client repeated it.
    for (const tag of new Set(e.tags)) {
      const tkey = JSON.stringify([minute, tag, e.model]);
      let t = tags.get(tkey);
      if (t === undefined) {
        t = { minute, tag, model: e.model, requests: 0, input_tokens: 0, output_tokens: 0, cached_tokens: 0, cost_micros: 0 };
        tags.set(tkey, t);
      }
      t.requests += 1;
      t.input_tokens += e.inputTokens;
      t.output_tokens += e.outputTokens;
      t.cached_tokens += e.cachedTokens;
      t.cost_micros += e.costMicros;
    }
  }
  return { rollups: [...rollups.values()], tags: [...tags.values()] };
}

/**
 * The events the insert stored, when it did not store them all: each (event id, time) it
 * returned, once (a batch may carry the same event twice; the insert keeps the first).
 */
function insertedOnly(events: readonly UsageEventRecord[], which: string | null): UsageEventRecord[] {
  const stored = new Set(which === null ? [] : which.split(','));
  const out: UsageEventRecord[] = [];
  for (const e of events) {
    const id = `${e.eventId.toLowerCase()}@${e.occurredAt}`;
    if (stored.delete(id)) out.push(e);
  }
  return out;
}

/**
 * Inserts the events of `tx`'s tenant and rolls up the ones inserted; returns how many were new.
 * 'idempotent' skips events already stored; 'new' expects none to be (a unique-key violation
 * otherwise, for the caller to retry the batch idempotently in a new transaction).
 */
export async function ingestEvents(tx: TenantTx, events: readonly UsageEventRecord[], mode: 'idempotent' | 'new'): Promise<number> {
  const rows = JSON.stringify(events.map(toJsonRow));
  let fresh: readonly UsageEventRecord[] = events;
  if (mode === 'new') {
    await tx.query(INSERT_NEW_SQL, [tx.tenantId, rows]);
  } else {
    const { rows: result } = await tx.query<{ inserted: number; which: string | null }>(INSERT_SQL, [tx.tenantId, rows, events.length]);
    const inserted = result[0]?.inserted ?? 0;
    if (inserted === 0) return 0;
    if (inserted < events.length) fresh = insertedOnly(events, result[0]?.which ?? null);
  }
  if (fresh.length === 0) return 0;
  const { rollups, tags } = sumForRollups(fresh);
  await tx.query(ROLLUPS_SQL, [tx.tenantId, JSON.stringify(rollups)]);
  if (tags.length > 0) await tx.query(TAG_ROLLUPS_SQL, [tx.tenantId, JSON.stringify(tags)]);
  return fresh.length;
}
