/**
 * Window arithmetic for limits (DESIGN §4): rate windows are fixed lengths; day and month quotas
 * are calendar windows in the tenant's IANA time zone, resetting at local midnight / the first of
 * the month. Intl only (no time-zone dependency). Admission asks for the window on every request,
 * so the answer is cached per (zone, window) until it resets: the hot path is one Map lookup.
 */

export type RateWindow = 'second' | 'minute' | 'hour';
export type CalendarWindow = 'day' | 'month';

export interface CalendarPeriod {
  /** The local date ('2026-11-23') or month ('2026-11') the instant falls in. */
  readonly id: string;
  /** Epoch ms of the first instant of the next day / month in that zone. */
  readonly resetAt: number;
}

const RATE_MS: Readonly<Record<RateWindow, number>> = { second: 1_000, minute: 60_000, hour: 3_600_000 };

export function rateWindowMs(window: RateWindow): number {
  return RATE_MS[window];
}

/** Formatters are costly to build (~20 µs); zones are few. Bounded in case of junk input. */
const MAX_ZONES = 1_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (f === undefined) {
    // Throws a RangeError for an unknown zone, before anything is cached.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    if (formatters.size >= MAX_ZONES) formatters.clear();
    formatters.set(timeZone, f);
  }
  return f;
}

export function isValidTimeZone(timeZone: string): boolean {
  if (typeof timeZone !== 'string' || timeZone.length === 0 || timeZone.length > 64) return false;
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

interface Wall {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  /** The wall-clock time read as if it were UTC, to whole seconds. */
  asUtc: number;
}

function wall(f: Intl.DateTimeFormat, t: number): Wall {
  let year = 0;
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const p of f.formatToParts(t)) {
    switch (p.type) {
      case 'year':
        year = Number(p.value);
        break;
      case 'month':
        month = Number(p.value);
        break;
      case 'day':
        day = Number(p.value);
        break;
      case 'hour':
        hour = Number(p.value);
        break;
      case 'minute':
        minute = Number(p.value);
        break;
      case 'second':
        second = Number(p.value);
        break;
      default:
        break;
    }
  }
  return { year, month, day, asUtc: Date.UTC(year, month - 1, day, hour, minute, second) };
}

/** Zone offset at instant t (wall time minus UTC), in ms. */
function offsetAt(f: Intl.DateTimeFormat, t: number): number {
  const whole = Math.floor(t / 1000) * 1000;
  return wall(f, whole).asUtc - whole;
}

/**
 * The first instant whose local wall time is at or after `target` (a wall time read as UTC).
 * Offsets a day either side give the two candidate instants (they differ only around a
 * transition). In a fold the earlier one wins; in a gap (a zone whose clocks skip midnight,
 * e.g. America/Santiago) neither maps back, and the answer is the transition itself, found by
 * bisection between them (rare: once per gap, then cached).
 */
function firstInstantAtOrAfter(f: Intl.DateTimeFormat, target: number): number {
  const before = target - offsetAt(f, target - 86_400_000);
  const after = target - offsetAt(f, target + 86_400_000);
  const lo = Math.min(before, after);
  const hi = Math.max(before, after);
  if (wall(f, lo).asUtc === target) return lo;
  if (wall(f, hi).asUtc === target) return hi;
  // Gap: wall(lo) < target, wall(hi) > target. Narrow to the first whole second past target.
  let a = lo;
  let b = hi;
  while (b - a > 1000) {
    const mid = Math.floor((a + b) / 2000) * 1000;
    if (mid <= a || mid >= b) break;
    if (wall(f, mid).asUtc >= target) b = mid;
    else a = mid;
  }
  return b;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function pad4(n: number): string {
  return n >= 1000 ? String(n) : String(n).padStart(4, '0');
}

function compute(f: Intl.DateTimeFormat, nowMs: number, window: CalendarWindow): CalendarPeriod {
  const w = wall(f, nowMs);
  if (window === 'day') {
    // Date.UTC normalizes day + 1 across month and year ends (and leap days).
    const next = Date.UTC(w.year, w.month - 1, w.day + 1);
    return { id: `${pad4(w.year)}-${pad2(w.month)}-${pad2(w.day)}`, resetAt: firstInstantAtOrAfter(f, next) };
  }
  const next = Date.UTC(w.year, w.month, 1);
  return { id: `${pad4(w.year)}-${pad2(w.month)}`, resetAt: firstInstantAtOrAfter(f, next) };
}

interface Cached {
  from: number;
  period: CalendarPeriod;
}

const dayCache = new Map<string, Cached>();
const monthCache = new Map<string, Cached>();

/**
 * The calendar day or month containing `nowMs` in `timeZone`. Throws a RangeError for an unknown
 * zone (validate with isValidTimeZone at the edge). The returned object is shared: do not mutate.
 */
export function calendarWindow(nowMs: number, timeZone: string, window: CalendarWindow): CalendarPeriod {
  const cache = window === 'day' ? dayCache : monthCache;
  const hit = cache.get(timeZone);
  // Every instant between the one computed for and the reset lies in the same period.
  if (hit !== undefined && nowMs >= hit.from && nowMs < hit.period.resetAt) return hit.period;
  const period = Object.freeze(compute(formatter(timeZone), nowMs, window));
  if (cache.size >= MAX_ZONES) cache.clear();
  cache.set(timeZone, { from: nowMs, period });
  return period;
}

/**
 * The first instant of the calendar day or month containing `nowMs` in `timeZone` (local midnight,
 * or the transition itself in a zone whose clocks skip midnight). Not cached: for background jobs
 * (budget alerts, forecasts), not the hot path.
 */
export function calendarWindowStart(nowMs: number, timeZone: string, window: CalendarWindow): number {
  const f = formatter(timeZone);
  const w = wall(f, nowMs);
  return firstInstantAtOrAfter(f, window === 'day' ? Date.UTC(w.year, w.month - 1, w.day) : Date.UTC(w.year, w.month - 1, 1));
}
