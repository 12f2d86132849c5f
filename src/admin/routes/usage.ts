/**
 * Usage analytics from the rollups: a tenant's own (tenant admin and billing roles; RLS keeps
 * the read inside the tenant), and fleet aggregates for platform admins through the platform
 * role, whose grants on the rollups are numbers and catalogue dimensions only (0015_billing).
 */
import { toCsv } from '../../billing/csv.js';
import { usageQueryRepo, type UsageAggregate } from '../../store/index.js';
import { invalid } from '../problems.js';
import { defineRoute, type AdminCall, type AdminResult, type AdminRoute } from '../route.js';
import { platformUsageQuery, presentAggregate, sumAggregates, usageQuery, usageView } from '../schemas/billing.js';
import { read } from '../tx.js';
import { tenantOf } from './lists.js';

const TAG = 'Usage';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Widest ranges a query may span: hour series of a month, day series of two years. */
const MAX_SPAN = { hour: 31 * DAY, day: 731 * DAY } as const;

interface RangeQuery {
  granularity: 'hour' | 'day';
  from?: string | undefined;
  to?: string | undefined;
}

export function usageRange(q: RangeQuery, now: Date): { from: Date; to: Date } {
  const to = q.to === undefined ? now : new Date(q.to);
  const from = q.from === undefined ? new Date(to.getTime() - (q.granularity === 'hour' ? DAY : 30 * DAY)) : new Date(q.from);
  if (from.getTime() >= to.getTime()) throw invalid('`from` must be before `to`.', 'from');
  if (to.getTime() - from.getTime() > MAX_SPAN[q.granularity]) {
    throw invalid(`A ${q.granularity} series may span at most ${MAX_SPAN[q.granularity] / DAY} days; narrow from/to or use granularity=day.`, 'from');
  }
  return { from, to };
}

/** CSV when asked with ?format=csv, or Accept: text/csv without a format. */
export function wantsCsv(call: AdminCall<{ format?: 'json' | 'csv' | undefined }, unknown>): boolean {
  if (call.query.format !== undefined) return call.query.format === 'csv';
  return (call.accept ?? '').toLowerCase().includes('text/csv');
}

export function csvResult(text: string): AdminResult {
  return { status: 200, stream: { contentType: 'text/csv; charset=utf-8', chunks: (async function* () { yield text; })() } };
}

const CSV_HEADER = ['bucket_start', 'group', 'requests', 'input_tokens', 'output_tokens', 'cached_tokens', 'cost_micros', 'cost_cents', 'avg_latency_ms', 'avg_ttft_ms'];

function usageResult(
  call: AdminCall<{ granularity: 'hour' | 'day'; format?: 'json' | 'csv' | undefined; group_by?: string | undefined }, unknown>,
  range: { from: Date; to: Date },
  series: readonly UsageAggregate[],
  breakdown: readonly UsageAggregate[],
  totals?: readonly UsageAggregate[],
): AdminResult {
  const points = series.map((s) => ({ bucket_start: s.bucketStart?.toISOString() ?? '', group: s.group, ...presentAggregate(s) }));
  if (wantsCsv(call)) {
    return csvResult(
      toCsv(
        CSV_HEADER,
        points.map((p) => [p.bucket_start, p.group, p.requests, p.input_tokens, p.output_tokens, p.cached_tokens, p.cost_micros, p.cost_cents, p.avg_latency_ms, p.avg_ttft_ms]),
      ),
    );
  }
  return {
    status: 200,
    body: {
      object: 'usage',
      granularity: call.query.granularity,
      from: range.from.toISOString(),
      to: range.to.toISOString(),
      group_by: call.query.group_by ?? null,
      totals: presentAggregate(sumAggregates(totals ?? (breakdown.length > 0 ? breakdown : series))),
      series: points,
      breakdown: breakdown.map((b) => ({ group: b.group, ...presentAggregate(b) })),
    },
  };
}

export const usageRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenant}/usage',
    operationId: 'getTenantUsage',
    summary: 'Usage time series and breakdowns of a tenant (from the rollups)',
    tag: TAG,
    permission: 'usage.read',
    query: usageQuery,
    response: { status: 200, description: 'Series per bucket (and group), breakdown per group, totals. text/csv: the series.', schema: usageView },
    async handle(call) {
      const range = usageRange(call.query, call.env.now());
      const q = call.query;
      const filter = { granularity: q.granularity, ...range, teamId: q.team, keyId: q.key, model: q.model, statusClass: q.status, tag: q.tag };
      const groupBy = q.group_by ?? null;
      const { series, breakdown, totals } = await read(call.env, tenantOf(call), async (tx) => ({
        series: await usageQueryRepo.aggregate(tx, filter, groupBy, true),
        breakdown: groupBy === null ? [] : await usageQueryRepo.aggregate(tx, filter, groupBy, false),
        // A request with several tags is in several tag groups: the totals come from the main
        // rollups, where it counts once.
        totals: groupBy === 'tag' && q.tag === undefined ? await usageQueryRepo.aggregate(tx, { ...filter, tag: undefined }, null, false) : undefined,
      }));
      return usageResult(call, range, series, breakdown, totals);
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/platform/usage',
    operationId: 'getPlatformUsage',
    summary: 'Fleet usage aggregates across tenants (numbers only: no team, key, tag or content)',
    tag: TAG,
    permission: 'platform_usage.read',
    query: platformUsageQuery,
    response: { status: 200, description: 'Series per bucket (and group), breakdown per group, totals. text/csv: the series.', schema: usageView },
    async handle(call) {
      const range = usageRange(call.query, call.env.now());
      const q = call.query;
      const filter = { granularity: q.granularity, ...range, model: q.model, statusClass: q.status };
      const groupBy = q.group_by ?? null;
      const { series, breakdown } = await call.env.store.platform(async (tx) => ({
        series: await usageQueryRepo.platformAggregate(tx, filter, groupBy, true),
        breakdown: groupBy === null ? [] : await usageQueryRepo.platformAggregate(tx, filter, groupBy, false),
      }));
      return usageResult(call, range, series, breakdown);
    },
  }),
];
