/**
 * Read side of the usage rollups (0013_usage) for analytics and billing: time series, breakdowns,
 * per-model period totals, chargeback groups, and the platform's cross-tenant aggregates.
 * Every statement is a constant chosen from a fixed table (the group-by column is never
 * interpolated from input); filters are parameters. Sums come back as numeric strings and are
 * converted once here.
 */
import type { PlatformTx, TenantTx } from '../types.js';
import type { UsageGranularity, UsageStatusClass } from './usage.js';

export type UsageGroupBy = 'team' | 'key' | 'model' | 'tag' | 'status' | 'deployment' | 'region';
export type PlatformGroupBy = 'tenant' | 'model' | 'deployment' | 'region' | 'status';

export interface UsageFilter {
  granularity: UsageGranularity;
  from: Date;
  to: Date;
  teamId?: string | undefined;
  keyId?: string | undefined;
  model?: string | undefined;
  statusClass?: UsageStatusClass | undefined;
  /** Reads the tag rollups: team, key and status filters do not apply there (the caller refuses them). */
  tag?: string | undefined;
}

export interface UsageAggregate {
  /** Bucket start for series; null for breakdowns over the whole range. */
  bucketStart: Date | null;
  /** The group's value (an id, model, status class, ...); null: none (no team, no key). */
  group: string | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costMicros: number;
  /** Null on tag rows (tag rollups carry no latencies). */
  latencyMsSum: number | null;
  ttftMsSum: number | null;
  ttftCount: number | null;
}

const GROUP_COLUMN: Readonly<Record<Exclude<UsageGroupBy, 'tag'> | 'none', string>> = {
  none: 'NULL::text',
  team: 'team_id::text',
  key: 'key_id::text',
  model: 'model',
  status: 'status_class',
  deployment: 'deployment_id',
  region: 'region',
};

const SUMS = `sum(requests)::text AS requests, sum(input_tokens)::text AS input_tokens, sum(output_tokens)::text AS output_tokens,
  sum(cached_tokens)::text AS cached_tokens, sum(cost_micros)::text AS cost_micros`;
const LATENCY_SUMS = `sum(latency_ms_sum)::text AS latency_ms_sum, sum(ttft_ms_sum)::text AS ttft_ms_sum, sum(ttft_count)::text AS ttft_count`;
const FILTERS = `tenant_id = $1 AND granularity = $2 AND bucket_start >= $3 AND bucket_start < $4
  AND ($5::uuid IS NULL OR team_id = $5::uuid) AND ($6::uuid IS NULL OR key_id = $6::uuid)
  AND ($7::text IS NULL OR model = $7::text) AND ($8::text IS NULL OR status_class = $8::text)`;

function rollupSql(group: string, byBucket: boolean): string {
  const bucket = byBucket ? 'bucket_start' : 'NULL::timestamptz';
  return `SELECT ${bucket} AS bucket_start, ${group} AS grp, ${SUMS}, ${LATENCY_SUMS}
    FROM usage_rollups WHERE ${FILTERS}
    GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS LAST`;
}

function tagSql(byTag: boolean, byBucket: boolean): string {
  const bucket = byBucket ? 'bucket_start' : 'NULL::timestamptz';
  return `SELECT ${bucket} AS bucket_start, ${byTag ? 'tag' : 'NULL::text'} AS grp, ${SUMS}
    FROM usage_tag_rollups
    WHERE tenant_id = $1 AND granularity = $2 AND bucket_start >= $3 AND bucket_start < $4
      AND ($5::text IS NULL OR tag = $5::text) AND ($6::text IS NULL OR model = $6::text)
    GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS LAST`;
}

/** Every statement, built once at load from the fixed tables above. */
const ROLLUP_SQL = new Map<string, string>();
for (const [name, column] of Object.entries(GROUP_COLUMN)) {
  ROLLUP_SQL.set(`${name}:series`, rollupSql(column, true));
  ROLLUP_SQL.set(`${name}:total`, rollupSql(column, false));
}
const TAG_SQL = new Map<string, string>([
  ['tag:series', tagSql(true, true)],
  ['tag:total', tagSql(true, false)],
  ['none:series', tagSql(false, true)],
  ['none:total', tagSql(false, false)],
]);

