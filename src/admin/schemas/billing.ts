/** Usage, invoice, chargeback and price book shapes of the admin API (input and output). */
import { z } from 'zod';
import { microsToCents } from '../../billing/money.js';
import type { ChargebackRow } from '../../billing/chargeback.js';
import type { InvoiceDraft, InvoiceLine, InvoiceSegment } from '../../billing/types.js';
import type { InvoiceRecord, InvoiceTotals, PriceBookEntry, UsageAggregate } from '../../store/index.js';
import { planPricingSchema } from '../../billing/plan-pricing.js';
import { iso, isoOut, modelName, timestamp, uuid } from './common.js';

const STATUS = z.enum(['ok', 'client_error', 'server_error', 'aborted']);
const format = z.enum(['json', 'csv']).optional().describe('csv: the same data as text/csv (also chosen by Accept: text/csv).');
const period = z
  .string()
  .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month as YYYY-MM')
  .describe("A calendar month in the tenant's time zone, YYYY-MM.");

const range = {
  granularity: z.enum(['hour', 'day']).default('day').describe('hour: UTC hours; day: days at the tenant\'s local midnight.'),
  from: timestamp.optional().describe('Start (inclusive) of the first bucket; default: 24 h (hour) or 30 days (day) before `to`.'),
  to: timestamp.optional().describe('End (exclusive); default: now.'),
  model: modelName.optional(),
  status: STATUS.optional().describe('Outcome class.'),
  format,
};

export const usageQuery = z
  .strictObject({
    ...range,
    team: uuid.optional(),
    key: uuid.optional(),
    tag: z.string().min(1).max(128).optional(),
    group_by: z.enum(['team', 'key', 'model', 'tag', 'status', 'deployment', 'region']).optional(),
  })
  .superRefine((q, ctx) => {
    if (q.tag === undefined && q.group_by !== 'tag') return;
    // Tag rollups are per (tag, model) only: no team, key, status, deployment or region.
    for (const k of ['team', 'key', 'status'] as const) {
      if (q[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'cannot be combined with tag or group_by=tag (tag usage is kept per tag and model only)' });
    }
    if (q.group_by !== undefined && q.group_by !== 'tag') {
      ctx.addIssue({ code: 'custom', path: ['group_by'], message: 'with tag, only group_by=tag (filter by model instead of grouping by it)' });
    }
  });

export const platformUsageQuery = z.strictObject({
  ...range,
  group_by: z.enum(['tenant', 'model', 'deployment', 'region', 'status']).optional(),
});

