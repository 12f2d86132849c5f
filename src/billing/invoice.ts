/**
 * Invoice arithmetic: a pure function of the period's usage (from the day rollups) and the
 * tenant's plan pricing, so an issued invoice can be recomputed from the rollups and compared
 * (test/unit/billing/invoice.test.ts). Each line is computed exactly in micro-units and rounded
 * to cents once (money.ts); commitments work on the rounded lines, with one rounding of their own.
 */
import { BPS, MICROS_PER_CENT, MICROS_PER_UNIT, divHalfUp, safe } from './money.js';
import {
  FEATURES,
  type CommitmentSummary,
  type InvoiceDraft,
  type InvoiceLine,
  type InvoiceSegment,
  type ModelPrices,
  type ModelUsage,
  type PlanPricing,
  type PlanSegment,
} from './types.js';

/** A plan for tenants on none: list prices, no fees, every feature. */
export function listPricing(currency = 'USD'): PlanPricing {
  return {
    currency,
    baseFeeCents: 0,
    requestFeeMicros: 0,
    markupBps: 0,
    priceOverrides: {},
    features: { caching: true, fallbacks: true, custom_domains: true, log_retention_days: 365 },
    featureFeesCents: {},
    commitment: null,
  };
}

/** Exact cost of usage at `prices`, as micros x 1e6 (no rounding yet). */
function overrideCost(prices: ModelPrices, u: ModelUsage): bigint {
  const uncached = BigInt(Math.max(0, u.inputTokens - u.cachedTokens));
  const perToken =
    uncached * BigInt(prices.inputPerMTok) + BigInt(u.cachedTokens) * BigInt(prices.cachedInputPerMTok) + BigInt(u.outputTokens) * BigInt(prices.outputPerMTok);
  return perToken + BigInt(u.requests) * BigInt(prices.perRequest) * BigInt(MICROS_PER_UNIT);
}

/**
 * The cost of one model's usage under the plan, as an exact fraction of micros: the list cost
 * recorded with each event, or the plan's override prices; then the plan's markup.
 */
export function usageMicros(pricing: PlanPricing, u: ModelUsage): { num: bigint; den: bigint } {
  const override = pricing.priceOverrides[u.model];
  const base = override === undefined ? { num: BigInt(u.costMicros), den: 1n } : { num: overrideCost(override, u), den: BigInt(MICROS_PER_UNIT) };
  return { num: base.num * BigInt(BPS + pricing.markupBps), den: base.den * BigInt(BPS) };
}

/** One rounding: micros (as a fraction) to cents, half-up. */
export function fractionToCents(f: { num: bigint; den: bigint }): number {
  return safe(divHalfUp(f.num, f.den * BigInt(MICROS_PER_CENT)), 'cents');
}

