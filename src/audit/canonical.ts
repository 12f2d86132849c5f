/**
 * Canonical serialisation and the chain hash.
 *
 * hash = SHA-256(prev_hash || UTF-8(canonical(entry))). Canonical JSON follows RFC 8785 (JCS)
 * where it matters here: object keys sorted by UTF-16 code units, no whitespace, strings and
 * numbers as ECMAScript JSON.stringify writes them. That makes the bytes independent of the
 * key order jsonb returns (jsonb reorders keys) and of the driver, so a row read back from
 * either store hashes to what the writer hashed.
 */
import { createHash } from 'node:crypto';
import type { AuditRecord } from '../store/index.js';

export const HASH_BYTES = 32;
/** prev_hash of a tenant's first entry, and the hash of the genesis checkpoint. */
export const GENESIS_HASH: Buffer = Buffer.alloc(HASH_BYTES);

/** Versions whose canonical form this code knows; verification fails closed on any other. */
export const KNOWN_VERSIONS: ReadonlySet<number> = new Set([1]);

export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      // JSON.stringify would write NaN/Infinity as null: a silent change of the hashed value.
      if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        // Default sort compares UTF-16 code units, as JCS requires.
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`canonicalJson: ${typeof value} is not JSON`);
  }
}

/** The fields a version-1 hash covers: everything except the hashes themselves. */
export type HashedFields = Omit<AuditRecord, 'hash'>;

/**
 * Canonical bytes of an entry under its own version's rules; undefined for an unknown version.
 * tenant_id and seq are inside the hash, so a row copied to another tenant or position fails.
 */
export function canonicalEntry(r: HashedFields): string | undefined {
  if (r.version !== 1) return undefined;
  return canonicalJson({
    v: 1,
    tenant_id: r.tenantId,
    seq: r.seq,
    id: r.id,
    at: r.at.toISOString(),
    actor_kind: r.actorKind,
    actor_id: r.actorId,
    action: r.action,
    target_kind: r.targetKind,
    target_id: r.targetId,
    outcome: r.outcome,
    source_ip: r.sourceIp,
    request_id: r.requestId,
    before: r.before ?? null,
    after: r.after ?? null,
  });
}

/** SHA-256(prev_hash || canonical); undefined for an unknown version. */
export function entryHash(r: HashedFields): Buffer | undefined {
  const canonical = canonicalEntry(r);
  if (canonical === undefined) return undefined;
  return createHash('sha256').update(r.prevHash).update(canonical, 'utf8').digest();
}
