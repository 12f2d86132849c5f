/**
 * Plan segments of a period, prorated invoices and usage lines per price version (DESIGN §13
 * "Proration", "Price versions"), as pure functions.
 */
import { describe, expect, it } from 'vitest';
import { chargeback, chargebackBySegment } from '../../../src/billing/chargeback.js';
import { computeInvoice, computeProratedInvoice, listPricing, type SegmentInput } from '../../../src/billing/invoice.js';
import { planSegments } from '../../../src/billing/segments.js';
import type { ModelUsage, PlanPricing } from '../../../src/billing/types.js';

// November 2026 in UTC: 30 days.
const START = new Date('2026-11-01T00:00:00Z');
const END = new Date('2026-12-01T00:00:00Z');
const period = { period: '2026-11', periodStart: START, periodEnd: END };
const DAY = 86_400_000;
const at = (day: number, hour = 0) => new Date(START.getTime() + (day - 1) * DAY + hour * 3_600_000);

function usage(model: string, costMicros: number, extra: Partial<ModelUsage> = {}): ModelUsage {
  return { model, requests: 10, inputTokens: 1000, outputTokens: 500, cachedTokens: 0, costMicros, ...extra };
}

function pricing(p: Partial<PlanPricing>): PlanPricing {
  return { ...listPricing(), ...p };
}

function seg(planId: string | null, from: Date, to: Date, p: PlanPricing, u: ModelUsage[] = []): SegmentInput {
  return { planId, from, to, pricing: p, usage: u };
}

describe('planSegments', () => {
  it('one plan all month: one segment; no history: the current plan', () => {
    expect(planSegments([{ planId: 'a', effectiveFrom: new Date('2026-01-01T00:00:00Z') }], START, END, 'a')).toEqual([{ planId: 'a', from: START, to: END }]);
    expect(planSegments([], START, END, 'z')).toEqual([{ planId: 'z', from: START, to: END }]);
  });

  it('a change inside the period splits it there; changes before, after and to the same plan do not', () => {
    const history = [
      { planId: 'a', effectiveFrom: new Date('2026-09-01T00:00:00Z') },
      { planId: 'b', effectiveFrom: new Date('2026-10-20T00:00:00Z') },
      { planId: 'c', effectiveFrom: at(10, 12) },
      { planId: 'c', effectiveFrom: at(12) },
      { planId: null, effectiveFrom: at(20) },
      { planId: 'd', effectiveFrom: END },
    ];
    expect(planSegments(history, START, END, 'd')).toEqual([
      { planId: 'b', from: START, to: at(10, 12) },
      { planId: 'c', from: at(10, 12), to: at(20) },
      { planId: null, from: at(20), to: END },
    ]);
  });

  it('a history that starts inside the period extends its first plan back to the start (creation is not prorated)', () => {
    const history = [
      { planId: 'a', effectiveFrom: at(5) },
      { planId: 'b', effectiveFrom: at(15) },
    ];
    expect(planSegments(history, START, END, 'b')).toEqual([
      { planId: 'a', from: START, to: at(15) },
      { planId: 'b', from: at(15), to: END },
    ]);
  });

  it('a change exactly at the period start is the plan of the whole period; same instant: the later row wins', () => {
    const history = [
      { planId: 'a', effectiveFrom: new Date('2026-10-01T00:00:00Z') },
      { planId: 'b', effectiveFrom: START },
      { planId: 'c', effectiveFrom: START },
    ];
    expect(planSegments(history, START, END, 'c')).toEqual([{ planId: 'c', from: START, to: END }]);
  });
});

