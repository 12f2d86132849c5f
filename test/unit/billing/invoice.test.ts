import { describe, expect, it } from 'vitest';
import { chargeback } from '../../../src/billing/chargeback.js';
import { toCsv, csvCell } from '../../../src/billing/csv.js';
import { applyCommitment, computeInvoice, listPricing } from '../../../src/billing/invoice.js';
import { divHalfUp, formatCents, microsToCents } from '../../../src/billing/money.js';
import { existedIn, periodAt, periodOf, previousPeriod } from '../../../src/billing/period.js';
import type { ModelUsage, PlanPricing } from '../../../src/billing/types.js';

const period = { period: '2026-11', periodStart: new Date('2026-11-01T00:00:00Z'), periodEnd: new Date('2026-12-01T00:00:00Z') };

function usage(model: string, costMicros: number, extra: Partial<ModelUsage> = {}): ModelUsage {
  return { model, requests: 10, inputTokens: 1000, outputTokens: 500, cachedTokens: 0, costMicros, ...extra };
}

function pricing(p: Partial<PlanPricing>): PlanPricing {
  return { ...listPricing(), ...p };
}

describe('money', () => {
  it('rounds micros to cents half away from zero, once', () => {
    expect(microsToCents(4_999)).toBe(0);
    expect(microsToCents(5_000)).toBe(1);
    expect(microsToCents(14_999)).toBe(1);
    expect(microsToCents(15_000)).toBe(2);
    expect(microsToCents(25_000)).toBe(3); // half-up, not banker's (which would give 2)
    expect(microsToCents(-5_000)).toBe(-1);
    expect(divHalfUp(7n, 2n)).toBe(4n);
    expect(formatCents(-1234)).toBe('-12.34');
    expect(formatCents(5)).toBe('0.05');
  });

  it('refuses amounts past the safe integer range instead of returning a float', () => {
    expect(() => microsToCents(10n ** 30n)).toThrow(RangeError);
  });
});

describe('computeInvoice', () => {
  it('list pricing: one line per model, rounded per line, total is the sum', () => {
    const inv = computeInvoice({ ...period, pricing: listPricing(), usage: [usage('gpt-b', 15_000), usage('gpt-a', 24_999)], openingCreditCents: null });
    expect(inv.lines.map((l) => [l.model, l.amountCents])).toEqual([
      ['gpt-a', 2],
      ['gpt-b', 2],
    ]);
    expect(inv.totalCents).toBe(4);
    expect(inv.usageCents).toBe(4);
    expect(inv.commitment).toBeNull();
  });

  it('base fee, feature fees of enabled features only, request fee and markup', () => {
    const p = pricing({
      baseFeeCents: 10_000,
      requestFeeMicros: 1_000, // 0.1 cent per request
      markupBps: 1_000, // +10%
      features: { caching: true, fallbacks: false, custom_domains: true, log_retention_days: 0 },
      featureFeesCents: { custom_domains: 2_000, fallbacks: 500, log_retention_days: 300 },
    });
    const inv = computeInvoice({ ...period, pricing: p, usage: [usage('m', 1_000_000, { requests: 25 })], openingCreditCents: null });
    const by = Object.fromEntries(inv.lines.map((l) => [l.kind === 'feature' ? `feature:${l.feature}` : l.kind, l.amountCents]));
    expect(by).toEqual({ base_fee: 10_000, 'feature:custom_domains': 2_000, usage: 110, request_fee: 3 });
    expect(inv.usageCents).toBe(113);
    expect(inv.totalCents).toBe(12_113);
  });

  it('price overrides replace the recorded list cost for that model', () => {
    const p = pricing({ priceOverrides: { m: { inputPerMTok: 2_000_000, outputPerMTok: 4_000_000, cachedInputPerMTok: 1_000_000, perRequest: 100 } } });
    // 800 uncached x 2 + 200 cached x 1 + 500 x 4 = 3,800,000,000 / 1e6 = 3,800 micros; + 10 x 100 = 4,800 micros = 0.48 cent -> 0
    const u = usage('m', 999_999_999, { inputTokens: 1000, cachedTokens: 200, outputTokens: 500, requests: 10 });
    expect(computeInvoice({ ...period, pricing: p, usage: [u], openingCreditCents: null }).totalCents).toBe(0);
    const big = { ...u, inputTokens: 1_000_000, cachedTokens: 0, outputTokens: 1_000_000, requests: 1 };
    // 2 + 4 units = 6,000,000 micros + 100 = 600.01 cents -> 600
    expect(computeInvoice({ ...period, pricing: p, usage: [big], openingCreditCents: null }).totalCents).toBe(600);
  });

  it('reserved commitment under its capacity: the fee is paid, usage is covered, no overage', () => {
    const p = pricing({ commitment: { kind: 'reserved', monthlyCents: 100_000, discountBps: 2_000 } });
    const inv = computeInvoice({ ...period, pricing: p, usage: [usage('m', 500_000_000)], openingCreditCents: null }); // 50,000 cents list
    expect(inv.usageCents).toBe(50_000);
    expect(inv.commitment).toMatchObject({ kind: 'reserved', capacityCents: 100_000, drawdownCents: 40_000, overageCents: 0, closingCreditCents: null });
    expect(inv.lines.find((l) => l.kind === 'commitment_drawdown')?.amountCents).toBe(-50_000);
    expect(inv.totalCents).toBe(100_000);
  });

  it('reserved commitment exhausted: overage at list price', () => {
    const p = pricing({ commitment: { kind: 'reserved', monthlyCents: 80_000, discountBps: 2_000 } });
    // list 150,000; the 80,000 commitment buys 100,000 of list at 20% off; 50,000 overage at list.
    const inv = computeInvoice({ ...period, pricing: p, usage: [usage('m', 1_500_000_000)], openingCreditCents: null });
    expect(inv.commitment).toMatchObject({ drawdownCents: 80_000, overageCents: 50_000 });
    expect(inv.totalCents).toBe(80_000 + 50_000);
  });

  it('prepaid credit: drawn at the discount, closing balance carried, overage at list', () => {
    const p = pricing({ baseFeeCents: 1_000, commitment: { kind: 'prepaid', creditCents: 10_000, discountBps: 0 } });
    const first = computeInvoice({ ...period, pricing: p, usage: [usage('m', 60_000_000)], openingCreditCents: null }); // 6,000 list
    expect(first.commitment).toMatchObject({ capacityCents: 10_000, drawdownCents: 6_000, closingCreditCents: 4_000, overageCents: 0 });
    expect(first.totalCents).toBe(1_000);
    const second = computeInvoice({ ...period, pricing: p, usage: [usage('m', 60_000_000)], openingCreditCents: 4_000 });
    expect(second.commitment).toMatchObject({ capacityCents: 4_000, drawdownCents: 4_000, closingCreditCents: 0, overageCents: 2_000 });
    expect(second.totalCents).toBe(1_000 + 2_000);
  });

  it('is a pure function: the same rollups give the identical invoice', () => {
    const p = pricing({ baseFeeCents: 999, markupBps: 333, commitment: { kind: 'reserved', monthlyCents: 50, discountBps: 1_500 } });
    const u = [usage('a', 123_456_789), usage('b', 5_000, { requests: 3 })];
    expect(computeInvoice({ ...period, pricing: p, usage: u, openingCreditCents: null })).toEqual(
      computeInvoice({ ...period, pricing: p, usage: [...u].reverse(), openingCreditCents: null }),
    );
  });

  it('applyCommitment with a 100% discount covers everything for nothing', () => {
    expect(applyCommitment(500, 'reserved', 0, 10_000)).toMatchObject({ drawdownCents: 0, overageCents: 0, coveredListCents: 500 });
  });
});

