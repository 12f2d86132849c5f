/**
 * Usage events and their rollups (migration 0013). Ingest is exactly-once per event: the raw
 * insert skips events already stored (ON CONFLICT DO NOTHING) and the rollups are upserted in the
 * same statement from the rows that insert RETURNED, so a batch shipped twice adds nothing twice.
 */
import type { TenantTx } from '../types.js';

/** One metered request as stored. Money in integer micro-units, times as epoch ms. */
export interface UsageEventRecord {
  tenantId: string;
  /** Made by the gateway per request: the idempotency key (with occurredAt). */
  eventId: string;
  /** The request id the client saw (X-Request-ID); may repeat across requests. */
  requestId: string;
  /** Epoch ms; fixed when the event is made, so a re-sent event lands in the same partition. */
  occurredAt: number;
  teamId: string | null;
  keyId: string | null;
  endUser: string | null;
  tags: readonly string[];
  model: string;
  deploymentId: string | null;
  provider: string | null;
  region: string | null;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costMicros: number;
  priceVersion: string | null;
  latencyMs: number;
  ttftMs: number | null;
  status: number;
  streamed: boolean;
  clientAborted: boolean;
  usageEstimated: boolean;
  cacheHit: boolean;
}

export type UsageGranularity = 'hour' | 'day';
export type UsageStatusClass = 'ok' | 'client_error' | 'server_error' | 'aborted';

export interface UsageRollupQuery {
  granularity: UsageGranularity;
  /** Buckets starting at or after `from` and before `to`. */
  from: Date;
  to: Date;
  teamId?: string;
  keyId?: string;
  model?: string;
}

export interface UsageRollupRow {
  granularity: UsageGranularity;
  bucketStart: Date;
  teamId: string | null;
  keyId: string | null;
  model: string;
  deploymentId: string | null;
  region: string | null;
  statusClass: UsageStatusClass;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costMicros: number;
  latencyMsSum: number;
  ttftMsSum: number;
  ttftCount: number;
  cacheHits: number;
}

export interface UsageTagRollupQuery {
  granularity: UsageGranularity;
  from: Date;
  to: Date;
  tag?: string;
}

export interface UsageTagRollupRow {
  granularity: UsageGranularity;
  bucketStart: Date;
  tag: string;
  model: string;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costMicros: number;
}

/**
 * The batch travels as one JSON parameter (json_to_recordset): one round trip and one plan for
 * any batch size, where 24 parallel arrays would need per-type encoding in both drivers.
 */