describe('computeProratedInvoice', () => {
  it('one segment over the whole period is exactly the unprorated invoice', () => {
    const p = pricing({ baseFeeCents: 4_900, requestFeeMicros: 1_000, commitment: { kind: 'reserved', monthlyCents: 10_000, discountBps: 1_000 } });
    const u = [usage('m', 123_456_789)];
    const single = computeInvoice({ ...period, pricing: p, usage: u, openingCreditCents: null });
    const prorated = computeProratedInvoice({ ...period, segments: [seg(null, START, END, p, u)], openingCreditCents: null });
    expect(prorated).toEqual(single);
    expect(single.lines.every((l) => l.segment === 0 && !l.description.includes('('))).toBe(true);
  });

  it('base fees, feature fees and reserved commitments are prorated by time on each plan, each rounded half-up once', () => {
    const small = pricing({ baseFeeCents: 1_000, commitment: null });
    const big = pricing({
      baseFeeCents: 3_000,
      features: { caching: true, fallbacks: true, custom_domains: true, log_retention_days: 30 },
      featureFeesCents: { custom_domains: 301 },
      commitment: { kind: 'reserved', monthlyCents: 9_000, discountBps: 0 },
    });
    // 10 days on `small`, then 20 days on `big` (change on the 11th at midnight).
    const inv = computeProratedInvoice({
      ...period,
      segments: [seg('s', START, at(11), small, [usage('m', 20_000_000)]), seg('b', at(11), END, big, [usage('m', 50_000_000)])],
      openingCreditCents: null,
    });
    const by = inv.lines.map((l) => [l.segment, l.kind, l.amountCents]);
    expect(by).toEqual([
      [0, 'base_fee', 333], // 1,000 x 10/30 = 333.33
      [0, 'usage', 2_000],
      [1, 'base_fee', 2_000], // 3,000 x 20/30
      [1, 'feature', 201], // 301 x 20/30 = 200.67 -> 201
      [1, 'usage', 5_000],
      [1, 'commitment_fee', 6_000], // 9,000 x 20/30
      [1, 'commitment_drawdown', -5_000], // only the second plan's usage draws on it
    ]);
    expect(inv.lines[0]?.description).toBe('Monthly base fee (2026-11-01T00:00:00Z to 2026-11-11T00:00:00Z)');
    expect(inv.usageCents).toBe(7_000);
    expect(inv.segments.map((s) => [s.planId, s.from, s.to, s.commitment?.capacityCents ?? null])).toEqual([
      ['s', START.toISOString(), at(11).toISOString(), null],
      ['b', at(11).toISOString(), END.toISOString(), 6_000],
    ]);
    expect(inv.commitment).toMatchObject({ kind: 'reserved', capacityCents: 6_000, drawdownCents: 5_000 });
    expect(inv.totalCents).toBe(333 + 2_000 + 2_000 + 201 + 5_000 + 6_000 - 5_000);
  });

  it('a change at noon prorates to the millisecond (half-up)', () => {
    const p = pricing({ baseFeeCents: 1 });
    // 1 cent x 0.5 = 0.5 -> 1 (half-up) on each side.
    const inv = computeProratedInvoice({ ...period, segments: [seg('a', START, at(16), p), seg('b', at(16), END, p)], openingCreditCents: null });
    expect(inv.lines.map((l) => l.amountCents)).toEqual([1, 1]);
  });

  it('usage is priced under the plan of its segment (markup and overrides differ)', () => {
    const list = pricing({});
    const marked = pricing({ markupBps: 5_000 }); // +50%
    const inv = computeProratedInvoice({
      ...period,
      segments: [seg('a', START, at(15), list, [usage('m', 1_000_000)]), seg('b', at(15), END, marked, [usage('m', 1_000_000)])],
      openingCreditCents: null,
    });
    expect(inv.lines.map((l) => [l.segment, l.model, l.amountCents])).toEqual([
      [0, 'm', 100],
      [1, 'm', 150],
    ]);
  });

  it('one prepaid balance is drawn by each prepaid segment in turn; a plan without one leaves it alone', () => {
    const prepaidA = pricing({ commitment: { kind: 'prepaid', creditCents: 5_000, discountBps: 0 } });
    const plain = pricing({});
    const prepaidB = pricing({ commitment: { kind: 'prepaid', creditCents: 99_999, discountBps: 5_000 } });
    const inv = computeProratedInvoice({
      ...period,
      segments: [
        seg('a', START, at(10), prepaidA, [usage('m', 30_000_000)]), // 3,000 list, drawn from 5,000
        seg('p', at(10), at(20), plain, [usage('m', 10_000_000)]), // 1,000 at list, the balance untouched
        seg('b', at(20), END, prepaidB, [usage('m', 60_000_000)]), // 6,000 list at 50% off = 3,000 > 2,000 left
      ],
      openingCreditCents: null,
    });
    expect(inv.segments.map((s) => s.commitment && [s.commitment.capacityCents, s.commitment.drawdownCents, s.commitment.closingCreditCents, s.commitment.overageCents])).toEqual([
      [5_000, 3_000, 2_000, 0],
      null,
      [2_000, 2_000, 0, 2_000],
    ]);
    expect(inv.closingCreditCents).toBe(0);
    expect(inv.totalCents).toBe(1_000 + 2_000);
  });

  it('plans priced in different currencies cannot share an invoice', () => {
    expect(() =>
      computeProratedInvoice({ ...period, segments: [seg('a', START, at(2), pricing({})), seg('b', at(2), END, pricing({ currency: 'EUR' }))], openingCreditCents: null }),
    ).toThrow(/different currencies/);
  });
});

describe('usage lines per price version', () => {
  it('one line per (model, version), each rounded once; rows of one version are summed first', () => {
    const inv = computeInvoice({
      ...period,
      pricing: listPricing(),
      usage: [usage('m', 15_000, { priceVersion: 'v2' }), usage('m', 15_000, { priceVersion: 'v1' }), usage('m', 10_000, { priceVersion: 'v1' }), usage('m', 4_000)],
      openingCreditCents: null,
    });
    expect(inv.lines.map((l) => [l.priceVersion, l.requests, l.amountCents])).toEqual([
      [null, 10, 0],
      ['v1', 20, 3], // 25,000 micros -> 2.5 -> 3
      ['v2', 10, 2],
    ]);
  });

  it('a plan that overrides the model prices it from tokens: one line, no version named', () => {
    const p = pricing({ priceOverrides: { m: { inputPerMTok: 1_000_000, outputPerMTok: 0, cachedInputPerMTok: 0, perRequest: 0 } } });
    const inv = computeInvoice({ ...period, pricing: p, usage: [usage('m', 1, { priceVersion: 'v1' }), usage('m', 1, { priceVersion: 'v2' })], openingCreditCents: null });
    expect(inv.lines.map((l) => [l.model, l.priceVersion, l.requests])).toEqual([['m', null, 20]]);
  });

  it('chargeback over segments sums each group exactly before rounding once', () => {
    const list = pricing({});
    const marked = pricing({ markupBps: 10_000 }); // x2
    const before = [{ group: 'team', ...usage('m', 3_000) }];
    const after = [{ group: 'team', ...usage('m', 1_000) }];
    // 3,000 + 2 x 1,000 = 5,000 micros = 0.5 cents -> 1; rounding per segment would give 0 + 0.
    expect(chargebackBySegment([{ pricing: list, rows: before }, { pricing: marked, rows: after }]).map((r) => [r.group, r.requests, r.costMicros, r.amountCents])).toEqual([
      ['team', 20, 4_000, 1],
    ]);
    expect(chargeback(list, before)[0]?.amountCents).toBe(0);
    expect(chargeback(marked, after)[0]?.amountCents).toBe(0);
  });
});
