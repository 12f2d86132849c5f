/**
 * Usage events and their rollups (migration 0013). Ingest is exactly-once per event: the raw
 * insert skips events already stored (ON CONFLICT DO NOTHING) and only the events that insert
 * RETURNED are added to the rollups, in the same transaction (usage-ingest.ts), so a batch
 * shipped twice adds nothing twice.
 */
import type { TenantTx } from '../types.js';
import { ingestEvents } from './usage-ingest.js';

function ingestChecked(tx: TenantTx, events: readonly UsageEventRecord[], mode: 'idempotent' | 'new'): Promise<number> {
  if (events.length === 0) return Promise.resolve(0);
  for (const e of events) {
    if (e.tenantId !== tx.tenantId) return Promise.reject(new RangeError('usage event of another tenant in a tenant batch'));
  }
  return ingestEvents(tx, events, mode);
}

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
 * What a tenant's raw events add up to in a calendar window (limit seeds, src/billing/limit-seeds.ts):
 * the rollups carry neither the end user nor a per-request compute-unit figure.
 */
export interface UsageWindowQuery {
  /** Events at or after `from` and before `to` (the earliest window's start, the latest's end). */
  from: Date;
  to: Date;
  /** Events in [dayFrom, dayTo) are flagged `inDay`: a day window inside a month window. */
  dayFrom: Date;
  dayTo: Date;
  /** Group by end user; without it `endUser` is null in every row (the group count stays small). */
  byEndUser: boolean;
  /** Only events that name an end user (no rule needs the others). */
  endUsersOnly: boolean;
  /** Compute-unit weight per deployment id; other deployments (and none) weigh 1. */
  weights: ReadonlyMap<string, number>;
}

export interface UsageWindowRow {
  teamId: string | null;
  keyId: string | null;
  endUser: string | null;
  model: string;
  inDay: boolean;
  /** Requests without client errors (mostly refusals admission never counted, like the rollup seeds). */
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costMicros: number;
  /** Σ ⌈weight × (input + output)⌉ per event: admission's rounding, per request. */
  computeUnits: number;
}

interface UsageWindowDbRow {
  team_id: string | null;
  key_id: string | null;
  end_user: string | null;
  model: string;
  in_day: boolean;
  requests: string;
  input_tokens: string;
  output_tokens: string;
  cost_micros: string;
  compute_units: string;
}

/**
 * Bounded by (tenant_id, occurred_at), so the leading columns of usage_events_tenant_time_event_key and partition pruning
 * apply. The weight multiplies in float8, as JavaScript's numbers do, so each event's ceil is the
 * one admission took. Client errors: not aborted and 4xx, the rollups' `client_error` class.
 */
const WINDOW_TOTALS_SQL = /* sql */ `
SELECT e.team_id, e.key_id, CASE WHEN $6::boolean THEN e.end_user END AS end_user, e.model,
       (e.occurred_at >= $4 AND e.occurred_at < $5) AS in_day,
       (count(*) FILTER (WHERE e.client_aborted OR e.status < 400 OR e.status >= 500))::text AS requests,
       sum(e.input_tokens)::text AS input_tokens, sum(e.output_tokens)::text AS output_tokens,
       sum(e.cost_micros)::text AS cost_micros,
       sum(ceil(coalesce(w.weight, 1) * (e.input_tokens + e.output_tokens))::bigint)::text AS compute_units
FROM usage_events e
LEFT JOIN unnest($8::text[], $9::float8[]) AS w (id, weight) ON w.id = e.deployment_id
WHERE e.tenant_id = $1 AND e.occurred_at >= $2 AND e.occurred_at < $3 AND (NOT $7::boolean OR e.end_user IS NOT NULL)
GROUP BY 1, 2, 3, 4, 5`;

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
    return ingestChecked(tx, events, 'idempotent');
  },

  /**
   * ingest() for a batch expected to be wholly new (the shipper's first try): cheaper, and it
   * fails with a unique-key violation (isUniqueViolation) when any event is already stored,
   * after which the batch goes through ingest() in a new transaction.
   */
  async ingestNew(tx: TenantTx, events: readonly UsageEventRecord[]): Promise<number> {
    return ingestChecked(tx, events, 'new');
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

  /** This tenant's raw events in a calendar window, summed per team, key, end user and model. */
  async windowTotals(tx: TenantTx, q: UsageWindowQuery): Promise<UsageWindowRow[]> {
    const ids = [...q.weights.keys()];
    const { rows } = await tx.query<UsageWindowDbRow>(WINDOW_TOTALS_SQL, [
      tx.tenantId,
      q.from.toISOString(),
      q.to.toISOString(),
      q.dayFrom.toISOString(),
      q.dayTo.toISOString(),
      q.byEndUser,
      q.endUsersOnly,
      ids,
      ids.map((id) => q.weights.get(id) as number),
    ]);
    return rows.map((r) => ({
      teamId: r.team_id,
      keyId: r.key_id,
      endUser: r.end_user,
      model: r.model,
      inDay: r.in_day,
      requests: Number(r.requests),
      inputTokens: Number(r.input_tokens),
      outputTokens: Number(r.output_tokens),
      costMicros: Number(r.cost_micros),
      computeUnits: Number(r.compute_units),
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
