/**
 * Making snapshots (snapshot.ts): whole, from records (the first one at start-up, tests), or by
 * patching tenants' entries into the previous snapshot (a notification naming a tenant, and a
 * full reload once compared with what it replaces: snapshot-diff.ts).
 *
 * A patch takes the tenant's old entries out of the indexes (its TenantEntry says which) and puts
 * the new ones in, through copy-on-write drafts: the snapshot requests are reading is never
 * touched, and the new one shares every index shard the change did not reach. At 100,000 keys a
 * whole build blocked the event loop ~150 ms per change; a patch costs what the tenant has.
 * Patching the tenants of a change one after another gives the same snapshot as building from
 * the database's state (test/unit/tenancy/snapshot-patch.test.ts compares them).
 */
import type { BlockList } from 'node:net';
import { trustIssuer, type TrustedIssuer } from '../identity/jwt.js';
import { composeLimits, type PlanLimits, type TenantLimitSource } from '../limits/compose.js';
import type { Deployment, OutboundGuard } from '../providers/types.js';
import { compileOutboundPolicy, outboundGuard } from '../routing/ssrf.js';
import { buildCatalogues, type TenantCatalogue, type TenantModelsRecord } from '../routing/tenant-deployments.js';
import { CowMap, type CowDraft } from './cow-map.js';
import { compileCidrs, HashSlab, keysDigestOf, leanKey, revokedKept } from './key-records.js';
import { sameData } from './snapshot-diff.js';
import type { Snapshot, SnapshotInput, TenantEntry } from './snapshot.js';
import type { ApiKeyRecord, JwtIssuer, Tenant } from './types.js';

let versions = 0;

/**
 * Verifier objects survive snapshot rebuilds while their registration is unchanged, so a remote
 * JWKS is not refetched on every configuration change. Holds the ones in use: a whole build
 * replaces it, a patch drops the registrations of the tenants it replaces (a registration names
 * its tenant, so no other tenant shares one) and adds theirs.
 */
let trusted = new Map<string, TrustedIssuer>();

/**
 * The guard a tenant's JWKS URL is fetched through (owner 'tenant': a tenant-set address, DESIGN
 * §13); none for the operator's issuers (the configuration file) or inline keys.
 */
function guardOf(issuer: JwtIssuer, guard: OutboundGuard): OutboundGuard | undefined {
  return issuer.owner === 'platform' || issuer.jwks !== null ? undefined : guard;
}

/** A verifier is reused only for the same registration fetched under the same guard. */
function trustKey(issuer: JwtIssuer, guard: OutboundGuard): string {
  const g = guardOf(issuer, guard);
  return g === undefined ? JSON.stringify(issuer) : `${g.id} ${JSON.stringify(issuer)}`;
}

function trustOne(issuer: JwtIssuer, guard: OutboundGuard, into: Map<string, TrustedIssuer>): TrustedIssuer {
  const key = trustKey(issuer, guard);
  const t = trusted.get(key) ?? trustIssuer(issuer, guardOf(issuer, guard));
  into.set(key, t);
  return t;
}

let strictGuard: OutboundGuard | undefined;

/** A snapshot built without the operator's guard still guards: the rules with no exceptions. */
function defaultJwksGuard(): OutboundGuard {
  strictGuard ??= outboundGuard(compileOutboundPolicy());
  return strictGuard;
}

