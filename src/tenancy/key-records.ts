/**
 * API-key records as the snapshot holds them, and what decides which keys it holds. At 100,000
 * keys every byte per record counts (DESIGN §9: ≤ 300 MB resident): records carry only what the
 * request path reads, repeated values (scopes, model lists, team ids) are shared between records
 * instead of one copy per row, and a reload hands back the previous record itself when nothing
 * in it changed, so a full reload allocates only for what is new (bench/README.md, "Snapshot
 * memory").
 */
import { BlockList, isIPv4 } from 'node:net';
import type { ApiKeyRecord } from './types.js';

/** How long a revoked key stays known to the snapshot for auditing its use. */
export const REVOKED_KEPT_MS = 30 * 86_400_000;

/** A revoked key the snapshot still keeps (for auditing, see Snapshot.revokedByPrefix). */
export function revokedKept(k: ApiKeyRecord, now: number): boolean {
  return k.revoked && typeof k.revokedAtMs === 'number' && now - k.revokedAtMs < REVOKED_KEPT_MS;
}

/** A compiled allow-list; entries were validated by the admin API and the database's cidr type. */
export function compileCidrs(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits] = cidr.split('/');
    if (net === undefined) continue;
    const family = isIPv4(net) ? 'ipv4' : 'ipv6';
    list.addSubnet(net, Number(bits ?? (family === 'ipv4' ? 32 : 128)), family);
  }
  return list;
}

/** True when `address` (a socket's remoteAddress) lies in the list; IPv4-mapped IPv6 counts as IPv4. */
export function addressAllowed(list: BlockList, address: string): boolean {
  const v4 = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : undefined;
  if (v4 !== undefined) return list.check(v4, 'ipv4');
  return isIPv4(address) ? list.check(address, 'ipv4') : list.check(address, 'ipv6');
}

/**
 * The digest of a tenant's keys from the database's digests (apiKeysRepo.snapshotDigests): a
 * tenant without keys has none there, and this stands for "no keys".
 */
export function keysDigestOf(digests: ReadonlyMap<string, string>, tenantId: string): string {
  return digests.get(tenantId) ?? '';
}

/**
 * Shared copies of small values many keys repeat. Bounded: past the limit new values are kept
 * as they are (correct, only not shared), so odd data cannot grow it without end. Lives for the
 * process, so records made by a full reload and by later tenant patches share the same copies.
 */
const INTERN_LIMIT = 16_384;
const arrays = new Map<string, readonly string[]>();
const strings = new Map<string, string>();

function internArray<T extends string>(values: readonly T[]): readonly T[];
function internArray<T extends string>(values: readonly T[] | null): readonly T[] | null;
function internArray<T extends string>(values: readonly T[] | null | undefined): readonly T[] | null | undefined;
function internArray<T extends string>(values: readonly T[] | null | undefined): readonly T[] | null | undefined {
  if (values === null || values === undefined) return values;
  // U+0000 cannot occur in a PostgreSQL text value, so the joined form is unambiguous.
  const key = values.join('\u0000') + (values.length === 0 ? '' : '\u0000');
  const have = arrays.get(key);
  if (have !== undefined) return have as readonly T[];
  const frozen = Object.freeze([...values]);
  if (arrays.size < INTERN_LIMIT) arrays.set(key, frozen);
  return frozen;
}

function internString(value: string | null): string | null {
  if (value === null) return null;
  const have = strings.get(value);
  if (have !== undefined) return have;
  if (strings.size < INTERN_LIMIT) strings.set(value, value);
  return value;
}

function sameList(a: readonly string[] | null | undefined, b: readonly string[] | null | undefined): boolean {
  if (a === b) return true;
  if (a === null || a === undefined || b === null || b === undefined) return (a ?? null) === (b ?? null);
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Everything the request path reads from a key is equal (the id is compared by the caller). */
function sameKey(a: ApiKeyRecord, b: ApiKeyRecord): boolean {
  return (
    a.tenantId === b.tenantId &&
    a.teamId === b.teamId &&
    a.prefix === b.prefix &&
    a.expiresAt === b.expiresAt &&
    a.revoked === b.revoked &&
    (a.revokedAtMs ?? null) === (b.revokedAtMs ?? null) &&
    a.hash.equals(b.hash) &&
    sameList(a.scopes, b.scopes) &&
    sameList(a.allowedModels, b.allowedModels) &&
    sameList(a.allowedCidrs, b.allowedCidrs)
  );
}

/**
 * Where kept hashes are copied to: chunks of their own holding nothing but hashes. A hash left
 * where the driver decoded it (or copied into Node's shared 8 KB buffer pool) is a 32-byte slice
 * that keeps its whole 8 KB pool chunk alive, shared with the row's other, dead, allocations:
 * measured, 15.6 MB of external memory for 100,000 hashes instead of ~3. Chunks start small
 * (a patch copies a handful) and grow to 8 KB (256 hashes) for a full reload.
 */
export class HashSlab {
  private chunk: Buffer = Buffer.alloc(0);
  private used = 0;
  private next = 8;

  copy(hash: Uint8Array): Buffer {
    const n = hash.byteLength;
    if (this.used + n > this.chunk.byteLength) {
      this.chunk = Buffer.allocUnsafeSlow(Math.max(n, this.next * 32));
      this.used = 0;
      this.next = Math.min(256, this.next * 2);
    }
    const out = this.chunk.subarray(this.used, this.used + n);
    out.set(hash);
    this.used += n;
    return out;
  }
}

/**
 * The record to keep for a key just read: `previous` itself when nothing changed, else a new
 * record with its repeated values shared, its tenant id the given (the tenant record's own
 * string, shared by all its keys) and its hash copied into `slab`, so the record never keeps a
 * driver's result buffer alive.
 */
export function leanKey(read: ApiKeyRecord, previous: ApiKeyRecord | undefined, slab: HashSlab, tenantId: string = read.tenantId): ApiKeyRecord {
  if (previous !== undefined && previous.id === read.id && sameKey(previous, read)) return previous;
  return {
    id: read.id,
    tenantId,
    teamId: internString(read.teamId),
    prefix: read.prefix,
    hash: slab.copy(read.hash),
    scopes: internArray(read.scopes),
    allowedModels: internArray(read.allowedModels),
    expiresAt: read.expiresAt,
    revoked: read.revoked,
    revokedAtMs: read.revokedAtMs ?? null,
    allowedCidrs: internArray(read.allowedCidrs ?? null),
  };
}

/**
 * Finds a tenant's previous records by id, for leanKey. Keys arrive grouped by tenant (a full
 * reload reads them ordered by tenant), so one tenant's index exists at a time.
 */
export function previousKeys(keysOf: (tenantId: string) => readonly ApiKeyRecord[] | undefined): (read: ApiKeyRecord) => ApiKeyRecord | undefined {
  let tenant: string | undefined;
  let byId = new Map<string, ApiKeyRecord>();
  return (read) => {
    if (read.tenantId !== tenant) {
      tenant = read.tenantId;
      byId = new Map((keysOf(tenant) ?? []).map((k) => [k.id, k]));
    }
    return byId.get(read.id);
  };
}
