/**
 * Invoice arithmetic: a pure function of the period's usage (from the day rollups) and the
 * tenant's plan pricing, so an issued invoice can be recomputed from the rollups and compared
 * (test/unit/billing/invoice.test.ts). Each line is computed exactly in micro-units and rounded
 * to cents once (money.ts); commitments work on the rounded lines, with one rounding of their own.
 */
import { BPS, MICROS_PER_CENT, MICROS_PER_UNIT, divHalfUp, safe } from './money.js';
import { FEATURES, type CommitmentSummary, type InvoiceDraft, type InvoiceLine, type ModelPrices, type ModelUsage, type PlanPricing } from './types.js';

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

/** Model usage lines sorted by model, zero-request models left out. */
function usageLines(pricing: PlanPricing, usage: readonly ModelUsage[]): InvoiceLine[] {
  return [...usage]
    .filter((u) => u.requests > 0 || u.costMicros > 0)
    .sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0))
    .map((u) => ({
      kind: 'usage' as const,
      description: `Usage: ${u.model}`,
      model: u.model,
      feature: null,
      requests: u.requests,
      inputTokens: u.inputTokens,
      outputTokens: u.outputTokens,
      cachedTokens: u.cachedTokens,
      amountCents: fractionToCents(usageMicros(pricing, u)),
    }));
}

function line(kind: InvoiceLine['kind'], description: string, amountCents: number, extra: Partial<InvoiceLine> = {}): InvoiceLine {
  return { kind, description, model: null, feature: null, requests: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0, amountCents, ...extra };
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

export function computeInvoice(input: InvoiceInput): InvoiceDraft {
  const { pricing } = input;
  const lines: InvoiceLine[] = [];
  if (pricing.baseFeeCents > 0) lines.push(line('base_fee', 'Monthly base fee', pricing.baseFeeCents));
  for (const f of FEATURES) {
    const fee = pricing.featureFeesCents[f];
    const enabled = f === 'log_retention_days' ? pricing.features[f] > 0 : pricing.features[f];
    if (fee !== undefined && fee > 0 && enabled) lines.push(line('feature', `Feature: ${f}`, fee, { feature: f }));
  }
  const usage = usageLines(pricing, input.usage);
  lines.push(...usage);
  const requests = input.usage.reduce((n, u) => n + u.requests, 0);
  if (pricing.requestFeeMicros > 0 && requests > 0) {
    const fee = { num: BigInt(requests) * BigInt(pricing.requestFeeMicros), den: 1n };
    lines.push(line('request_fee', 'Request fee', fractionToCents(fee), { requests }));
  }
  const usageCents = lines.filter((l) => l.kind === 'usage' || l.kind === 'request_fee').reduce((n, l) => n + l.amountCents, 0);

  let commitment: CommitmentSummary | null = null;
  const c = pricing.commitment;
  if (c !== null) {
    const capacity = c.kind === 'reserved' ? c.monthlyCents : Math.max(0, input.openingCreditCents ?? c.creditCents);
    if (c.kind === 'reserved') lines.push(line('commitment_fee', 'Reserved monthly commitment', c.monthlyCents));
    const applied = applyCommitment(usageCents, c.kind, capacity, c.discountBps);
    if (applied.coveredListCents > 0) lines.push(line('commitment_drawdown', 'Usage covered by commitment', -applied.coveredListCents));
    const { coveredListCents: _covered, ...summary } = applied;
    commitment = summary;
  }
  return {
    period: input.period,
    periodStart: input.periodStart.toISOString(),
    periodEnd: input.periodEnd.toISOString(),
    currency: pricing.currency,
    lines,
    usageCents,
    commitment,
    totalCents: lines.reduce((n, l) => n + l.amountCents, 0),
  };
}
