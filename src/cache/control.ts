/**
 * What one request asks of the response cache: the request's `Cache-Control` directives and the
 * explicit `x-gatehouse-cache: on | off` header (`off` wins over anything; `on` combines with them).
 *
 * - `no-store` / `x-gatehouse-cache: off`: neither look up nor store.
 * - `no-cache`: do not serve from the cache (revalidating is asking upstream again), but store the
 *   fresh answer.
 * - `max-age=N`: accept a cached answer no older than N seconds (`max-age=0` behaves as no-cache).
 * - `x-gatehouse-cache: on`: the client declares the request reusable, so it is cached even when
 *   the deterministic rule (key.ts) would not call it deterministic. It cannot enable the cache
 *   for a tenant that has not opted in.
 * Unknown directives are ignored (RFC 9111 §5.2); a malformed max-age is a 400, not a silent miss.
 */
import { GatewayError } from '../errors.js';

export const CACHE_HEADER = 'x-gatehouse-cache';

export interface CacheControl {
  /** Serve a cached answer if there is one. */
  lookup: boolean;
  /** Store the answer. */
  store: boolean;
  /** Oldest acceptable cached answer, seconds; undefined: the tenant's TTL decides. */
  maxAgeS: number | undefined;
  /** The client asked for caching explicitly (x-gatehouse-cache: on). */
  forced: boolean;
}

/** The common case (no header at all), shared: no allocation per request. */
export const DEFAULT_CONTROL: Readonly<CacheControl> = Object.freeze({ lookup: true, store: true, maxAgeS: undefined, forced: false });
const OFF: Readonly<CacheControl> = Object.freeze({ lookup: false, store: false, maxAgeS: undefined, forced: false });
const MAX_AGE_LIMIT_S = 10 * 365 * 24 * 3600;

function invalid(param: string, message: string): GatewayError {
  return new GatewayError('invalid_request', message, { param });
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

export function parseCacheControl(cacheControl: string | string[] | undefined, explicit: string | string[] | undefined): Readonly<CacheControl> {
  const ours = headerValue(explicit);
  let forced = false;
  if (ours !== undefined) {
    const v = ours.trim().toLowerCase();
    if (v === 'off') return OFF;
    if (v !== 'on') throw invalid(CACHE_HEADER, `The ${CACHE_HEADER} header must be "on" or "off".`);
    forced = true;
  }
  const raw = headerValue(cacheControl);
  if (raw === undefined || raw === '') return forced ? { ...DEFAULT_CONTROL, forced } : DEFAULT_CONTROL;
  let lookup = true;
  let maxAgeS: number | undefined;
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === 'no-store') return OFF;
    if (name === 'no-cache') lookup = false;
    else if (name === 'max-age') {
      const value = eq === -1 ? '' : part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      if (!/^\d{1,10}$/.test(value)) throw invalid('cache-control', 'Cache-Control max-age must be a non-negative integer number of seconds.');
      maxAgeS = Math.min(Number(value), MAX_AGE_LIMIT_S);
      if (maxAgeS === 0) lookup = false;
    }
  }
  return { lookup, store: true, maxAgeS, forced };
}
