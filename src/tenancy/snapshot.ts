/**
 * The in-memory snapshot the hot path reads: tenants, keys and the model catalogue. Never
 * mutated: a change makes a new snapshot (built whole by snapshot-build.ts, or patched per
 * tenant sharing everything else), swapped in at once, so a request sees one consistent version.
 */
import type { BlockList } from 'node:net';
import type { Deployment, OutboundGuard } from '../providers/types.js';
import type { TrustedIssuer } from '../identity/jwt.js';
import type { PlanLimits, TenantLimitSource } from '../limits/compose.js';
import { namesFor, type TenantCatalogue, type TenantModelsRecord } from '../routing/tenant-deployments.js';
import type { CowMap } from './cow-map.js';
import type { ApiKeyRecord, JwtIssuer, Tenant } from './types.js';

export { addressAllowed, compileCidrs, REVOKED_KEPT_MS, revokedKept } from './key-records.js';
export { buildSnapshot } from './snapshot-build.js';

/**
 * One tenant's part of the snapshot as it was read: what patching it (snapshot-build.ts) must
 * take out of the indexes again. Not for the request path.
 */
export interface TenantEntry {
  /** The record in tenantsById (limits composed). */
  readonly tenant: Tenant;
  /** Its live keys and the revoked ones still kept, as indexed. */
  readonly keys: readonly ApiKeyRecord[];
  readonly issuers: readonly JwtIssuer[];
  /** Its plan and own rules; undefined when the snapshot was built without limit records. */
  readonly limitSource: TenantLimitSource | undefined;
  /**
   * The database's digest of its keys (apiKeysRepo.snapshotDigests) read with `keys` in one
   * transaction by a full load; undefined when unknown (a tenant patch, a snapshot built without
   * digests). A full reload re-reads the keys of a tenant only when this differs from the digest
   * it reads now, or is unknown.
   */
  readonly keysDigest: string | undefined;
}

/**
 * The large indexes are copy-on-write maps (cow-map.ts), read like a ReadonlyMap: a tenant's
 * change copies only the few shards it touches, never 100,000 entries.
 */
export interface Snapshot {
  readonly version: number;
  readonly tenantsById: CowMap<Tenant>;
  readonly tenantsBySlug: CowMap<Tenant>;
  readonly tenantsByDomain: CowMap<Tenant>;
  /** Keys share a prefix only when declared in foreign formats; usually one entry. */
  readonly keysByPrefix: CowMap<readonly ApiKeyRecord[]>;
  /** Public model name → deployments serving it, in declaration order (the platform's, from YAML). */
  readonly deploymentsByModel: ReadonlyMap<string, readonly Deployment[]>;
  /**
   * Tenant id → that tenant's dedicated deployments and aliases; only tenants that have some.
   * Read it through src/routing/tenant-deployments.ts (deploymentsFor), never directly.
   */
  readonly tenantCatalogues: ReadonlyMap<string, TenantCatalogue>;
  /** JWT `iss` → the tenants' registrations of that issuer (several tenants may share an IdP). */
  readonly issuersByIss: ReadonlyMap<string, readonly TrustedIssuer[]>;
  /** Key id → its IP allow-list, compiled; keys without a list are absent. */
  readonly cidrsByKey: CowMap<BlockList>;
  /**
   * Keys revoked within REVOKED_KEPT_MS, by prefix. Never used to authenticate: only to name the
   * tenant and key when a revoked key is presented, for its audit log (a leaked key still in use).
   */
  readonly revokedByPrefix: CowMap<readonly ApiKeyRecord[]>;
  /** Tenant id → what its part was built from, for patching; not for the request path. */
  readonly entries: CowMap<TenantEntry>;
  /** The plan catalogue the tenants' limits were composed with. */
  readonly plans: ReadonlyMap<string, PlanLimits>;
  /**
   * The connect-time outbound guard the JWKS fetches of tenant-registered issuers go through
   * (owner 'tenant'); a patch keeps its snapshot's. Configuration, like the deployments.
   */
  readonly jwksGuard: OutboundGuard;
}

export interface SnapshotInput {
  tenants: readonly Tenant[];
  /** Indexed as given: loaders hand over lean records (key-records.ts). */
  keys: readonly ApiKeyRecord[];
  deployments: readonly Deployment[];
  issuers?: readonly JwtIssuer[];
  /** The plan catalogue. Kept apart from tenants, so a plan change re-reads only this. */
  plans?: readonly PlanLimits[];
  /** Each tenant's plan, budget action, time zone and own rules; tenants.limits is built from them. */
  limitSources?: readonly TenantLimitSource[];
  /** Tenants' dedicated deployments (credentials opened) and aliases. */
  tenantModels?: readonly TenantModelsRecord[];
  /**
   * Tenant id → digest of its keys, read in the same transaction as `keys` (a tenant without
   * keys is absent); kept in each tenant's entry for the next full reload (snapshot-load.ts).
   */
  keyDigests?: ReadonlyMap<string, string>;
  /** For the revoked keys' retention; Date.now by default. */
  now?: number;
  /**
   * The outbound guard (the operator's `security.outbound` rules) for the JWKS of issuers tenants
   * registered. Absent: the rules without exceptions (tests, tools), never no guard.
   */
  jwksGuard?: OutboundGuard;
}

/** Holds the current snapshot; stages read `registry.current` once per request. */
export interface Registry {
  readonly current: Snapshot;
  replace(next: Snapshot): void;
}

export function createRegistry(initial: Snapshot): Registry {
  let current = initial;
  return {
    get current() {
      return current;
    },
    replace(next) {
      current = next;
    },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Resolves a tenant reference as clients write it: a UUID is an id, anything else a slug. Never
 * both, so a slug shaped like another tenant's id cannot capture claims made with that id.
 */
export function findTenant(snapshot: Snapshot, ref: string): Tenant | undefined {
  return UUID.test(ref) ? snapshot.tenantsById.get(ref.toLowerCase()) : snapshot.tenantsBySlug.get(ref);
}

/**
 * Names a tenant (and optionally a key) may use, each with the deployment that represents it:
 * the platform catalogue in order, then the tenant's own models, then its aliases (listed when
 * their target is allowed, as the alias resolves to the target before authorization).
 */
export function visibleModels(
  snapshot: Snapshot,
  tenant: Tenant,
  keyModels: readonly string[] | null,
): [string, Deployment][] {
  const out: [string, Deployment][] = [];
  const aliases = snapshot.tenantCatalogues.get(tenant.id)?.aliases;
  for (const [name, d] of namesFor(snapshot, tenant)) {
    if (modelAllowed(tenant, keyModels, aliases?.get(name) ?? name)) out.push([name, d]);
  }
  return out;
}

export function modelAllowed(tenant: Tenant, keyModels: readonly string[] | null, model: string): boolean {
  if (tenant.allowedModels !== '*' && !tenant.allowedModels.includes(model)) return false;
  return keyModels === null || keyModels.includes(model);
}