interface AggRow {
  bucket_start: Date | null;
  grp: string | null;
  requests: string | null;
  input_tokens: string | null;
  output_tokens: string | null;
  cached_tokens: string | null;
  cost_micros: string | null;
  latency_ms_sum?: string | null;
  ttft_ms_sum?: string | null;
  ttft_count?: string | null;
}

const num = (s: string | null | undefined): number => (s === null || s === undefined ? 0 : Number(s));
const numOrNull = (s: string | null | undefined): number | null => (s === undefined ? null : num(s));

function toAggregate(r: AggRow): UsageAggregate {
  return {
    bucketStart: r.bucket_start === null ? null : new Date(r.bucket_start),
    group: r.grp,
    requests: num(r.requests),
    inputTokens: num(r.input_tokens),
    outputTokens: num(r.output_tokens),
    cachedTokens: num(r.cached_tokens),
    costMicros: num(r.cost_micros),
    latencyMsSum: numOrNull(r.latency_ms_sum),
    ttftMsSum: numOrNull(r.ttft_ms_sum),
    ttftCount: numOrNull(r.ttft_count),
  };
}

export interface ModelUsageRecord {
  model: string;
  /** periodByModel only: the price-book version of the cost (migration 0017). */
  priceVersion?: string | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costMicros: number;
}

export interface GroupModelUsageRecord extends ModelUsageRecord {
  group: string | null;
}

/**
 * Billable rollups: requests that were answered (ok) or cut off by the client after tokens
 * flowed (aborted). Refused and failed requests are metered but never billed.
 */
const BILLABLE = `status_class IN ('ok', 'aborted')`;

const PERIOD_BY_MODEL = `SELECT NULL::text AS grp, model, price_version, ${SUMS} FROM usage_rollups
  WHERE tenant_id = $1 AND granularity = 'day' AND bucket_start >= $2 AND bucket_start < $3 AND ${BILLABLE}
  GROUP BY model, price_version ORDER BY model, price_version NULLS FIRST`;
const CHARGEBACK_SQL: Readonly<Record<'team' | 'key' | 'tag', string>> = {
  team: `SELECT team_id::text AS grp, model, ${SUMS} FROM usage_rollups
    WHERE tenant_id = $1 AND granularity = 'day' AND bucket_start >= $2 AND bucket_start < $3 AND ${BILLABLE}
    GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2`,
  key: `SELECT key_id::text AS grp, model, ${SUMS} FROM usage_rollups
    WHERE tenant_id = $1 AND granularity = 'day' AND bucket_start >= $2 AND bucket_start < $3 AND ${BILLABLE}
    GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 2`,
  // Tag rollups carry no status: every metered request of the tag counts.
  tag: `SELECT tag AS grp, model, ${SUMS} FROM usage_tag_rollups
    WHERE tenant_id = $1 AND granularity = 'day' AND bucket_start >= $2 AND bucket_start < $3
    GROUP BY 1, 2 ORDER BY 1, 2`,
};

interface ModelRow extends AggRow {
  model: string;
}

function toModelUsage(r: ModelRow): GroupModelUsageRecord {
  return {
    group: r.grp,
    model: r.model,
    requests: num(r.requests),
    inputTokens: num(r.input_tokens),
    outputTokens: num(r.output_tokens),
    cachedTokens: num(r.cached_tokens),
    costMicros: num(r.cost_micros),
  };
}