/** Usage lines, one per (model, price version), by model then version; empty groups left out. */
function usageLines(pricing: PlanPricing, usage: readonly ModelUsage[], segment: number, suffix: string): InvoiceLine[] {
  const groups = new Map<string, ModelUsage & { priceVersion: string | null }>();
  for (const u of usage) {
    // A plan override prices the model from tokens: the recorded version does not price the line.
    const version = pricing.priceOverrides[u.model] === undefined ? (u.priceVersion ?? null) : null;
    const key = `${u.model}\0${version ?? ''}`;
    const g = groups.get(key);
    if (g === undefined) {
      groups.set(key, { ...u, priceVersion: version });
    } else {
      g.requests += u.requests;
      g.inputTokens += u.inputTokens;
      g.outputTokens += u.outputTokens;
      g.cachedTokens += u.cachedTokens;
      g.costMicros += u.costMicros;
    }
  }
  return [...groups.values()]
    .filter((u) => u.requests > 0 || u.costMicros > 0)
    .sort((a, b) => cmp(a.model, b.model) || cmp(a.priceVersion ?? '', b.priceVersion ?? ''))
    .map((u) => ({
      kind: 'usage' as const,
      description: `Usage: ${u.model}${suffix}`,
      model: u.model,
      feature: null,
      priceVersion: u.priceVersion,
      segment,
      requests: u.requests,
      inputTokens: u.inputTokens,
      outputTokens: u.outputTokens,
      cachedTokens: u.cachedTokens,
      amountCents: fractionToCents(usageMicros(pricing, u)),
    }));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function line(kind: InvoiceLine['kind'], description: string, amountCents: number, segment: number, extra: Partial<InvoiceLine> = {}): InvoiceLine {
  return { kind, description, model: null, feature: null, priceVersion: null, segment, requests: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0, amountCents, ...extra };
}

/**
 * Applies a commitment to `usageCents` (list): the discounted value of the usage is drawn from
 * the capacity; whatever the capacity cannot buy is overage at list. The list value the
 * capacity covers is rounded half-up once.
 */
export function applyCommitment(
  usageCents: number,
  kind: 'reserved' | 'prepaid',
  capacityCents: number,
  discountBps: number,
): CommitmentSummary & { coveredListCents: number } {
  const keep = BigInt(BPS - discountBps);
  const discounted = safe(divHalfUp(BigInt(usageCents) * keep, BigInt(BPS)));
  let drawdown: number;
  let covered: number;
  if (discounted <= capacityCents) {
    drawdown = discounted;
    covered = usageCents;
  } else {
    drawdown = capacityCents;
    covered = keep === 0n ? usageCents : Math.min(usageCents, safe(divHalfUp(BigInt(capacityCents) * BigInt(BPS), keep)));
  }
  return {
    kind,
    discountBps,
    capacityCents,
    drawdownCents: drawdown,
    overageCents: usageCents - covered,
    closingCreditCents: kind === 'prepaid' ? capacityCents - drawdown : null,
    coveredListCents: covered,
  };
}

export interface InvoiceInput {
  period: string;
  periodStart: Date;
  periodEnd: Date;
  pricing: PlanPricing;
  usage: readonly ModelUsage[];
  /** Prepaid plans: credit left from the previous period; null means the plan's full credit. */
  openingCreditCents: number | null;
}

/** One plan for the whole period. */
export function computeInvoice(input: InvoiceInput): InvoiceDraft {
  const { pricing, usage, ...rest } = input;
  return computeProratedInvoice({ ...rest, segments: [{ planId: null, from: input.periodStart, to: input.periodEnd, pricing, usage }] });
}

/** A segment of the period with the usage of the day buckets that start in it. */
export interface SegmentInput extends PlanSegment {
  usage: readonly ModelUsage[];
}

export interface ProratedInvoiceInput {
  period: string;
  periodStart: Date;
  periodEnd: Date;
  /** In order, covering [periodStart, periodEnd) without gaps (src/billing/segments.ts). */
  segments: readonly SegmentInput[];
  openingCreditCents: number | null;
}

/** `cents` × the segment's share of the period (by time), rounded half-up once. */
function prorate(cents: number, segMs: number, periodMs: number): number {
  return segMs === periodMs ? cents : safe(divHalfUp(BigInt(cents) * BigInt(segMs), BigInt(periodMs)));
}

/** "2026-10-10T12:00:00Z": an instant in a line description. */
function instant(d: Date): string {
  return d.toISOString().replace('.000Z', 'Z');
}

/**
 * The invoice of a period during which the tenant may have changed plans (DESIGN §13
 * "Proration"): per segment, the plan's base fee, feature fees and reserved commitment prorated
 * by the segment's share of the period, and the usage of the segment's day buckets priced by
 * its plan. Prepaid credit is one balance drawn by every prepaid segment in turn. With one
 * segment this is exactly the unprorated invoice.
 */
export function computeProratedInvoice(input: ProratedInvoiceInput): InvoiceDraft {
  const periodMs = input.periodEnd.getTime() - input.periodStart.getTime();
  if (periodMs <= 0 || input.segments.length === 0) throw new RangeError('billing: an invoice needs a period and at least one segment');
  const currency = input.segments[input.segments.length - 1]?.pricing.currency ?? 'USD';
  if (input.segments.some((s) => s.pricing.currency !== currency)) {
    throw new RangeError(`billing: the plans of ${input.period} are priced in different currencies`);
  }
  const lines: InvoiceLine[] = [];
  const segments: InvoiceSegment[] = [];
  let usageCents = 0;
  let commitment: CommitmentSummary | null = null;
  let balance = input.openingCreditCents;
  let prepaid = false;

  input.segments.forEach((seg, i) => {
    const { pricing } = seg;
    const segMs = seg.to.getTime() - seg.from.getTime();
    const whole = segMs === periodMs;
    const suffix = whole ? '' : ` (${instant(seg.from)} to ${instant(seg.to)})`;
    const own: InvoiceLine[] = [];
    if (pricing.baseFeeCents > 0) own.push(line('base_fee', `Monthly base fee${suffix}`, prorate(pricing.baseFeeCents, segMs, periodMs), i));
    for (const f of FEATURES) {
      const fee = pricing.featureFeesCents[f];
      const enabled = f === 'log_retention_days' ? pricing.features[f] > 0 : pricing.features[f];
      if (fee !== undefined && fee > 0 && enabled) own.push(line('feature', `Feature: ${f}${suffix}`, prorate(fee, segMs, periodMs), i, { feature: f }));
    }
    own.push(...usageLines(pricing, seg.usage, i, suffix));
    const requests = seg.usage.reduce((n, u) => n + u.requests, 0);
    if (pricing.requestFeeMicros > 0 && requests > 0) {
      const fee = { num: BigInt(requests) * BigInt(pricing.requestFeeMicros), den: 1n };
      own.push(line('request_fee', `Request fee${suffix}`, fractionToCents(fee), i, { requests }));
    }
    const segUsage = own.filter((l) => l.kind === 'usage' || l.kind === 'request_fee').reduce((n, l) => n + l.amountCents, 0);
    usageCents += segUsage;

    let summary: CommitmentSummary | null = null;
    const c = pricing.commitment;
    if (c !== null) {
      let capacity: number;
      if (c.kind === 'reserved') {
        capacity = prorate(c.monthlyCents, segMs, periodMs);
        own.push(line('commitment_fee', `Reserved monthly commitment${suffix}`, capacity, i));
      } else {
        capacity = Math.max(0, balance ?? c.creditCents);
      }
      const applied = applyCommitment(segUsage, c.kind, capacity, c.discountBps);
      if (applied.coveredListCents > 0) own.push(line('commitment_drawdown', `Usage covered by commitment${suffix}`, -applied.coveredListCents, i));
      const { coveredListCents: _covered, ...rest } = applied;
      summary = rest;
      commitment = summary;
      if (c.kind === 'prepaid') {
        prepaid = true;
        balance = applied.closingCreditCents;
      }
    }
    lines.push(...own);
    segments.push({ planId: seg.planId, from: seg.from.toISOString(), to: seg.to.toISOString(), commitment: summary });
  });

  return {
    period: input.period,
    periodStart: input.periodStart.toISOString(),
    periodEnd: input.periodEnd.toISOString(),
    currency,
    lines,
    usageCents,
    commitment,
    segments,
    closingCreditCents: prepaid ? balance : null,
    totalCents: lines.reduce((n, l) => n + l.amountCents, 0),
  };
}
