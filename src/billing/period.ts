/**
 * Billing periods: calendar months in the tenant's time zone ('2026-11' in Europe/Berlin starts
 * at 2026-10-31T23:00Z). Day rollups are bucketed at the tenant's local midnight, so a month is
 * exactly the day buckets in [start, end).
 */
import { calendarWindow } from '../limits/windows.js';

export interface BillingPeriod {
  id: string;
  start: Date;
  end: Date;
}

const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function isPeriodId(s: string): boolean {
  return PERIOD.test(s);
}

/** The month `id` (YYYY-MM) in `timeZone`. */
export function periodOf(id: string, timeZone: string): BillingPeriod {
  const m = PERIOD.exec(id);
  if (m === null) throw new RangeError(`billing: period must be YYYY-MM, got ${id}`);
  const year = Number(m[1]);
  const month = Number(m[2]) - 1;
  // Mid-month instants are inside the month in every zone (offsets are at most ±14 h).
  const inside = Date.UTC(year, month, 15);
  const before = Date.UTC(year, month - 1, 15);
  return {
    id,
    start: new Date(calendarWindow(before, timeZone, 'month').resetAt),
    end: new Date(calendarWindow(inside, timeZone, 'month').resetAt),
  };
}

/** The period containing `at` in `timeZone`. */
export function periodAt(at: Date, timeZone: string): BillingPeriod {
  return periodOf(calendarWindow(at.getTime(), timeZone, 'month').id, timeZone);
}

/** The period before `p`. */
export function previousPeriod(p: BillingPeriod, timeZone: string): BillingPeriod {
  return periodAt(new Date(p.start.getTime() - 1), timeZone);
}

/**
 * Whether `period` can be billed to a tenant created at `createdAt`: only a month that had not
 * ended when the tenant was created. A tenant created during a month is billed for that month
 * (the first month is not prorated by the creation date); a month that ended before the tenant
 * existed is never its own. The one rule for every way of closing a period (the job, the admin
 * API, the CLI, one tenant or all).
 */
export function existedIn(period: BillingPeriod, createdAt: Date): boolean {
  return createdAt.getTime() < period.end.getTime();
}
