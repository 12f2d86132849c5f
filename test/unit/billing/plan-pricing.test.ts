import { describe, expect, it } from 'vitest';
import { parseStoredPricing, planFeatures, planPricingSchema } from '../../../src/billing/plan-pricing.js';
import { ALL_FEATURES } from '../../../src/billing/types.js';

describe('plan pricing documents', () => {
  it('fills defaults: list prices, every feature, no commitment', () => {
    const p = planPricingSchema.parse({});
    expect(p).toMatchObject({ currency: 'USD', baseFeeCents: 0, markupBps: 0, commitment: null, features: ALL_FEATURES });
    expect(planFeatures(null)).toEqual(ALL_FEATURES);
  });

  it('refuses float money, negative fees, unknown fields and a commitment without an amount', () => {
    expect(planPricingSchema.safeParse({ baseFeeCents: 10.5 }).success).toBe(false);
    expect(planPricingSchema.safeParse({ baseFeeCents: -1 }).success).toBe(false);
    expect(planPricingSchema.safeParse({ basefee: 1 }).success).toBe(false);
    expect(planPricingSchema.safeParse({ commitment: { kind: 'reserved', discountBps: 100 } }).success).toBe(false);
    expect(planPricingSchema.safeParse({ commitment: { kind: 'prepaid', creditCents: 100, discountBps: 10_001 } }).success).toBe(false);
    expect(planPricingSchema.safeParse({ currency: 'usd' }).success).toBe(false);
  });

  it('a stored document it cannot read is an error, never silently "everything free"', () => {
    expect(parseStoredPricing(null)).toBeNull();
    expect(() => parseStoredPricing({ baseFeeCents: 'lots' })).toThrow(/not readable/);
    expect(parseStoredPricing({ features: { custom_domains: false } })?.features).toEqual({ ...ALL_FEATURES, custom_domains: false });
  });
});
