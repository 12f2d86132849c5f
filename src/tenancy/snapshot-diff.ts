/**
 * A full reload as a patch: what was read in full is compared, tenant by tenant, with the
 * snapshot it replaces, and only tenants that differ are patched in (snapshot-build.ts). A whole
 * build of 100,000 keys allocated ~100 MB of new indexes and entries that V8 kept as resident
 * memory long after (bench/README.md, "Snapshot memory"); unchanged tenants now cost nothing
 * but their reading. The result is the snapshot a whole build would give (tested).
 */
import type { TenantLimitSource } from '../limits/compose.js';
import type { TenantModelsRecord } from '../routing/tenant-deployments.js';
import { keysDigestOf } from './key-records.js';
import type { TenantChange } from './snapshot-build.js';
import type { Snapshot, TenantEntry } from './snapshot.js';
import type { ApiKeyRecord, JwtIssuer, Tenant } from './types.js';

/** Everything a full reload read, keys already made lean against `previous` (key-records.ts). */
export interface FullRead {
  tenants: readonly Tenant[];
  keysOf: ReadonlyMap<string, readonly ApiKeyRecord[]>;
  issuers: readonly JwtIssuer[];
  limitSources: readonly TenantLimitSource[];
  /** undefined: not read (no reader); the snapshot's catalogues stay. */
  tenantModels?: readonly TenantModelsRecord[] | undefined;
  /**
   * The database's digests of every tenant's keys, read with them; a tenant whose entry holds
   * another digest (or none) is patched so that its entry carries this one.
   */
  keyDigests?: ReadonlyMap<string, string> | undefined;
}

/** How many own properties of `o` are defined, `skip` aside. */
function definedCount(o: Record<string, unknown>, skip: string | undefined): number {
  let n = 0;
  for (const k in o) if (k !== skip && Object.hasOwn(o, k) && o[k] !== undefined) n += 1;
  return n;
}

/** Plain objects with the same defined properties (`skip` aside), equal as data. */
function sameObject(a: Record<string, unknown>, b: Record<string, unknown>, skip?: string): boolean {
  let n = 0;
  for (const k in a) {
    if (k === skip || !Object.hasOwn(a, k) || a[k] === undefined) continue;
    if (!sameData(a[k], b[k])) return false;
    n += 1;
  }
  return n === definedCount(b, skip);
}

/**
 * Equal as data: what the snapshot holds was read, so it is plain data (objects, arrays,
 * primitives) and Maps and Sets (a limit source carries a Map of key rotations), compared by
 * their entries in order. Object keys in any order (records read by different queries list
 * fields in their own order); an undefined property is as good as an absent one. Structural,
 * not through JSON with sorted keys: that cost ~190 ms of one synchronous stretch for 10,000
 * tenants on every full reload.
 */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Map || a instanceof Set || b instanceof Map || b instanceof Set) {
    const sameKind = (a instanceof Map && b instanceof Map) || (a instanceof Set && b instanceof Set);
    return sameKind && sameData([...(a as Iterable<unknown>)], [...(b as Iterable<unknown>)]);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  return sameObject(a as Record<string, unknown>, b as Record<string, unknown>);
}

/** Every field but the composed limits (those follow from the limit source and the plans). */
function sameTenant(a: Tenant, b: Tenant): boolean {
  return sameObject(a as unknown as Record<string, unknown>, b as unknown as Record<string, unknown>, 'limits');
}

/** Unchanged keys are the very records of the entry (leanKey hands those back, or the entry's list when not re-read). */
function sameKeys(entry: TenantEntry, keys: readonly ApiKeyRecord[]): boolean {
  if (entry.keys === keys) return true;
  if (entry.keys.length !== keys.length) return false;
  const had = new Set(entry.keys);
  return keys.every((k) => had.has(k));
}

function groupBy<T extends { tenantId: string }>(items: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const list = out.get(item.tenantId);
    if (list) list.push(item);
    else out.set(item.tenantId, [item]);
  }
  return out;
}

/**
 * The tenants whose part of `previous` differs from what was read (new, changed or gone), as
 * changes for patchSnapshot. Tenants with dedicated models are always included when models were
 * read: their deployments hold opened credentials, not worth comparing.
 */
export function changedTenants(previous: Snapshot, read: FullRead): TenantChange[] {
  const issuersOf = groupBy(read.issuers);
  const sources = new Map(read.limitSources.map((s) => [s.tenantId, s]));
  const models = read.tenantModels === undefined ? undefined : new Map(read.tenantModels.map((m) => [m.tenantId, m]));
  const changes: TenantChange[] = [];
  const seen = new Set<string>();
  for (const tenant of read.tenants) {
    seen.add(tenant.id);
    const keys = read.keysOf.get(tenant.id) ?? [];
    const issuers = issuersOf.get(tenant.id) ?? [];
    const limitSource = sources.get(tenant.id) ?? null;
    const own = models?.get(tenant.id) ?? null;
    const keysDigest = read.keyDigests === undefined ? undefined : keysDigestOf(read.keyDigests, tenant.id);
    const entry = previous.entries.get(tenant.id);
    const same =
      entry !== undefined &&
      sameTenant(entry.tenant, tenant) &&
      sameKeys(entry, keys) &&
      entry.keysDigest === keysDigest &&
      sameData(entry.issuers, issuers) &&
      sameData(entry.limitSource ?? null, limitSource) &&
      (models === undefined || (own === null && !previous.tenantCatalogues.has(tenant.id)));
    if (same) continue;
    changes.push({
      tenantId: tenant.id,
      tenant,
      keys,
      issuers,
      limitSource,
      ...(models === undefined ? {} : { models: own }),
      ...(keysDigest === undefined ? {} : { keysDigest }),
    });
  }
  for (const id of previous.entries.keys()) {
    if (!seen.has(id)) changes.push({ tenantId: id, tenant: null, keys: [], issuers: [], limitSource: null, models: null });
  }
  return changes;
}
