/**
 * Chargeback: the period's usage cost split by team, key or tag, at the tenant's plan prices
 * (overrides and markup), before base fees and commitments, which belong to the tenant as a
 * whole. Each group is rounded to cents once, so group amounts may differ from the invoice's
 * model lines by rounding (at most half a cent per group).
 */
import { fractionToCents, usageMicros } from './invoice.js';
import type { ModelUsage, PlanPricing } from './types.js';

export type ChargebackBy = 'team' | 'key' | 'tag';

/** Usage of one model within one group; group null: no team / no key. */
export interface GroupUsage extends ModelUsage {
  group: string | null;
}

export interface ChargebackRow {
  group: string | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costMicros: number;
  amountCents: number;
}

export function chargeback(pricing: PlanPricing, rows: readonly GroupUsage[]): ChargebackRow[] {
  return chargebackBySegment([{ pricing, rows }]);
}

/**
 * The same over a period with plan changes: each segment's usage (its day buckets) at its own
 * plan's prices, summed exactly per group before the one rounding.
 */
export function chargebackBySegment(parts: readonly { pricing: PlanPricing; rows: readonly GroupUsage[] }[]): ChargebackRow[] {
  const groups = new Map<string | null, { row: ChargebackRow; num: bigint; den: bigint }>();
  for (const { pricing, rows } of parts) {
    for (const r of rows) {
      let g = groups.get(r.group);
      if (g === undefined) {
        g = {
          row: { group: r.group, requests: 0, inputTokens: 0, outputTokens: 0, cachedTokens: 0, costMicros: 0, amountCents: 0 },
          num: 0n,
          den: 1n,
        };
        groups.set(r.group, g);
      }
      g.row.requests += r.requests;
      g.row.inputTokens += r.inputTokens;
      g.row.outputTokens += r.outputTokens;
      g.row.cachedTokens += r.cachedTokens;
      g.row.costMicros += r.costMicros;
      const f = usageMicros(pricing, r);
      // Sum of fractions over a common denominator (denominators are 1e4 or 1e10).
      g.num = g.num * f.den + f.num * g.den;
      g.den = g.den * f.den;
      const common = gcd(g.num < 0n ? -g.num : g.num, g.den);
      if (common > 1n) {
        g.num /= common;
        g.den /= common;
      }
    }
  }
  const out = [...groups.values()].map((g) => ({ ...g.row, amountCents: fractionToCents({ num: g.num, den: g.den }) }));
  // Largest first; then by group, the untagged/unassigned (null) last.
  return out.sort((a, b) => b.amountCents - a.amountCents || cmpGroup(a.group, b.group));
}

function cmpGroup(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a === 0n ? 1n : a;
}
