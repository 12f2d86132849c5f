/**
 * The in-memory snapshot the hot path reads: tenants, keys and the model catalogue. Built from
 * plain records, replaced whole (never mutated), so a request sees one consistent version.
 */
import { BlockList, isIPv4 } from 'node:net';
import type { Deployment } from '../providers/types.js';
import { trustIssuer, type TrustedIssuer } from '../identity/jwt.js';
import { composeLimits, type PlanLimits, type TenantLimitSource } from '../limits/compose.js';
import { buildCatalogues, namesFor, type TenantCatalogue, type TenantModelsRecord } from '../routing/tenant-deployments.js';
import type { ApiKeyRecord, JwtIssuer, Tenant } from './types.js';

export interface Snapshot {
  readonly version: number;
  readonly tenantsById: ReadonlyMap<string, Tenant>;
  readonly tenantsBySlug: ReadonlyMap<string, Tenant>;
  readonly tenantsByDomain: ReadonlyMap<string, Tenant>;
  /** Keys share a prefix only when declared in foreign formats; usually one entry. */
  readonly keysByPrefix: ReadonlyMap<string, readonly ApiKeyRecord[]>;
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
  readonly cidrsByKey: ReadonlyMap<string, BlockList>;
  /**
   * Keys revoked within REVOKED_KEPT_MS, by prefix. Never used to authenticate: only to name the
   * tenant and key when a revoked key is presented, for its audit log (a leaked key still in use).
   */
  readonly revokedByPrefix: ReadonlyMap<string, readonly ApiKeyRecord[]>;
}

/** How long a revoked key stays known to the snapshot for auditing its use. */
export const REVOKED_KEPT_MS = 30 * 86_400_000;

/** A revoked key the snapshot still keeps (for auditing, see revokedByPrefix). */
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

export interface SnapshotInput {
  tenants: readonly Tenant[];
  keys: readonly ApiKeyRecord[];
  deployments: readonly Deployment[];
  issuers?: readonly JwtIssuer[];
  /** The plan catalogue. Kept apart from tenants, so a plan change re-reads only this. */
  plans?: readonly PlanLimits[];
  /** Each tenant's plan, budget action, time zone and own rules; tenants.limits is built from them. */
  limitSources?: readonly TenantLimitSource[];
  /** Tenants' dedicated deployments (credentials opened) and aliases. */
  tenantModels?: readonly TenantModelsRecord[];
  /** For the revoked keys' retention; Date.now by default. */
  now?: number;
}

/** The tenants with their limits composed, when the input carries limit records. */
function withLimits(input: SnapshotInput): readonly Tenant[] {
  if (input.limitSources === undefined) return input.tenants;
  const plans = new Map((input.plans ?? []).map((p) => [p.id, p]));
  const sources = new Map(input.limitSources.map((s) => [s.tenantId, s]));
  return input.tenants.map((t) => {
    const source = sources.get(t.id);
    if (source === undefined) return t;
    return { ...t, limits: composeLimits(source.planId === null ? undefined : plans.get(source.planId), source) };
  });
}

/**
 * Verifier objects survive snapshot rebuilds while their registration is unchanged, so a remote
 * JWKS is not refetched on every configuration change. Bounded by the registrations in use.
 */
let trusted = new Map<string, TrustedIssuer>();

function trustAll(issuers: readonly JwtIssuer[]): Map<string, TrustedIssuer[]> {
  const next = new Map<string, TrustedIssuer>();
  const byIss = new Map<string, TrustedIssuer[]>();
  for (const issuer of issuers) {
    const key = JSON.stringify(issuer);
    const t = trusted.get(key) ?? trustIssuer(issuer);
    next.set(key, t);
    const list = byIss.get(issuer.issuer);
    if (list) list.push(t);
    else byIss.set(issuer.issuer, [t]);
  }
  trusted = next;
  return byIss;
}

let versions = 0;

export function buildSnapshot(input: SnapshotInput): Snapshot {
  const tenantsById = new Map<string, Tenant>();
  const tenantsBySlug = new Map<string, Tenant>();
  const tenantsByDomain = new Map<string, Tenant>();
  for (const t of withLimits(input)) {
    tenantsById.set(t.id, t);
    tenantsBySlug.set(t.slug, t);
    for (const d of t.domains) tenantsByDomain.set(d, t);
  }
  const keysByPrefix = new Map<string, ApiKeyRecord[]>();
  const cidrsByKey = new Map<string, BlockList>();
  const revokedByPrefix = new Map<string, ApiKeyRecord[]>();
  const now = input.now ?? Date.now();
  for (const k of input.keys) {
    if (!tenantsById.has(k.tenantId)) continue;
    if (k.revoked) {
      if (!revokedKept(k, now)) continue;
      const list = revokedByPrefix.get(k.prefix);
      if (list) list.push(k);
      else revokedByPrefix.set(k.prefix, [k]);
      continue;
    }
    if (k.allowedCidrs !== undefined && k.allowedCidrs !== null && k.allowedCidrs.length > 0) {
      cidrsByKey.set(k.id, compileCidrs(k.allowedCidrs));
    }
    const list = keysByPrefix.get(k.prefix);
    if (list) list.push(k);
    else keysByPrefix.set(k.prefix, [k]);
  }
  const deploymentsByModel = new Map<string, Deployment[]>();
  for (const d of input.deployments) {
    const list = deploymentsByModel.get(d.model);
    if (list) list.push(d);
    else deploymentsByModel.set(d.model, [d]);
  }
  const tenantCatalogues = buildCatalogues(input.tenantModels ?? [], (id) => tenantsById.has(id));
  const issuersByIss = trustAll((input.issuers ?? []).filter((i) => tenantsById.has(i.tenantId)));
  versions += 1;
  return {
    version: versions,
    tenantsById,
    tenantsBySlug,
    tenantsByDomain,
    keysByPrefix,
    deploymentsByModel,
    tenantCatalogues,
    issuersByIss,
    cidrsByKey,
    revokedByPrefix,
  };
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