const INGEST_SQL = /* sql */ `
WITH src AS (
  SELECT * FROM json_to_recordset($2::json) AS r (
    event_id uuid, request_id text, occurred_at timestamptz, team_id uuid, key_id uuid, end_user text, tags text[],
    model text, deployment_id text, provider text, region text, input_tokens bigint, output_tokens bigint,
    cached_tokens bigint, cost_micros bigint, price_version text, latency_ms integer, ttft_ms integer, status smallint,
    streamed boolean, client_aborted boolean, usage_estimated boolean, cache_hit boolean)
),
ins AS (
  INSERT INTO usage_events (tenant_id, event_id, request_id, occurred_at, team_id, key_id, end_user, tags, model,
    deployment_id, provider, region, input_tokens, output_tokens, cached_tokens, cost_micros, price_version,
    latency_ms, ttft_ms, status, streamed, client_aborted, usage_estimated, cache_hit)
  SELECT $1::uuid, event_id, request_id, occurred_at, team_id, key_id, end_user, coalesce(tags, '{}'), model,
    deployment_id, provider, region, input_tokens, output_tokens, cached_tokens, cost_micros, price_version,
    latency_ms, ttft_ms, status, streamed, client_aborted, usage_estimated, cache_hit
  FROM src
  ON CONFLICT (tenant_id, event_id, occurred_at) DO NOTHING
  RETURNING *
),
zone AS (
  -- Deleted tenant (events outlive it): UTC.
  SELECT coalesce((SELECT time_zone FROM tenants WHERE id = $1::uuid), 'UTC') AS z
),
b AS (
  SELECT ins.*,
    CASE WHEN client_aborted THEN 'aborted'
         WHEN status >= 500 OR status < 100 THEN 'server_error'
         WHEN status >= 400 THEN 'client_error'
         ELSE 'ok' END AS status_class,
    g.granularity, g.bucket_start
  FROM ins CROSS JOIN zone
  CROSS JOIN LATERAL (VALUES ('hour', date_trunc('hour', ins.occurred_at, 'UTC')),
                             ('day', date_trunc('day', ins.occurred_at, zone.z))) AS g (granularity, bucket_start)
),
rollups AS (
  INSERT INTO usage_rollups AS u (tenant_id, granularity, bucket_start, team_id, key_id, model, deployment_id, region,
    status_class, price_version, requests, input_tokens, output_tokens, cached_tokens, cost_micros, latency_ms_sum,
    ttft_ms_sum, ttft_count, cache_hits)
  SELECT tenant_id, granularity, bucket_start, team_id, key_id, model, deployment_id, region, status_class, price_version,
    count(*), sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(cost_micros), sum(latency_ms),
    coalesce(sum(ttft_ms), 0), count(ttft_ms), count(*) FILTER (WHERE cache_hit)
  FROM b
  GROUP BY tenant_id, granularity, bucket_start, team_id, key_id, model, deployment_id, region, status_class, price_version
  ON CONFLICT ON CONSTRAINT usage_rollups_key DO UPDATE SET
    requests = u.requests + EXCLUDED.requests,
    input_tokens = u.input_tokens + EXCLUDED.input_tokens,
    output_tokens = u.output_tokens + EXCLUDED.output_tokens,
    cached_tokens = u.cached_tokens + EXCLUDED.cached_tokens,
    cost_micros = u.cost_micros + EXCLUDED.cost_micros,
    latency_ms_sum = u.latency_ms_sum + EXCLUDED.latency_ms_sum,
    ttft_ms_sum = u.ttft_ms_sum + EXCLUDED.ttft_ms_sum,
    ttft_count = u.ttft_count + EXCLUDED.ttft_count,
    cache_hits = u.cache_hits + EXCLUDED.cache_hits
  RETURNING 1
),
tag_rollups AS (
  INSERT INTO usage_tag_rollups AS u (tenant_id, granularity, bucket_start, tag, model, requests, input_tokens,
    output_tokens, cached_tokens, cost_micros)
  SELECT b.tenant_id, b.granularity, b.bucket_start, t.tag, b.model, count(*), sum(b.input_tokens),
    sum(b.output_tokens), sum(b.cached_tokens), sum(b.cost_micros)
  FROM b CROSS JOIN LATERAL (SELECT DISTINCT unnest(b.tags) AS tag) AS t
  GROUP BY b.tenant_id, b.granularity, b.bucket_start, t.tag, b.model
  ON CONFLICT ON CONSTRAINT usage_tag_rollups_key DO UPDATE SET
    requests = u.requests + EXCLUDED.requests,
    input_tokens = u.input_tokens + EXCLUDED.input_tokens,
    output_tokens = u.output_tokens + EXCLUDED.output_tokens,
    cached_tokens = u.cached_tokens + EXCLUDED.cached_tokens,
    cost_micros = u.cost_micros + EXCLUDED.cost_micros
  RETURNING 1
)
SELECT (SELECT count(*) FROM ins)::int AS inserted,
       (SELECT count(*) FROM rollups)::int AS rollups,
       (SELECT count(*) FROM tag_rollups)::int AS tag_rollups`;

function toJsonRow(e: UsageEventRecord): Record<string, unknown> {
  return {
    event_id: e.eventId,
    request_id: e.requestId,
    occurred_at: new Date(e.occurredAt).toISOString(),
    team_id: e.teamId,
    key_id: e.keyId,
    end_user: e.endUser,
    tags: e.tags,
    model: e.model,
    deployment_id: e.deploymentId,
    provider: e.provider,
    region: e.region,
    input_tokens: e.inputTokens,
    output_tokens: e.outputTokens,
    cached_tokens: e.cachedTokens,
    cost_micros: e.costMicros,
    price_version: e.priceVersion,
    latency_ms: e.latencyMs,
    ttft_ms: e.ttftMs,
    status: e.status,
    streamed: e.streamed,
    client_aborted: e.clientAborted,
    usage_estimated: e.usageEstimated,
    cache_hit: e.cacheHit,
  };
}

interface RollupDbRow {
  granularity: UsageGranularity;
  bucket_start: Date;
  team_id: string | null;
  key_id: string | null;
  model: string;
  deployment_id: string | null;
  region: string | null;
  status_class: UsageStatusClass;
  requests: string;
  input_tokens: string;
  output_tokens: string;
  cached_tokens: string;
  cost_micros: string;
  latency_ms_sum: string;
  ttft_ms_sum: string;
  ttft_count: string;
  cache_hits: string;
}

interface TagRollupDbRow {
  granularity: UsageGranularity;
  bucket_start: Date;
  tag: string;
  model: string;
  requests: string;
  input_tokens: string;
  output_tokens: string;
  cached_tokens: string;
  cost_micros: string;
}

