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
import { regionOfBedrockHost } from '../providers/bedrock/region.js';
import type { Deployment, ModelKind, OutboundGuard } from '../providers/types.js';
import type { Snapshot } from '../tenancy/snapshot.js';
import type { Tenant } from '../tenancy/types.js';
import { decodeAwsCredential, holdsAwsCredentials } from './tenant-credentials.js';

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
  /** The opened secret of its credential ('' without one): an API key, or sealed AWS credentials. */
  apiKey: string;
  /** The provider kind its credential was stored for; null without a credential. */
  credentialProvider: string | null;
  upstreamModel: string;
  apiVersion: string | null;
  region: string;
  capacity: number;
  timeoutMs: number;
  prices: { input: number; output: number; cachedInput: number; request: number };
  createdAt: Date;
}

/**
 * Provider kinds a tenant may pick: those whose adapter applies the connect-time address rules
 * (src/providers/pools.ts), which every adapter now does.
 */
export const TENANT_PROVIDER_KINDS = ['openai', 'azure', 'openai-compatible', 'anthropic', 'gemini', 'bedrock'] as const;
export type TenantProviderKind = (typeof TENANT_PROVIDER_KINDS)[number];

/** The model kinds each provider's adapter can serve (Anthropic's Messages API has no embeddings). */
export const PROVIDER_MODEL_KINDS: Readonly<Record<TenantProviderKind, readonly ModelKind[]>> = {
  openai: ['chat', 'completion', 'embedding'],
  azure: ['chat', 'completion', 'embedding'],
  'openai-compatible': ['chat', 'completion', 'embedding'],
  anthropic: ['chat'],
  gemini: ['chat', 'embedding'],
  bedrock: ['chat', 'embedding'],
};

const isTenantProviderKind = (p: string): p is TenantProviderKind => (TENANT_PROVIDER_KINDS as readonly string[]).includes(p);

/** Why a dedicated deployment cannot be served as configured (a sentence), naming the admin API field at fault. */
export interface DedicatedProblem {
  param: 'provider' | 'kind' | 'credential_id';
  message: string;
}

/**
 * The rules a dedicated deployment must keep, checked by the admin API before a write and by the
 * snapshot loader again (a row may have been written past the API, or by another version).
 * `credentialProvider`: the provider kind its credential was stored for, null without one.
 */
export function dedicatedProblem(d: { provider: string; kind: ModelKind; credentialProvider: string | null }): DedicatedProblem | undefined {
  if (!isTenantProviderKind(d.provider)) return { param: 'provider', message: `Provider kind ${d.provider} is not served to tenants by this version` };
  const kinds = PROVIDER_MODEL_KINDS[d.provider];
  if (!kinds.includes(d.kind)) return { param: 'kind', message: `Provider ${d.provider} serves ${kinds.join(' and ')} models, not ${d.kind}` };
  const aws = holdsAwsCredentials(d.provider);
  if (aws && d.credentialProvider === null) {
    return { param: 'credential_id', message: 'Provider bedrock needs a credential: its requests are signed with the tenant\'s own AWS credentials' };
  }
  if (aws && d.credentialProvider !== null && !holdsAwsCredentials(d.credentialProvider)) {
    return { param: 'credential_id', message: `Provider bedrock needs a bedrock credential (AWS credentials), not one stored for ${d.credentialProvider}` };
  }
  if (!aws && d.credentialProvider !== null && holdsAwsCredentials(d.credentialProvider)) {
    return { param: 'credential_id', message: `A ${d.credentialProvider} credential holds AWS credentials and cannot authenticate provider ${d.provider}` };
  }
  return undefined;
}

export type DedicatedResult = { ok: true; deployment: Deployment } | { ok: false; reason: string };

/**
 * A hot-path Deployment for a tenant's row, or why it cannot be served (the reason never holds
 * a secret). Always guarded: its base URL is the tenant's.
 */
export function dedicatedDeployment(src: DedicatedDeploymentSource, tenantSlug: string, guard: OutboundGuard): DedicatedResult {
  const problem = dedicatedProblem(src);
  if (problem !== undefined) return { ok: false, reason: problem.message };
  // The column only checks the scheme; the adapters parse the URL, so an unparsable one is left out here.
  if (!URL.canParse(src.baseUrl)) return { ok: false, reason: 'Its base URL is not a valid URL' };
  const deployment: Deployment = {
    // Distinct from every YAML id (slugs), so schedulers and caches never mix the two.
    id: `tenant:${src.id}`,
    model: src.model,
    version: src.upstreamModel,
    kind: src.kind,
    provider: src.provider as TenantProviderKind,
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
  if (!holdsAwsCredentials(src.provider)) return { ok: true, deployment };
  const aws = decodeAwsCredential(src.apiKey);
  if (aws === undefined) return { ok: false, reason: 'Its credential does not hold readable AWS credentials' };
  // A standard regional endpoint only accepts signatures for its own region: say so here, once,
  // rather than let every request fail upstream with a signature error.
  const hostRegion = regionOfBedrockHost(new URL(src.baseUrl).hostname);
  if (hostRegion !== undefined && hostRegion !== aws.region) {
    return { ok: false, reason: `Its base URL is in AWS region ${hostRegion} but its credential signs for ${aws.region}` };
  }
  return { ok: true, deployment: { ...deployment, apiKey: '', aws } };
}
