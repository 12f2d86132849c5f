/**
 * Money arithmetic of billing. Amounts are integers everywhere: costs in micro-units of the
 * currency (1e-6), invoice amounts in minor units (cents, 1e-2). Products that can pass 2^53
 * (tokens x price per million) are computed in bigint and only the result comes back as a
 * number, checked to be a safe integer.
 *
 * Rounding (DESIGN §13): micros become cents once, per invoice line, half-up (half away from
 * zero). Half-up rather than banker's: a line's amount must be checkable by hand from its
 * quantity and price, and banker's rounding surprises finance teams reading one line.
 */

export const MICROS_PER_UNIT = 1_000_000;
export const MICROS_PER_CENT = 10_000;
export const BPS = 10_000;

/** Guards a computed amount: money that overflowed a double is a bug, never a bill. */
export function safe(n: bigint, what = 'amount'): number {
  const v = Number(n);
  if (!Number.isSafeInteger(v)) throw new RangeError(`billing: ${what} ${n} is outside the safe integer range`);
  return v;
}

/** a / b rounded half away from zero (b > 0). */
export function divHalfUp(a: bigint, b: bigint): bigint {
  if (b <= 0n) throw new RangeError('billing: divisor must be positive');
  const neg = a < 0n;
  const abs = neg ? -a : a;
  const q = (abs * 2n + b) / (2n * b);
  return neg ? -q : q;
}

/** Micro-units to cents, half-up: the single rounding step of every invoice line. */
export function microsToCents(micros: number | bigint): number {
  return safe(divHalfUp(BigInt(micros), BigInt(MICROS_PER_CENT)), 'cents');
}

/** Applies a markup (or discount, negative) in basis points to micros, kept exact until the line rounds. */
export function withBps(micros: bigint, bps: number): { num: bigint; den: bigint } {
  return { num: micros * BigInt(BPS + bps), den: BigInt(BPS) };
}

/** "12.34" from 1234 cents, for CSV and humans; never parsed back. */
export function formatCents(cents: number): string {
  const neg = cents < 0;
  const abs = Math.abs(cents);
  const whole = Math.floor(abs / 100);
  const frac = String(abs % 100).padStart(2, '0');
  return `${neg ? '-' : ''}${whole}.${frac}`;
}