function pushTo<V>(map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/**
 * The tenant with its limits composed, when there is a limit source for it. Every field named
 * (keep in step with Tenant): `{ ...tenant, limits }` gave each record a hidden class of its own
 * (V8's object-spread path, once its call site had seen a few shapes), 10,000 of them at 10,000
 * tenants: ~4 MB, and every property read of a tenant on the request path megamorphic.
 */
function withLimits(tenant: Tenant, source: TenantLimitSource | undefined, plans: ReadonlyMap<string, PlanLimits>): Tenant {
  if (source === undefined) return tenant;
  return {
    id: tenant.id,
    slug: tenant.slug,
    name: tenant.name,
    status: tenant.status,
    domains: tenant.domains,
    allowedModels: tenant.allowedModels,
    regions: tenant.regions,
    updatedAtMs: tenant.updatedAtMs,
    limits: composeLimits(source.planId === null ? undefined : plans.get(source.planId), source),
  };
}

/** The drafts of every copy-on-write index, and the operations that keep them consistent. */
class Indexes {
  readonly tenantsById: CowDraft<Tenant>;
  readonly tenantsBySlug: CowDraft<Tenant>;
  readonly tenantsByDomain: CowDraft<Tenant>;
  readonly keysByPrefix: CowDraft<readonly ApiKeyRecord[]>;
  readonly revokedByPrefix: CowDraft<readonly ApiKeyRecord[]>;
  readonly cidrsByKey: CowDraft<BlockList>;
  readonly entries: CowDraft<TenantEntry>;

  /** @param from the snapshot to patch (its maps are the drafts' base), or undefined for a build */
  constructor(from: Snapshot | undefined) {
    const edit = <V>(map: CowMap<V> | undefined): CowDraft<V> => (map ?? CowMap.empty<V>()).edit();
    this.tenantsById = edit(from?.tenantsById);
    this.tenantsBySlug = edit(from?.tenantsBySlug);
    this.tenantsByDomain = edit(from?.tenantsByDomain);
    this.keysByPrefix = edit(from?.keysByPrefix);
    this.revokedByPrefix = edit(from?.revokedByPrefix);
    this.cidrsByKey = edit(from?.cidrsByKey);
    this.entries = edit(from?.entries);
  }

  addTenant(t: Tenant): void {
    this.tenantsById.set(t.id, t);
    this.tenantsBySlug.set(t.slug, t);
    for (const d of t.domains) this.tenantsByDomain.set(d, t);
  }

  /**
   * Only entries that still point at this record: a slug or domain another tenant took over
   * (announced before this tenant's own change arrived) stays with that tenant.
   */
  removeTenant(t: Tenant): void {
    if (this.tenantsById.get(t.id) === t) this.tenantsById.delete(t.id);
    if (this.tenantsBySlug.get(t.slug) === t) this.tenantsBySlug.delete(t.slug);
    for (const d of t.domains) if (this.tenantsByDomain.get(d) === t) this.tenantsByDomain.delete(d);
  }

  /** Indexes a key; false when the snapshot does not hold it (revoked too long ago). */
  addKey(k: ApiKeyRecord, now: number): boolean {
    if (k.revoked) {
      if (!revokedKept(k, now)) return false;
      append(this.revokedByPrefix, k.prefix, k);
      return true;
    }
    if (k.allowedCidrs !== undefined && k.allowedCidrs !== null && k.allowedCidrs.length > 0) {
      this.cidrsByKey.set(k.id, compileCidrs(k.allowedCidrs));
    }
    append(this.keysByPrefix, k.prefix, k);
    return true;
  }

  removeKey(k: ApiKeyRecord): void {
    if (k.revoked) {
      remove(this.revokedByPrefix, k.prefix, k);
      return;
    }
    this.cidrsByKey.delete(k.id);
    remove(this.keysByPrefix, k.prefix, k);
  }
}

function append(draft: CowDraft<readonly ApiKeyRecord[]>, prefix: string, k: ApiKeyRecord): void {
  const list = draft.get(prefix);
  draft.set(prefix, list === undefined ? [k] : [...list, k]);
}

function remove(draft: CowDraft<readonly ApiKeyRecord[]>, prefix: string, k: ApiKeyRecord): void {
  const list = draft.get(prefix);
  if (list === undefined) return;
  const rest = list.filter((x) => x !== k);
  if (rest.length === 0) draft.delete(prefix);
  else if (rest.length !== list.length) draft.set(prefix, rest);
}

function seal(ix: Indexes, rest: Pick<Snapshot, 'deploymentsByModel' | 'tenantCatalogues' | 'issuersByIss' | 'plans' | 'jwksGuard'>): Snapshot {
  versions += 1;
  return {
    version: versions,
    tenantsById: ix.tenantsById.done(),
    tenantsBySlug: ix.tenantsBySlug.done(),
    tenantsByDomain: ix.tenantsByDomain.done(),
    keysByPrefix: ix.keysByPrefix.done(),
    revokedByPrefix: ix.revokedByPrefix.done(),
    cidrsByKey: ix.cidrsByKey.done(),
    entries: ix.entries.done(),
    ...rest,
  };
}

/** What a whole build starts from; the keys come after, in any number of batches. */
export type BuildBase = Omit<SnapshotInput, 'keys'>;

export interface SnapshotBuilder {
  /** The tenant record's own id string, when the tenant is part of this build (keys share it). */
  tenantId(id: string): string | undefined;
  /** Indexes keys (lean records); keys of tenants not in this build are left out. */
  addKeys(keys: Iterable<ApiKeyRecord>): void;
  finish(): Snapshot;
}

/**
 * Builds a snapshot whole, with keys added in batches as they are read: the first load indexes
 * each page of keys as it arrives (a few ms each) instead of holding every row until the end.
 */
export function createSnapshotBuilder(base: BuildBase): SnapshotBuilder {
  const now = base.now ?? Date.now();
  const plans = new Map((base.plans ?? []).map((p) => [p.id, p]));
  const sources = base.limitSources === undefined ? undefined : new Map(base.limitSources.map((s) => [s.tenantId, s]));
  const ix = new Indexes(undefined);
  // Each tenant's keys as indexed; a plain map, as the check for every key of a whole build.
  const keysOf = new Map<string, ApiKeyRecord[]>();
  for (const t of base.tenants) {
    const tenant = withLimits(t, sources?.get(t.id), plans);
    ix.addTenant(tenant);
    keysOf.set(tenant.id, []);
  }
  let finished = false;
  return {
    tenantId: (id) => ix.tenantsById.get(id)?.id,
    addKeys(keys) {
      if (finished) throw new Error('this snapshot was already built');
      for (const k of keys) {
        const list = keysOf.get(k.tenantId);
        if (list !== undefined && ix.addKey(k, now)) list.push(k);
      }
    },
    finish() {
      finished = true;
      const issuersOf = new Map<string, JwtIssuer[]>();
      for (const i of base.issuers ?? []) if (ix.tenantsById.has(i.tenantId)) pushTo(issuersOf, i.tenantId, i);
      for (const tenant of ix.tenantsById.values()) {
        const entry: TenantEntry = {
          tenant,
          keys: keysOf.get(tenant.id) ?? [],
          issuers: issuersOf.get(tenant.id) ?? [],
          limitSource: sources?.get(tenant.id),
          keysDigest: base.keyDigests === undefined ? undefined : keysDigestOf(base.keyDigests, tenant.id),
        };
        ix.entries.set(tenant.id, entry);
      }
      const deploymentsByModel = new Map<string, Deployment[]>();
      for (const d of base.deployments) pushTo(deploymentsByModel, d.model, d);
      const next = new Map<string, TrustedIssuer>();
      const issuersByIss = new Map<string, TrustedIssuer[]>();
      const jwksGuard = base.jwksGuard ?? defaultJwksGuard();
      for (const list of issuersOf.values()) for (const i of list) pushTo(issuersByIss, i.issuer, trustOne(i, jwksGuard, next));
      trusted = next;
      return seal(ix, {
        deploymentsByModel,
        tenantCatalogues: buildCatalogues(base.tenantModels ?? [], (id) => ix.tenantsById.has(id)),
        issuersByIss,
        plans,
        jwksGuard,
      });
    },
  };
}

export function buildSnapshot(input: SnapshotInput): Snapshot {
  const { keys, ...base } = input;
  const builder = createSnapshotBuilder(base);
  builder.addKeys(keys);
  return builder.finish();
}

/** One tenant as the database holds it now, for patchSnapshot. */
export interface TenantChange {
  tenantId: string;
  /** null: the tenant no longer exists (its rows went with it). Limits not yet composed. */
  tenant: Tenant | null;
  /** Its keys as read (made lean here, reusing the snapshot's unchanged records). */
  keys: readonly ApiKeyRecord[];
  issuers: readonly JwtIssuer[];
  /** null: none read (then the tenant is kept without composed limits, as a whole build does). */
  limitSource: TenantLimitSource | null;
  /** The tenant's plan as read with it: a plan newer than the snapshot's applies to everyone on it. */
  plan?: PlanLimits | null;
  /** Its dedicated deployments and aliases; undefined: not read, the snapshot's are kept. */
  models?: TenantModelsRecord | null;
  /**
   * The digest of `keys` when a full load read them with it (TenantEntry.keysDigest); absent
   * for a tenant read on a notification, so the next full reload re-reads its keys.
   */
  keysDigest?: string;
}

export interface SnapshotChange {
  tenants?: readonly TenantChange[];
  /** The whole plan catalogue as read now. */
  plans?: readonly PlanLimits[];
  /** For the revoked keys' retention; Date.now by default. */
  now?: number;
}


/** The plan catalogue after the change, and the ids of plans that differ from `prev`'s. */
function nextPlans(prev: Snapshot, change: SnapshotChange): { plans: ReadonlyMap<string, PlanLimits>; changed: Set<string> } {
  const plans = new Map(change.plans === undefined ? prev.plans : change.plans.map((p) => [p.id, p]));
  for (const t of change.tenants ?? []) if (t.plan !== undefined && t.plan !== null) plans.set(t.plan.id, t.plan);
  const changed = new Set<string>();
  for (const [id, p] of plans) if (!sameData(prev.plans.get(id), p)) changed.add(id);
  for (const id of prev.plans.keys()) if (!plans.has(id)) changed.add(id);
  return { plans: changed.size === 0 ? prev.plans : plans, changed };
}

/**
 * `prev` with the given tenants replaced by what the change says (or removed), and with the
 * limits of every tenant on a changed plan composed again. `prev` is not modified.
 */
export function patchSnapshot(prev: Snapshot, change: SnapshotChange): Snapshot {
  const now = change.now ?? Date.now();
  const tenants = change.tenants ?? [];
  const { plans, changed: changedPlans } = nextPlans(prev, change);
  const ix = new Indexes(prev);
  const patched = new Set(tenants.map((t) => t.tenantId));

  // Out with the old entries first, so a slug or prefix passed between two changed tenants
  // ends up with its new owner whatever the order of the changes.
  const issuersTouched = new Set<string>();
  const retired: string[] = [];
  for (const id of patched) {
    const old = prev.entries.get(id);
    if (old === undefined) continue;
    ix.removeTenant(old.tenant);
    for (const k of old.keys) ix.removeKey(k);
    for (const i of old.issuers) {
      issuersTouched.add(i.issuer);
      retired.push(trustKey(i, prev.jwksGuard));
    }
    ix.entries.delete(id);
  }

  // Tenants on a changed plan: limits composed again (the plan alone changed, nothing else).
  if (changedPlans.size > 0) {
    for (const entry of prev.entries.values()) {
      const planId = entry.limitSource?.planId;
      if (patched.has(entry.tenant.id) || planId === undefined || planId === null || !changedPlans.has(planId)) continue;
      const tenant = withLimits(entry.tenant, entry.limitSource, plans);
      ix.removeTenant(entry.tenant);
      ix.addTenant(tenant);
      ix.entries.set(tenant.id, { tenant, keys: entry.keys, issuers: entry.issuers, limitSource: entry.limitSource, keysDigest: entry.keysDigest });
    }
  }

  const slab = new HashSlab();
  let catalogues: Map<string, TenantCatalogue> | undefined;
  const added: JwtIssuer[] = [];
  for (const c of tenants) {
    if (c.models !== undefined || c.tenant === null) {
      catalogues ??= new Map(prev.tenantCatalogues);
      catalogues.delete(c.tenantId);
      if (c.tenant !== null && c.models !== undefined && c.models !== null) {
        for (const [id, cat] of buildCatalogues([c.models], () => true)) catalogues.set(id, cat);
      }
    }
    if (c.tenant === null) continue;
    const tenant = withLimits(c.tenant, c.limitSource ?? undefined, plans);
    ix.addTenant(tenant);
    const previous = new Map((prev.entries.get(c.tenantId)?.keys ?? []).map((k) => [k.id, k]));
    const keys: ApiKeyRecord[] = [];
    for (const read of c.keys) {
      if (read.revoked && !revokedKept(read, now)) continue;
      const k = leanKey(read, previous.get(read.id), slab, tenant.id);
      if (ix.addKey(k, now)) keys.push(k);
    }
    for (const i of c.issuers) issuersTouched.add(i.issuer);
    added.push(...c.issuers);
    ix.entries.set(tenant.id, { tenant, keys, issuers: c.issuers, limitSource: c.limitSource ?? undefined, keysDigest: c.keysDigest });
  }

  let issuersByIss = prev.issuersByIss;
  if (issuersTouched.size > 0) {
    const next = new Map(prev.issuersByIss);
    for (const iss of issuersTouched) {
      const kept = (prev.issuersByIss.get(iss) ?? []).filter((r) => !patched.has(r.tenantId));
      if (kept.length > 0) next.set(iss, kept);
      else next.delete(iss);
    }
    const kept = new Map<string, TrustedIssuer>();
    for (const i of added) {
      const list = next.get(i.issuer) ?? [];
      next.set(i.issuer, [...list, trustOne(i, prev.jwksGuard, kept)]);
    }
    for (const key of retired) trusted.delete(key);
    for (const [key, t] of kept) trusted.set(key, t);
    issuersByIss = next;
  }

  return seal(ix, {
    deploymentsByModel: prev.deploymentsByModel,
    tenantCatalogues: catalogues ?? prev.tenantCatalogues,
    issuersByIss,
    plans,
    jwksGuard: prev.jwksGuard,
  });
}
