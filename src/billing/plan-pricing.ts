/**
 * The plans.pricing document (migration 0015_billing): its schema (admin input and stored form are the
 * same camelCase JSON), parsing of what is stored, and the features a plan grants. A stored
 * document this version cannot read is treated as no pricing at all would be dangerous (free
 * features, list prices): parseStoredPricing returns null only for NULL and throws otherwise.
 */
import { z } from 'zod';
import { ALL_FEATURES, type PlanFeatures, type PlanPricing } from './types.js';

const cents = z.number().int().min(0).max(1e13);
const micros = z.number().int().min(0).max(1e15);
const bps = z.number().int().min(0).max(10_000);

const modelPrices = z.strictObject({
  inputPerMTok: micros,
  outputPerMTok: micros,
  cachedInputPerMTok: micros,
  perRequest: micros,
});

export const planFeaturesSchema = z.strictObject({
  caching: z.boolean().default(true),
  fallbacks: z.boolean().default(true),
  custom_domains: z.boolean().default(true),
  log_retention_days: z.number().int().min(0).max(3650).default(365),
});

export const commitmentSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('reserved'), monthlyCents: cents.min(1), discountBps: bps.default(0) }),
  z.strictObject({ kind: z.literal('prepaid'), creditCents: cents.min(1), discountBps: bps.default(0) }),
]);

export const planPricingSchema = z.strictObject({
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD').default('USD'),
  baseFeeCents: cents.default(0),
  requestFeeMicros: micros.default(0),
  markupBps: z.number().int().min(-10_000).max(100_000).default(0),
  priceOverrides: z.record(z.string().min(1).max(256), modelPrices).default({}),
  features: planFeaturesSchema.default({ ...ALL_FEATURES }),
  featureFeesCents: z
    .strictObject({ caching: cents.optional(), fallbacks: cents.optional(), custom_domains: cents.optional(), log_retention_days: cents.optional() })
    .default({}),
  commitment: commitmentSchema.nullable().default(null),
});

export function parseStoredPricing(raw: unknown): PlanPricing | null {
  if (raw === null || raw === undefined) return null;
  const parsed = planPricingSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`billing: stored plan pricing is not readable: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const p = parsed.data;
  const featureFeesCents: PlanPricing['featureFeesCents'] = Object.fromEntries(
    Object.entries(p.featureFeesCents).filter((e): e is [string, number] => e[1] !== undefined),
  );
  return { ...p, featureFeesCents };
}

/** What a tenant on this pricing may use; no plan or no pricing: everything. */
export function planFeatures(pricing: PlanPricing | null): PlanFeatures {
  return pricing === null ? ALL_FEATURES : pricing.features;
}

/**
 * The features of a plan's stored pricing, for the hot path's snapshot: a document this version
 * cannot read grants every feature (as no pricing does) rather than failing the snapshot; billing
 * itself refuses to price with it (parseStoredPricing throws there).
 */
export function storedPlanFeatures(raw: unknown): PlanFeatures {
  try {
    return planFeatures(parseStoredPricing(raw));
  } catch {
    return ALL_FEATURES;
  }
}

/** A stored plan as the snapshot composes limits from it, with the features the hot path enforces. */
export function planForSnapshot<P extends { pricing: unknown }>(plan: P): P & { fallbacks: boolean } {
  return { ...plan, fallbacks: storedPlanFeatures(plan.pricing).fallbacks };
}
