/** Billing's records: plain data in, plain data out (the store and the admin API adapt them). */

export const FEATURES = ['caching', 'fallbacks', 'custom_domains', 'log_retention_days'] as const;
export type Feature = (typeof FEATURES)[number];

/** What a plan enables. log_retention_days: how long request logs may be kept (0: none). */
export interface PlanFeatures {
  caching: boolean;
  fallbacks: boolean;
  custom_domains: boolean;
  log_retention_days: number;
}

/** A tenant on no plan, or on a plan without pricing, has every feature: nothing is sold. */
export const ALL_FEATURES: PlanFeatures = Object.freeze({
  caching: true,
  fallbacks: true,
  custom_domains: true,
  log_retention_days: 365,
});

/** Per-model prices in micro-units: per million tokens, and per request. */
export interface ModelPrices {
  inputPerMTok: number;
  outputPerMTok: number;
  cachedInputPerMTok: number;
  perRequest: number;
}

/**
 * A commitment: `reserved` is a monthly amount invoiced every period whatever the usage;
 * `prepaid` is credit bought up front (the opening balance of each period is the previous
 * period's closing one). Either buys usage at `discountBps` off list; usage beyond it is
 * overage at list price.
 */
export type Commitment =
  | { kind: 'reserved'; monthlyCents: number; discountBps: number }
  | { kind: 'prepaid'; creditCents: number; discountBps: number };

/** The pricing a plan adds to the price book. */
export interface PlanPricing {
  currency: string;
  baseFeeCents: number;
  /** Added to every request, on top of the model's own per-request price. */
  requestFeeMicros: number;
  /** On list token cost; negative is a discount (>= -10000). */
  markupBps: number;
  /** Per public model name: replaces the price book for this plan's tenants. */
  priceOverrides: Readonly<Record<string, ModelPrices>>;
  features: PlanFeatures;
  /** Monthly fee per enabled feature (e.g. custom_domains: 2000 = 20.00). */
  featureFeesCents: Readonly<Partial<Record<Feature, number>>>;
  commitment: Commitment | null;
}

/** Usage of one model in one period (or one chargeback group), summed from rollups. */
export interface ModelUsage {
  model: string;
  /** The price-book version of `costMicros` (migration 0017); null or absent: none recorded. */
  priceVersion?: string | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  /** List cost at the prices in force when each request ran (price book versions). */
  costMicros: number;
}

export type LineKind = 'base_fee' | 'feature' | 'usage' | 'request_fee' | 'commitment_fee' | 'commitment_drawdown';

export interface InvoiceLine {
  kind: LineKind;
  description: string;
  model: string | null;
  feature: Feature | null;
  /**
   * Usage lines: the price-book version whose list cost the line bills; null when none was
   * recorded, and on lines the plan re-prices (price overrides), which the version does not price.
   */
  priceVersion: string | null;
  /** Index into the invoice's segments: the plan the line belongs to (0 when one plan had the whole period). */
  segment: number;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  amountCents: number;
}

export interface CommitmentSummary {
  kind: Commitment['kind'];
  discountBps: number;
  /** What the commitment could buy this period (the monthly amount, or the opening credit). */
  capacityCents: number;
  /** Of it, consumed by this period's usage, at the discounted price. */
  drawdownCents: number;
  /** Usage not covered, billed at list price. */
  overageCents: number;
  /** Prepaid only: credit left for the next period. */
  closingCreditCents: number | null;
}

/** A stretch of a period on one plan (tenant_plan_history), with the pricing applied to it. */
export interface PlanSegment {
  /** null: on no plan (list prices), or a plan since deleted. */
  planId: string | null;
  from: Date;
  to: Date;
  pricing: PlanPricing;
}

/** A segment as the invoice reports it. */
export interface InvoiceSegment {
  planId: string | null;
  from: string;
  to: string;
  /** This plan's commitment over its stretch (a reserved amount prorated by time). */
  commitment: CommitmentSummary | null;
}

export interface InvoiceDraft {
  period: string;
  periodStart: string;
  periodEnd: string;
  currency: string;
  lines: InvoiceLine[];
  /** Usage and request fees at list (after markup and overrides), before any commitment. */
  usageCents: number;
  /** The commitment of the last segment that has one (each segment's own: `segments`). */
  commitment: CommitmentSummary | null;
  /** The plans of the period in order; one segment when the plan did not change. */
  segments: InvoiceSegment[];
  /** Prepaid credit left after the period; null when no segment had a prepaid commitment. */
  closingCreditCents: number | null;
  totalCents: number;
}
