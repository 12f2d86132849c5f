/**
 * Tenant-dedicated deployments and model aliases as the hot path sees them, and THE lookup every
 * stage uses to find what serves a model for a tenant (`deploymentsFor`). Decisions (DESIGN §13):
 *
 * - A tenant's dedicated deployments of a name REPLACE the platform's deployments of that name
 *   for that tenant (never merged): a tenant that brings its own key for `gpt-4o` must not have
 *   some of its traffic silently served, and billed, on the platform's key.
 * - Nobody else can reach them: they live in the tenant's own catalogue in the snapshot, keyed
 *   by tenant id, and the only way in is this module with the authenticated tenant.
 * - Aliases resolve one level (no chains) before authorization: the target must be allowed to
 *   the tenant, the alias itself is listed in /v1/models. An alias may shadow a model name.
 */
import type { Deployment, OutboundGuard } from '../providers/types.js';
import type { Snapshot } from '../tenancy/snapshot.js';
import type { Tenant } from '../tenancy/types.js';

/** One tenant's own part of the catalogue: what the snapshot loader read in its transaction. */
export interface TenantModelsRecord {
  tenantId: string;
  deployments: readonly Deployment[];
  /** alias → target model name. */
  aliases: Readonly<Record<string, string>>;
}

/** The same, indexed for the hot path. */
export interface TenantCatalogue {
  readonly deploymentsByModel: ReadonlyMap<string, readonly Deployment[]>;
  readonly aliases: ReadonlyMap<string, string>;
}

export function buildCatalogues(records: readonly TenantModelsRecord[], known: (tenantId: string) => boolean): Map<string, TenantCatalogue> {
  const out = new Map<string, TenantCatalogue>();
  for (const r of records) {
    if (!known(r.tenantId)) continue;
    const deploymentsByModel = new Map<string, Deployment[]>();
    for (const d of r.deployments) {
      const list = deploymentsByModel.get(d.model);
      if (list) list.push(d);
      else deploymentsByModel.set(d.model, [d]);
    }
    out.set(r.tenantId, { deploymentsByModel, aliases: new Map(Object.entries(r.aliases)) });
  }
  return out;
}

/**
 * The deployments serving `model` for `tenant`: its own dedicated ones if it has any of that
 * name, else the platform's; undefined when neither exists. `model` is the resolved name (after
 * `resolveAlias`). One map lookup for tenants without a catalogue of their own.
 */
export function deploymentsFor(snapshot: Snapshot, tenant: Tenant, model: string): readonly Deployment[] | undefined {
  const own = snapshot.tenantCatalogues.get(tenant.id)?.deploymentsByModel.get(model);
  return own ?? snapshot.deploymentsByModel.get(model);
}

/** The model an alias of this tenant points at, or the name itself when it is no alias. */
export function resolveAlias(snapshot: Snapshot, tenantId: string, model: string): string {
  return snapshot.tenantCatalogues.get(tenantId)?.aliases.get(model) ?? model;
}

/**
 * Names this tenant can address, in order: the platform catalogue, then its own models, then its
 * aliases; each once, with the deployment that represents it (an alias shows its target's).
 */
export function namesFor(snapshot: Snapshot, tenant: Tenant): Map<string, Deployment> {
  const out = new Map<string, Deployment>();
  const own = snapshot.tenantCatalogues.get(tenant.id);
  for (const [name, list] of snapshot.deploymentsByModel) {
    const first = own?.deploymentsByModel.get(name)?.[0] ?? list[0];
    if (first !== undefined) out.set(name, first);
  }
  if (own === undefined) return out;
  for (const [name, list] of own.deploymentsByModel) {
    if (list[0] !== undefined && !out.has(name)) out.set(name, list[0]);
  }
  for (const [alias, target] of own.aliases) {
    const d = deploymentsFor(snapshot, tenant, target)?.[0];
    if (d !== undefined) out.set(alias, d);
  }
  return out;
}

/** What the snapshot loader reads of a dedicated deployment (store record, secret opened). */
export interface DedicatedDeploymentSource {
  id: string;
  model: string;
  kind: Deployment['kind'];
  provider: string;
  baseUrl: string;
  apiKey: string;
  upstreamModel: string;
  apiVersion: string | null;
  region: string;
  capacity: number;
  timeoutMs: number;
  prices: { input: number; output: number; cachedInput: number; request: number };
  createdAt: Date;
}

/** Provider kinds a tenant may pick: those the gateway has an adapter for (src/providers). */
export const TENANT_PROVIDER_KINDS = ['openai', 'azure', 'openai-compatible'] as const;
const KINDS: ReadonlySet<string> = new Set(TENANT_PROVIDER_KINDS);

/**
 * A hot-path Deployment for a tenant's row; undefined for a provider kind this version cannot
 * serve (a row written by a newer version). Always guarded: its base URL is the tenant's.
 */
export function dedicatedDeployment(src: DedicatedDeploymentSource, tenantSlug: string, guard: OutboundGuard): Deployment | undefined {
  if (!KINDS.has(src.provider)) return undefined;
  return {
    // Distinct from every YAML id (slugs), so schedulers and caches never mix the two.
    id: `tenant:${src.id}`,
    model: src.model,
    version: src.upstreamModel,
    kind: src.kind,
    provider: src.provider as Deployment['provider'],
    upstreamModel: src.upstreamModel,
    baseUrl: src.baseUrl,
    apiKey: src.apiKey,
    ...(src.apiVersion !== null ? { apiVersion: src.apiVersion } : {}),
    region: src.region,
    capacity: src.capacity,
    weight: 1,
    limitsFailMode: 'closed',
    timeoutMs: src.timeoutMs,
    prices: { inputPerMTok: src.prices.input, outputPerMTok: src.prices.output, cachedInputPerMTok: src.prices.cachedInput, perRequest: src.prices.request },
    ownedBy: tenantSlug,
    created: Math.floor(src.createdAt.getTime() / 1000),
    outbound: guard,
  };
}