describe('chargeback', () => {
  it('sums per group across models, rounds once per group, largest first, unassigned last', () => {
    const rows = [
      { group: 'team-b', ...usage('x', 14_000) },
      { group: 'team-b', ...usage('y', 2_000) },
      { group: null, ...usage('x', 90_000) },
      { group: 'team-a', ...usage('x', 90_000) },
    ];
    const out = chargeback(listPricing(), rows);
    expect(out.map((r) => [r.group, r.amountCents, r.requests])).toEqual([
      ['team-a', 9, 10],
      [null, 9, 10],
      ['team-b', 2, 20],
    ]);
  });
});

describe('csv', () => {
  it('neutralises formula starts and quotes delimiters', () => {
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvCell('+1')).toBe("'+1");
    expect(csvCell('-cmd')).toBe("'-cmd");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('\tx')).toBe("'\tx");
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell(-42)).toBe('-42');
    expect(csvCell(null)).toBe('');
    expect(toCsv(['a', 'b'], [['1', 2]])).toBe('a,b\r\n1,2\r\n');
  });
});

describe('periods', () => {
  it('are calendar months in the tenant time zone', () => {
    const berlin = periodOf('2026-11', 'Europe/Berlin');
    expect(berlin.start.toISOString()).toBe('2026-10-31T23:00:00.000Z');
    expect(berlin.end.toISOString()).toBe('2026-11-30T23:00:00.000Z');
    const utc = periodOf('2026-12', 'UTC');
    expect([utc.start.toISOString(), utc.end.toISOString()]).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
    expect(periodAt(new Date('2026-11-30T23:30:00Z'), 'Europe/Berlin').id).toBe('2026-12');
    expect(previousPeriod(periodOf('2026-01', 'UTC'), 'UTC').id).toBe('2025-12');
    expect(() => periodOf('2026-13', 'UTC')).toThrow(RangeError);
  });

  it("are billed to a tenant created before they ended, in the tenant's zone", () => {
    const berlin = periodOf('2026-11', 'Europe/Berlin'); // ends 2026-11-30T23:00Z
    expect(existedIn(berlin, new Date('2026-01-01T00:00:00Z'))).toBe(true);
    expect(existedIn(berlin, new Date('2026-11-20T12:00:00Z'))).toBe(true); // during it: the whole month
    expect(existedIn(berlin, new Date('2026-11-30T22:59:59.999Z'))).toBe(true);
    expect(existedIn(berlin, new Date('2026-11-30T23:00:00.000Z'))).toBe(false); // the instant it ended
    expect(existedIn(berlin, new Date('2026-11-30T23:30:00Z'))).toBe(false); // still November in UTC
  });
});
