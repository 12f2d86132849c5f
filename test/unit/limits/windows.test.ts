/**
 * Calendar windows in the tenant's time zone: the local date/month an instant falls in and the
 * epoch of the next reset, across DST transitions, odd offsets, month and year ends, leap days.
 * Expected instants are written as ISO strings with their local offset, checked by hand.
 */
import { describe, expect, it } from 'vitest';
import { calendarWindow, isValidTimeZone, rateWindowMs } from '../../../src/limits/windows.js';

const at = (iso: string): number => {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw new Error(`bad instant ${iso}`);
  return t;
};

function day(iso: string, zone: string): { id: string; resetAt: string } {
  const w = calendarWindow(at(iso), zone, 'day');
  return { id: w.id, resetAt: new Date(w.resetAt).toISOString() };
}

function month(iso: string, zone: string): { id: string; resetAt: string } {
  const w = calendarWindow(at(iso), zone, 'month');
  return { id: w.id, resetAt: new Date(w.resetAt).toISOString() };
}

const iso = (s: string): string => new Date(at(s)).toISOString();

describe('rateWindowMs', () => {
  it('gives the length of each rate window', () => {
    expect([rateWindowMs('second'), rateWindowMs('minute'), rateWindowMs('hour')]).toEqual([1_000, 60_000, 3_600_000]);
  });
});

