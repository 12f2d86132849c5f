/**
 * Usage events and their rollups (migration 0013). Ingest is exactly-once per event: the raw
 * insert skips events already stored (ON CONFLICT DO NOTHING) and only the events that insert
 * RETURNED are added to the rollups, in the same transaction (usage-ingest.ts), so a batch
 * shipped twice adds nothing twice.
 */
import type { TenantTx } from '../types.js';
import { ingestEvents } from './usage-ingest.js';

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
    return ingestEvents(tx, events);
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