const PLATFORM_GROUP: Readonly<Record<PlatformGroupBy | 'none', string>> = {
  none: 'NULL::text',
  tenant: 't.slug',
  model: 'u.model',
  deployment: 'u.deployment_id',
  region: 'u.region',
  status: 'u.status_class',
};
const PLATFORM_SQL = new Map<string, string>();
for (const [name, column] of Object.entries(PLATFORM_GROUP)) {
  for (const byBucket of [true, false]) {
    PLATFORM_SQL.set(
      `${name}:${byBucket ? 'series' : 'total'}`,
      `SELECT ${byBucket ? 'u.bucket_start' : 'NULL::timestamptz'} AS bucket_start, ${column} AS grp,
         sum(u.requests)::text AS requests, sum(u.input_tokens)::text AS input_tokens, sum(u.output_tokens)::text AS output_tokens,
         sum(u.cached_tokens)::text AS cached_tokens, sum(u.cost_micros)::text AS cost_micros,
         sum(u.latency_ms_sum)::text AS latency_ms_sum, sum(u.ttft_ms_sum)::text AS ttft_ms_sum, sum(u.ttft_count)::text AS ttft_count
       FROM usage_rollups u ${name === 'tenant' ? 'JOIN tenants t ON t.id = u.tenant_id' : ''}
       WHERE u.granularity = $1 AND u.bucket_start >= $2 AND u.bucket_start < $3
         AND ($4::text IS NULL OR u.model = $4::text) AND ($5::text IS NULL OR u.status_class = $5::text)
       GROUP BY 1, 2 ORDER BY 1 NULLS FIRST, 2 NULLS LAST`,
    );
  }
}

export const usageQueryRepo = {
  /** Sums per bucket (series) or over the range (total), optionally per group. */
  async aggregate(tx: TenantTx, f: UsageFilter, groupBy: UsageGroupBy | null, series: boolean): Promise<UsageAggregate[]> {
    const shape = series ? 'series' : 'total';
    const range = [tx.tenantId, f.granularity, f.from.toISOString(), f.to.toISOString()];
    if (groupBy === 'tag' || f.tag !== undefined) {
      const sql = TAG_SQL.get(`${groupBy === 'tag' ? 'tag' : 'none'}:${shape}`) ?? '';
      const { rows } = await tx.query<AggRow>(sql, [...range, f.tag ?? null, f.model ?? null]);
      return rows.map(toAggregate);
    }
    const sql = ROLLUP_SQL.get(`${groupBy ?? 'none'}:${shape}`) ?? '';
    const { rows } = await tx.query<AggRow>(sql, [...range, f.teamId ?? null, f.keyId ?? null, f.model ?? null, f.statusClass ?? null]);
    return rows.map(toAggregate);
  },

  /**
   * Billable usage per model and price version from the day rollups whose bucket starts in
   * [from, to) (a billing period, or the part of it on one plan).
   */
  async periodByModel(tx: TenantTx, from: Date, to: Date): Promise<ModelUsageRecord[]> {
    const { rows } = await tx.query<ModelRow & { price_version: string | null }>(PERIOD_BY_MODEL, [tx.tenantId, from.toISOString(), to.toISOString()]);
    return rows.map((r) => {
      const { group: _g, ...rest } = toModelUsage(r);
      return { ...rest, priceVersion: r.price_version };
    });
  },

  /** Billable usage per (team | key | tag, model) in [from, to). */
  async periodByGroup(tx: TenantTx, by: 'team' | 'key' | 'tag', from: Date, to: Date): Promise<GroupModelUsageRecord[]> {
    const { rows } = await tx.query<ModelRow>(CHARGEBACK_SQL[by], [tx.tenantId, from.toISOString(), to.toISOString()]);
    return rows.map(toModelUsage);
  },

  /** Fleet aggregates through the platform role: numbers only (0011 grants no team, key or tag). */
  async platformAggregate(
    tx: PlatformTx,
    f: { granularity: UsageGranularity; from: Date; to: Date; model?: string | undefined; statusClass?: UsageStatusClass | undefined },
    groupBy: PlatformGroupBy | null,
    series: boolean,
  ): Promise<UsageAggregate[]> {
    const sql = PLATFORM_SQL.get(`${groupBy ?? 'none'}:${series ? 'series' : 'total'}`) ?? '';
    const { rows } = await tx.query<AggRow>(sql, [f.granularity, f.from.toISOString(), f.to.toISOString(), f.model ?? null, f.statusClass ?? null]);
    return rows.map(toAggregate);
  },
};