describe('isValidTimeZone', () => {
  it('accepts IANA zones and UTC, refuses junk', () => {
    for (const z of ['Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'UTC']) expect(isValidTimeZone(z)).toBe(true);
    for (const z of ['', 'Mars/Olympus', 'Europe/Berlin ', 'not a zone', 'x'.repeat(100)]) expect(isValidTimeZone(z)).toBe(false);
  });

  it('makes calendarWindow throw for an unknown zone', () => {
    expect(() => calendarWindow(Date.now(), 'Mars/Olympus', 'day')).toThrow(RangeError);
  });
});

describe('calendarWindow: day', () => {
  it('resets at local midnight in UTC and in a fixed-offset zone', () => {
    expect(day('2026-11-23T23:59:59.999Z', 'UTC')).toEqual({ id: '2026-11-23', resetAt: '2026-11-24T00:00:00.000Z' });
    expect(day('2026-11-24T00:00:00.000Z', 'UTC')).toEqual({ id: '2026-11-24', resetAt: '2026-11-25T00:00:00.000Z' });
  });

  it('handles a +05:45 zone (Asia/Kathmandu) to the second', () => {
    // 23:59:59 local is 18:14:59Z; local midnight is 18:15Z.
    expect(day('2026-11-23T18:14:59Z', 'Asia/Kathmandu')).toEqual({ id: '2026-11-23', resetAt: '2026-11-23T18:15:00.000Z' });
    expect(day('2026-11-23T18:15:00Z', 'Asia/Kathmandu')).toEqual({ id: '2026-11-24', resetAt: '2026-11-24T18:15:00.000Z' });
  });

  it('gives Europe/Berlin a 23-hour day when clocks go forward and a 25-hour day when they go back', () => {
    const spring = calendarWindow(at('2026-03-29T12:00:00+02:00'), 'Europe/Berlin', 'day');
    expect(spring.id).toBe('2026-03-29');
    expect(spring.resetAt).toBe(at('2026-03-30T00:00:00+02:00'));
    expect(spring.resetAt - at('2026-03-29T00:00:00+01:00')).toBe(23 * 3_600_000);

    const autumn = calendarWindow(at('2026-10-25T12:00:00+01:00'), 'Europe/Berlin', 'day');
    expect(autumn.id).toBe('2026-10-25');
    expect(autumn.resetAt).toBe(at('2026-10-26T00:00:00+01:00'));
    expect(autumn.resetAt - at('2026-10-25T00:00:00+02:00')).toBe(25 * 3_600_000);
    // The day before the change still ends at a CEST midnight.
    expect(day('2026-10-24T23:30:00+02:00', 'Europe/Berlin')).toEqual({ id: '2026-10-24', resetAt: iso('2026-10-25T00:00:00+02:00') });
  });

  it('handles America/New_York across both transitions, including the hours just before them', () => {
    expect(day('2026-03-08T01:59:59-05:00', 'America/New_York')).toEqual({ id: '2026-03-08', resetAt: iso('2026-03-09T00:00:00-04:00') });
    expect(day('2026-03-07T23:59:59-05:00', 'America/New_York')).toEqual({ id: '2026-03-07', resetAt: iso('2026-03-08T00:00:00-05:00') });
    // 01:30 happens twice on 2026-11-01; both belong to the same day.
    expect(day('2026-11-01T01:30:00-04:00', 'America/New_York')).toEqual({ id: '2026-11-01', resetAt: iso('2026-11-02T00:00:00-05:00') });
    expect(day('2026-11-01T01:30:00-05:00', 'America/New_York')).toEqual({ id: '2026-11-01', resetAt: iso('2026-11-02T00:00:00-05:00') });
  });

  it('resets at the first instant of the day where clocks skip midnight (America/Santiago)', () => {
    // On 2026-09-06 Chile moves from 00:00 -04:00 straight to 01:00 -03:00: there is no midnight.
    expect(day('2026-09-05T22:00:00-04:00', 'America/Santiago')).toEqual({ id: '2026-09-05', resetAt: '2026-09-06T04:00:00.000Z' });
    expect(day('2026-09-06T01:00:00-03:00', 'America/Santiago')).toEqual({ id: '2026-09-06', resetAt: iso('2026-09-07T00:00:00-03:00') });
  });

  it('rolls over month ends, year ends and leap days', () => {
    expect(day('2026-01-31T12:00:00Z', 'UTC')).toEqual({ id: '2026-01-31', resetAt: '2026-02-01T00:00:00.000Z' });
    expect(day('2026-12-31T23:00:00+01:00', 'Europe/Berlin')).toEqual({ id: '2026-12-31', resetAt: iso('2027-01-01T00:00:00+01:00') });
    expect(day('2028-02-28T23:00:00+05:45', 'Asia/Kathmandu')).toEqual({ id: '2028-02-28', resetAt: iso('2028-02-29T00:00:00+05:45') });
    expect(day('2028-02-29T10:00:00-05:00', 'America/New_York')).toEqual({ id: '2028-02-29', resetAt: iso('2028-03-01T00:00:00-05:00') });
    expect(day('2027-02-28T10:00:00Z', 'UTC')).toEqual({ id: '2027-02-28', resetAt: '2027-03-01T00:00:00.000Z' });
  });

  it('names the local date, not the UTC one', () => {
    // 2026-11-23T23:30Z is already the 24th in Berlin and Kathmandu, still the 23rd in New York.
    const t = '2026-11-23T23:30:00Z';
    expect(day(t, 'Europe/Berlin').id).toBe('2026-11-24');
    expect(day(t, 'Asia/Kathmandu').id).toBe('2026-11-24');
    expect(day(t, 'America/New_York').id).toBe('2026-11-23');
  });
});

describe('calendarWindow: month', () => {
  it('resets on the first of the next month at local midnight', () => {
    expect(month('2026-11-23T12:00:00Z', 'UTC')).toEqual({ id: '2026-11', resetAt: '2026-12-01T00:00:00.000Z' });
    expect(month('2026-12-31T23:59:59+01:00', 'Europe/Berlin')).toEqual({ id: '2026-12', resetAt: iso('2027-01-01T00:00:00+01:00') });
    expect(month('2026-11-30T18:14:59Z', 'Asia/Kathmandu')).toEqual({ id: '2026-11', resetAt: '2026-11-30T18:15:00.000Z' });
  });

  it('spans a DST change inside the month (March in Berlin is 31 days minus one hour)', () => {
    const m = calendarWindow(at('2026-03-15T12:00:00+01:00'), 'Europe/Berlin', 'month');
    expect(m.id).toBe('2026-03');
    expect(m.resetAt).toBe(at('2026-04-01T00:00:00+02:00'));
    expect(m.resetAt - at('2026-03-01T00:00:00+01:00')).toBe(31 * 86_400_000 - 3_600_000);
  });

  it('handles February in leap and common years', () => {
    expect(month('2028-02-29T23:59:59-05:00', 'America/New_York')).toEqual({ id: '2028-02', resetAt: iso('2028-03-01T00:00:00-05:00') });
    expect(month('2027-02-28T23:59:59-05:00', 'America/New_York')).toEqual({ id: '2027-02', resetAt: iso('2027-03-01T00:00:00-05:00') });
  });
});

describe('calendarWindow cache', () => {
  it('returns the same period until the reset, then the next one, and copes with time going back', () => {
    const zone = 'Asia/Kathmandu';
    const a = calendarWindow(at('2026-05-10T10:00:00Z'), zone, 'day');
    const b = calendarWindow(at('2026-05-10T18:14:59.999Z'), zone, 'day');
    expect(b).toBe(a);
    const c = calendarWindow(at('2026-05-10T18:15:00Z'), zone, 'day');
    expect(c.id).toBe('2026-05-11');
    // An earlier instant (another caller's clock) is computed, not served from the cache.
    expect(calendarWindow(at('2026-05-09T12:00:00Z'), zone, 'day').id).toBe('2026-05-09');
    // Day and month caches do not mix.
    expect(calendarWindow(at('2026-05-10T10:00:00Z'), zone, 'month').id).toBe('2026-05');
  });

  it('answers from the cache in well under a microsecond', () => {
    const t0 = at('2026-07-01T08:00:00Z');
    calendarWindow(t0, 'Europe/Berlin', 'day');
    const n = 200_000;
    const start = process.hrtime.bigint();
    let sink = 0;
    for (let i = 0; i < n; i++) sink += calendarWindow(t0 + i, 'Europe/Berlin', 'day').resetAt & 1;
    const ns = Number(process.hrtime.bigint() - start) / n;
    expect(sink).toBeGreaterThanOrEqual(0);
    expect(ns).toBeLessThan(1_000);
  });
});
