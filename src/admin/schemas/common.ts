/**
 * Shared zod building blocks for admin input and output. Every body is a strict object:
 * an unknown field is an error, not silently dropped, so a typo ("expires": ...) cannot turn
 * into a key that never expires.
 */
import { z } from 'zod';
import { SCOPES } from '../../tenancy/types.js';
import { cidrProblem, hostNameProblem } from './net.js';

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export const slug = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be 1 to 63 of a-z, 0-9 and "-", not starting or ending with "-"')
  // Path references read a UUID-shaped value as an id, never a slug (src/tenancy/snapshot.ts).
  .refine((s) => !UUID_SHAPE.test(s), 'must not look like a UUID')
  .describe('Lower-case identifier: a-z, 0-9 and "-".');

export const displayName = z
  .string()
  .trim()
  .min(1)
  .max(256)
  .refine((s) => !CONTROL.test(s), 'must not contain control characters');

export const description = z
  .string()
  .max(1024)
  .refine((s) => !CONTROL.test(s.replace(/[\n\t]/g, ' ')), 'must not contain control characters');

export const uuid = z.uuid().transform((s) => s.toLowerCase());

export const hostName = z
  .string()
  .max(253)
  .transform((s) => s.toLowerCase())
  .superRefine((s, ctx) => {
    const problem = hostNameProblem(s);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `domain ${problem}` });
  })
  .describe('A DNS host name such as ai.example.com (no scheme, port or path).');

export const cidr = z
  .string()
  .superRefine((s, ctx) => {
    const problem = cidrProblem(s);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `CIDR ${problem}` });
  })
  .describe('An IPv4 or IPv6 network, e.g. 203.0.113.0/24 or 2001:db8::/32 (host bits zero).');

export const timeZone = z
  .string()
  .max(64)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone such as Europe/Berlin')
  .describe('IANA time zone; daily and monthly windows reset in it.');

export const modelName = z.string().min(1).max(256).refine((s) => !CONTROL.test(s), 'must not contain control characters');

/** A list without duplicates (a duplicate in a model or CIDR list is always a mistake). */
export function uniqueList<T extends z.ZodType<string>>(item: T, max: number) {
  return z
    .array(item)
    .max(max)
    .refine((xs) => new Set(xs).size === xs.length, 'must not contain duplicates');
}

export const scopes = uniqueList(z.enum(SCOPES), SCOPES.length).min(1);

export const region = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'must be a region id such as eu-west-1');

/** An RFC 3339 time with an explicit offset. */
export const timestamp = z.iso.datetime({ offset: true }).describe('RFC 3339 date-time with offset, e.g. 2030-01-01T00:00:00Z');

/** Output: dates as RFC 3339 strings. */
export const isoOut = z.string().describe('RFC 3339 date-time');

export function iso(d: Date): string;
export function iso(d: Date | null): string | null;
export function iso(d: Date | null): string | null {
  return d === null ? null : d.toISOString();
}

/** Query flag values as they arrive in a URL. */
export const queryBoolean = z.enum(['true', 'false']).transform((v) => v === 'true');

export const emptyQuery = z.strictObject({});
export const emptyBody = z.strictObject({});
