/** Column value conversions shared by the repositories (both drivers return the same types). */
import type { Scope } from '../../tenancy/types.js';
import { SCOPES } from '../../tenancy/types.js';

export function toBuffer(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError('expected a bytea value');
}

export function toEpochMs(d: Date | null): number | null {
  return d === null ? null : d.getTime();
}

const KNOWN_SCOPES: ReadonlySet<string> = new Set(SCOPES);

function isScope(s: string): s is Scope {
  return KNOWN_SCOPES.has(s);
}

/**
 * Scopes read back from the database. An unknown scope (written by a newer version) is dropped:
 * a key then has fewer permissions, never more.
 */
export function toScopes(values: readonly string[]): Scope[] {
  return values.filter(isScope);
}

/** Scopes about to be written: unknown ones are a caller bug. */
export function checkScopes(values: readonly string[]): Scope[] {
  const unknown = values.filter((s) => !isScope(s));
  if (unknown.length > 0) throw new RangeError(`unknown scope(s): ${unknown.join(', ')}`);
  return values.filter(isScope);
}

/** The single row a statement with RETURNING must produce. */
export function onlyRow<T>(rows: readonly T[]): T {
  const row = rows[0];
  if (row === undefined) throw new Error('expected the statement to return a row');
  return row;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Ids arrive from clients; a malformed one must read as "not found" (the same 404 as someone
 * else's id), not as a database cast error.
 */
export function isUuid(s: string): boolean {
  return UUID.test(s);
}