const aggregateView = z.object({
  requests: z.number().int(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cached_tokens: z.number().int(),
  cost_micros: z.number().int().describe('List cost in micro-units of the currency.'),
  cost_cents: z.number().int().describe('cost_micros in minor units, rounded half-up once.'),
  avg_latency_ms: z.number().nullable(),
  avg_ttft_ms: z.number().nullable(),
});

export const usageView = z.object({
  object: z.literal('usage'),
  granularity: z.enum(['hour', 'day']),
  from: isoOut,
  to: isoOut,
  group_by: z.string().nullable(),
  totals: aggregateView,
  series: z.array(aggregateView.extend({ bucket_start: isoOut, group: z.string().nullable() })),
  breakdown: z.array(aggregateView.extend({ group: z.string().nullable() })),
});

type Sums = Pick<UsageAggregate, 'requests' | 'inputTokens' | 'outputTokens' | 'cachedTokens' | 'costMicros' | 'latencyMsSum' | 'ttftMsSum' | 'ttftCount'>;

export function presentAggregate(a: Sums): z.infer<typeof aggregateView> {
  const avg = (sum: number | null, n: number | null): number | null => (sum === null || n === null || n === 0 ? null : Math.round(sum / n));
  return {
    requests: a.requests,
    input_tokens: a.inputTokens,
    output_tokens: a.outputTokens,
    cached_tokens: a.cachedTokens,
    cost_micros: a.costMicros,
    cost_cents: microsToCents(a.costMicros),
    avg_latency_ms: avg(a.latencyMsSum, a.requests),
    avg_ttft_ms: avg(a.ttftMsSum, a.ttftCount),
  };
}

/** Integer sums of rows (totals of a series: exact, no second query). */
export function sumAggregates(rows: readonly Sums[]): Sums {
  const out: Sums = { requests: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0, costMicros: 0, latencyMsSum: null, ttftMsSum: null, ttftCount: null };
  for (const r of rows) {
    out.requests += r.requests;
    out.inputTokens += r.inputTokens;
    out.outputTokens += r.outputTokens;
    out.cachedTokens += r.cachedTokens;
    out.costMicros += r.costMicros;
    if (r.latencyMsSum !== null) out.latencyMsSum = (out.latencyMsSum ?? 0) + r.latencyMsSum;
    if (r.ttftMsSum !== null) out.ttftMsSum = (out.ttftMsSum ?? 0) + r.ttftMsSum;
    if (r.ttftCount !== null) out.ttftCount = (out.ttftCount ?? 0) + r.ttftCount;
  }
  return out;
}

const lineView = z.object({
  kind: z.enum(['base_fee', 'feature', 'usage', 'request_fee', 'commitment_fee', 'commitment_drawdown']),
  description: z.string(),
  model: z.string().nullable(),
  feature: z.string().nullable(),
  price_version: z.string().nullable().describe('Usage lines: the price-book version (GET /platform/price-book) of the billed list cost; null when none was recorded or the plan re-prices the model.'),
  segment: z.number().int().describe("Index into `segments`: the plan in force for this line's part of the period."),
  requests: z.number().int(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cached_tokens: z.number().int(),
  amount_cents: z.number().int(),
});

const commitmentView = z.object({
  kind: z.enum(['reserved', 'prepaid']),
  discount_bps: z.number().int(),
  capacity_cents: z.number().int(),
  drawdown_cents: z.number().int(),
  overage_cents: z.number().int(),
  closing_credit_cents: z.number().int().nullable(),
});

const segmentView = z.object({
  plan_id: z.string().nullable().describe('null: on no plan (list prices).'),
  from: isoOut,
  to: isoOut,
  commitment: commitmentView.nullable(),
});

export const invoiceView = z.object({
  object: z.literal('invoice'),
  id: z.string().nullable().describe('null for a draft'),
  status: z.enum(['draft', 'issued']),
  period: z.string(),
  period_start: isoOut,
  period_end: isoOut,
  currency: z.string(),
  lines: z.array(lineView).optional().describe('Absent for platform admins: they see totals only.'),
  usage_cents: z.number().int().optional(),
  commitment: commitmentView.nullable().optional(),
  segments: z
    .array(segmentView)
    .optional()
    .describe('The plans of the period in order (a plan change mid-period prorates fees and commitments by time); absent for platform admins.'),
  total_cents: z.number().int(),
  issued_at: isoOut.nullable(),
});

function presentLine(l: InvoiceLine): z.infer<typeof lineView> {
  return {
    kind: l.kind,
    description: l.description,
    model: l.model,
    feature: l.feature,
    price_version: l.priceVersion,
    segment: l.segment,
    requests: l.requests,
    input_tokens: l.inputTokens,
    output_tokens: l.outputTokens,
    cached_tokens: l.cachedTokens,
    amount_cents: l.amountCents,
  };
}

function presentCommitment(c: InvoiceDraft['commitment']): z.infer<typeof commitmentView> | null {
  return c === null
    ? null
    : {
        kind: c.kind,
        discount_bps: c.discountBps,
        capacity_cents: c.capacityCents,
        drawdown_cents: c.drawdownCents,
        overage_cents: c.overageCents,
        closing_credit_cents: c.closingCreditCents,
      };
}

function presentSegment(s: InvoiceSegment): z.infer<typeof segmentView> {
  return { plan_id: s.planId, from: s.from, to: s.to, commitment: presentCommitment(s.commitment) };
}

/** Stored segments of an issued invoice (0017: with their pricing, which is not shown); before 0017, one. */
const storedSegment = z.object({ planId: z.string().nullable(), from: z.string(), to: z.string(), commitment: z.unknown().optional() });

export function presentDraft(d: InvoiceDraft): z.infer<typeof invoiceView> {
  return {
    object: 'invoice',
    id: null,
    status: 'draft',
    period: d.period,
    period_start: d.periodStart,
    period_end: d.periodEnd,
    currency: d.currency,
    lines: d.lines.map(presentLine),
    usage_cents: d.usageCents,
    commitment: presentCommitment(d.commitment),
    segments: d.segments.map(presentSegment),
    total_cents: d.totalCents,
    issued_at: null,
  };
}

export function presentInvoice(r: InvoiceRecord): z.infer<typeof invoiceView> {
  // Stored by this module from InvoiceDraft values; read back as the same shapes.
  const lines = r.lines as (Omit<InvoiceLine, 'priceVersion' | 'segment'> & Partial<Pick<InvoiceLine, 'priceVersion' | 'segment'>>)[];
  const commitment = r.commitment as InvoiceDraft['commitment'];
  const stored = z.array(storedSegment).safeParse(r.segments);
  const segments = stored.success
    ? stored.data.map((s) => ({ plan_id: s.planId, from: s.from, to: s.to, commitment: presentCommitment((s.commitment ?? null) as InvoiceDraft['commitment']) }))
    : [{ plan_id: r.planId, from: iso(r.periodStart), to: iso(r.periodEnd), commitment: presentCommitment(commitment ?? null) }];
  return {
    object: 'invoice',
    id: r.id,
    status: 'issued',
    period: r.period,
    period_start: iso(r.periodStart),
    period_end: iso(r.periodEnd),
    currency: r.currency,
    // Lines issued before price versions and segments existed (0017) lack both.
    lines: lines.map((l) => presentLine({ ...l, priceVersion: l.priceVersion ?? null, segment: l.segment ?? 0 })),
    usage_cents: r.usageCents,
    commitment: presentCommitment(commitment ?? null),
    segments,
    total_cents: r.totalCents,
    issued_at: iso(r.issuedAt),
  };
}

export function presentInvoiceTotals(r: InvoiceTotals): z.infer<typeof invoiceView> {
  return {
    object: 'invoice',
    id: r.id,
    status: 'issued',
    period: r.period,
    period_start: iso(r.periodStart),
    period_end: iso(r.periodEnd),
    currency: r.currency,
    total_cents: r.totalCents,
    issued_at: iso(r.issuedAt),
  };
}

export const invoiceListView = z.object({ object: z.literal('list'), data: z.array(invoiceView), next_cursor: z.null() });
export const draftQuery = z.strictObject({ period: period.optional().describe('Default: the open period.'), format });
export const invoiceQuery = z.strictObject({ format });
export const invoiceListQuery = z.strictObject({ format: format.describe('csv: one row per invoice (totals); the lines are in each invoice\'s CSV.') });

export const closeTenantBody = z.strictObject({
  period: period
    .optional()
    .describe("Default: the last month that has ended in the tenant's time zone. A month that ended before the tenant was created is refused (409 before_creation)."),
});
export const closePeriodBody = z.strictObject({
  period: period
    .optional()
    .describe("Default: each tenant's last ended month. With a period: every tenant for which it has ended. Either way, tenants created after the month ended are left out (before_creation)."),
});
export const closePeriodView = z.object({
  object: z.literal('close_period'),
  period: z.string().nullable().describe('null: each tenant\'s last ended month.'),
  tenants: z.number().int(),
  issued: z.number().int(),
  already_issued: z.number().int(),
  open: z.number().int().describe('Tenants for which the month has not ended in their time zone.'),
  before_creation: z.number().int().describe('Tenants created after the month ended: not billed for it.'),
  failed: z.number().int().describe('Tenants whose invoice could not be issued (logged); the others were issued.'),
});

export const chargebackQuery = z.strictObject({
  by: z.enum(['team', 'key', 'tag']),
  period: period.optional().describe('Default: the open period.'),
  format,
});

const chargebackRowView = z.object({
  group: z.string().nullable().describe('Team id, key id or tag; null: usage without a team or key.'),
  requests: z.number().int(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cached_tokens: z.number().int(),
  cost_micros: z.number().int(),
  amount_cents: z.number().int(),
});

export const chargebackView = z.object({
  object: z.literal('chargeback'),
  by: z.enum(['team', 'key', 'tag']),
  period: z.string(),
  period_start: isoOut,
  period_end: isoOut,
  currency: z.string(),
  rows: z.array(chargebackRowView),
  total_cents: z.number().int(),
});

export function presentChargebackRow(r: ChargebackRow): z.infer<typeof chargebackRowView> {
  return {
    group: r.group,
    requests: r.requests,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    cached_tokens: r.cachedTokens,
    cost_micros: r.costMicros,
    amount_cents: r.amountCents,
  };
}

const micros = z.number().int().min(0).max(1e15);
export const priceBody = z.strictObject({
  model: modelName,
  deployment_id: z.string().min(1).max(256).nullable().default(null).describe('null: the model on any deployment without its own price.'),
  effective_from: timestamp.optional().describe('Default: now. Never in the past: past usage keeps the price it had.'),
  input_per_mtok_micros: micros,
  output_per_mtok_micros: micros,
  cached_per_mtok_micros: micros.default(0),
  per_request_micros: micros.default(0),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD').default('USD'),
});

export const priceView = z.object({
  object: z.literal('price'),
  id: z.string(),
  model: z.string(),
  deployment_id: z.string().nullable(),
  effective_from: isoOut,
  input_per_mtok_micros: z.number().int(),
  output_per_mtok_micros: z.number().int(),
  cached_per_mtok_micros: z.number().int(),
  per_request_micros: z.number().int(),
  currency: z.string(),
  source: z.enum(['config', 'admin']).describe('config: synced from the configured deployments at start-up; admin: added through this API.'),
  created_at: isoOut,
});

export function presentPrice(p: PriceBookEntry): z.infer<typeof priceView> {
  return {
    object: 'price',
    id: p.id,
    model: p.model,
    deployment_id: p.deploymentId,
    effective_from: iso(p.effectiveFrom),
    input_per_mtok_micros: p.inputPerMTokMicros,
    output_per_mtok_micros: p.outputPerMTokMicros,
    cached_per_mtok_micros: p.cachedPerMTokMicros,
    per_request_micros: p.perRequestMicros,
    currency: p.currency,
    source: p.source,
    created_at: iso(p.createdAt),
  };
}

export const priceListQuery = z.strictObject({ model: modelName.optional() });
export const priceListView = z.object({ object: z.literal('list'), data: z.array(priceView), next_cursor: z.null() });

/** A plan's pricing (camelCase, as stored): null removes it (list prices, every feature). */
export const planPricingBody = z.strictObject({ pricing: planPricingSchema.nullable() });
export const planPricingView = z.object({
  object: z.literal('plan_pricing'),
  plan: z.string(),
  pricing: z.record(z.string(), z.unknown()).nullable().describe('null: list prices and every feature.'),
});