export const usageRepo = {
  /**
   * Inserts this tenant's events, skipping any already stored, and adds exactly the inserted ones
   * to the hourly and daily rollups. Every event must be of `tx.tenantId` (row-level security
   * refuses others anyway). Returns how many events were new.
   */
  async ingest(tx: TenantTx, events: readonly UsageEventRecord[]): Promise<number> {
    if (events.length === 0) return 0;
    for (const e of events) {
      if (e.tenantId !== tx.tenantId) throw new RangeError('usage event of another tenant in a tenant batch');
    }
    const { rows } = await tx.query<{ inserted: number }>(INGEST_SQL, [tx.tenantId, JSON.stringify(events.map(toJsonRow))]);
    return rows[0]?.inserted ?? 0;
  },

  /** Rollup rows of this tenant, by bucket start. The read side for analytics, billing and alerts. */
  async rollups(tx: TenantTx, q: UsageRollupQuery): Promise<UsageRollupRow[]> {
    const { rows } = await tx.query<RollupDbRow>(
      `SELECT granularity, bucket_start, team_id, key_id, model, deployment_id, region, status_class, requests,
              input_tokens, output_tokens, cached_tokens, cost_micros, latency_ms_sum, ttft_ms_sum, ttft_count, cache_hits
       FROM usage_rollups
       WHERE tenant_id = $1 AND granularity = $2 AND bucket_start >= $3 AND bucket_start < $4
         AND ($5::uuid IS NULL OR team_id = $5::uuid) AND ($6::uuid IS NULL OR key_id = $6::uuid)
         AND ($7::text IS NULL OR model = $7::text)
       ORDER BY bucket_start, model, team_id NULLS FIRST, key_id NULLS FIRST, status_class`,
      [tx.tenantId, q.granularity, q.from.toISOString(), q.to.toISOString(), q.teamId ?? null, q.keyId ?? null, q.model ?? null],
    );
    return rows.map((r) => ({
      granularity: r.granularity,
      bucketStart: r.bucket_start,
      teamId: r.team_id,
      keyId: r.key_id,
      model: r.model,
      deploymentId: r.deployment_id,
      region: r.region,
      statusClass: r.status_class,
      requests: Number(r.requests),
      inputTokens: Number(r.input_tokens),
      outputTokens: Number(r.output_tokens),
      cachedTokens: Number(r.cached_tokens),
      costMicros: Number(r.cost_micros),
      latencyMsSum: Number(r.latency_ms_sum),
      ttftMsSum: Number(r.ttft_ms_sum),
      ttftCount: Number(r.ttft_count),
      cacheHits: Number(r.cache_hits),
    }));
  },

  /** Per-tag rollup rows of this tenant, by bucket start. */
  async tagRollups(tx: TenantTx, q: UsageTagRollupQuery): Promise<UsageTagRollupRow[]> {
    const { rows } = await tx.query<TagRollupDbRow>(
      `SELECT granularity, bucket_start, tag, model, requests, input_tokens, output_tokens, cached_tokens, cost_micros
       FROM usage_tag_rollups
       WHERE tenant_id = $1 AND granularity = $2 AND bucket_start >= $3 AND bucket_start < $4
         AND ($5::text IS NULL OR tag = $5::text)
       ORDER BY bucket_start, tag, model`,
      [tx.tenantId, q.granularity, q.from.toISOString(), q.to.toISOString(), q.tag ?? null],
    );
    return rows.map((r) => ({
      granularity: r.granularity,
      bucketStart: r.bucket_start,
      tag: r.tag,
      model: r.model,
      requests: Number(r.requests),
      inputTokens: Number(r.input_tokens),
      outputTokens: Number(r.output_tokens),
      cachedTokens: Number(r.cached_tokens),
      costMicros: Number(r.cost_micros),
    }));
  },

  /** How many raw events this tenant has in [from, to) (tests, reconciliation). */
  async countEvents(tx: TenantTx, from: Date, to: Date): Promise<number> {
    const { rows } = await tx.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM usage_events WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3',
      [tx.tenantId, from.toISOString(), to.toISOString()],
    );
    return Number(rows[0]?.n ?? 0);
  },

  /** The request ids of this tenant's events in [from, to), with how often each occurs. */
  async requestIdCounts(tx: TenantTx, from: Date, to: Date): Promise<Map<string, number>> {
    const { rows } = await tx.query<{ request_id: string; n: string }>(
      `SELECT request_id, count(*)::text AS n FROM usage_events
       WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 GROUP BY request_id`,
      [tx.tenantId, from.toISOString(), to.toISOString()],
    );
    return new Map(rows.map((r) => [r.request_id, Number(r.n)]));
  },
};
