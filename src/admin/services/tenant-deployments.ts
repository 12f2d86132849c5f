/**
 * Dedicated deployments and model aliases of a tenant. A deployment's credential must be one of
 * the tenant's own (read under row-level security, so another tenant's id is exactly as unknown
 * as an id that exists nowhere; the foreign key including tenant_id is the backstop). Audit
 * entries carry the configuration, never a secret (there is none in these rows).
 */
import { modelAliasesRepo, providerCredentialsRepo, tenantDeploymentsRepo, type AliasRecord, type TenantDeploymentInput, type TenantDeploymentRecord, type TenantTx } from '../../store/index.js';
import { defaultBaseUrl } from '../../providers/base-urls.js';
import { dedicatedProblem } from '../../routing/tenant-deployments.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import type { IfMatch } from '../http/etag.js';
import { invalid, lockedForChange, notFound } from '../problems.js';
import { toMicros, type CreateDeploymentBody, type PatchDeploymentBody } from '../schemas/tenant-deployments.js';
import { assertRoomFor } from './storage-quota.js';

const view = (d: TenantDeploymentRecord) => ({
  model: d.model,
  kind: d.kind,
  provider: d.provider,
  baseUrl: d.baseUrl,
  credentialId: d.credentialId,
  upstreamModel: d.upstreamModel,
  region: d.region,
  capacity: d.capacity,
});

/**
 * The credential must be one of the tenant's own, and provider, model kind and credential must fit
 * together (src/routing/tenant-deployments.ts `dedicatedProblem`, which the snapshot loader checks
 * again): e.g. bedrock needs a bedrock credential, and AWS credentials never authenticate anything else.
 */
async function assertServable(tx: TenantTx, d: Pick<TenantDeploymentInput, 'provider' | 'kind' | 'credentialId'>): Promise<void> {
  let credentialProvider: string | null = null;
  if (d.credentialId !== null) {
    const c = await providerCredentialsRepo.get(tx, d.credentialId);
    if (c === null) throw invalid('credential_id names no provider credential of this tenant.', 'credential_id');
    credentialProvider = c.provider;
  }
  const problem = dedicatedProblem({ provider: d.provider, kind: d.kind, credentialProvider });
  if (problem !== undefined) throw invalid(`${problem.message}.`, problem.param);
}

function inputOf(b: CreateDeploymentBody): TenantDeploymentInput {
  return {
    model: b.model,
    kind: b.kind,
    provider: b.provider,
    // The schema let it be absent only where the provider has a public endpoint.
    baseUrl: b.base_url ?? defaultBaseUrl(b.provider) ?? '',
    credentialId: b.credential_id,
    upstreamModel: b.upstream_model ?? b.model,
    apiVersion: b.api_version,
    region: b.region,
    capacity: b.capacity,
    timeoutMs: b.timeout_ms,
    prices: { input: toMicros(b.prices.input), output: toMicros(b.prices.output), cachedInput: toMicros(b.prices.cached_input), request: toMicros(b.prices.request) },
  };
}

export async function createDeployment(tx: TenantTx, actor: Actor, body: CreateDeploymentBody): Promise<TenantDeploymentRecord> {
  const input = inputOf(body);
  await assertRoomFor(tx);
  await assertServable(tx, input);
  const d = await tenantDeploymentsRepo.create(tx, input);
  await audit(tx, actor, 'deployment.create', { kind: 'deployment', id: d.id }, { after: view(d) });
  return d;
}

export async function updateDeployment(tx: TenantTx, actor: Actor, id: string, patch: PatchDeploymentBody, ifMatch: IfMatch | null): Promise<TenantDeploymentRecord> {
  const before = await lockedForChange(async () => {
    const d = await tenantDeploymentsRepo.get(tx, id, { forUpdate: true });
    return d === null ? null : { ...d, version: d.stamp };
  }, 'deployment', ifMatch, true);
  const next: TenantDeploymentInput = {
    model: patch.model ?? before.model,
    kind: patch.kind ?? before.kind,
    provider: patch.provider ?? before.provider,
    baseUrl: patch.base_url ?? before.baseUrl,
    credentialId: patch.credential_id === undefined ? before.credentialId : patch.credential_id,
    upstreamModel: patch.upstream_model ?? before.upstreamModel,
    apiVersion: patch.api_version === undefined ? before.apiVersion : patch.api_version,
    region: patch.region ?? before.region,
    capacity: patch.capacity ?? before.capacity,
    timeoutMs: patch.timeout_ms ?? before.timeoutMs,
    prices:
      patch.prices === undefined
        ? before.prices
        : { input: toMicros(patch.prices.input), output: toMicros(patch.prices.output), cachedInput: toMicros(patch.prices.cached_input), request: toMicros(patch.prices.request) },
  };
  if (next.provider === 'azure' && next.apiVersion === null) throw invalid('api_version is required for provider azure.', 'api_version');
  // Every time, not only when credential_id changes: a new provider or kind must fit the credential too.
  await assertServable(tx, next);
  const after = await tenantDeploymentsRepo.update(tx, before.id, next);
  if (after === null) throw notFound('deployment');
  await audit(tx, actor, 'deployment.update', { kind: 'deployment', id: after.id }, { before: view(before), after: view(after) });
  return after;
}

export async function deleteDeployment(tx: TenantTx, actor: Actor, id: string, ifMatch: IfMatch | null): Promise<void> {
  const before = await lockedForChange(async () => {
    const d = await tenantDeploymentsRepo.get(tx, id, { forUpdate: true });
    return d === null ? null : { ...d, version: d.stamp };
  }, 'deployment', ifMatch, true);
  if (!(await tenantDeploymentsRepo.remove(tx, before.id))) throw notFound('deployment');
  await audit(tx, actor, 'deployment.delete', { kind: 'deployment', id: before.id }, { before: view(before) });
}

/** Creates or repoints an alias; the storage quota applies to new ones only. */
export async function putAlias(tx: TenantTx, actor: Actor, alias: string, model: string): Promise<{ alias: AliasRecord; created: boolean }> {
  const before = await modelAliasesRepo.get(tx, alias, { forUpdate: true });
  if (before === null) await assertRoomFor(tx);
  const r = await modelAliasesRepo.put(tx, alias, model);
  await audit(tx, actor, r.created ? 'model_alias.create' : 'model_alias.update', { kind: 'model_alias', id: alias }, {
    ...(before === null ? {} : { before: { model: before.model } }),
    after: { model },
  });
  return r;
}

export async function deleteAlias(tx: TenantTx, actor: Actor, alias: string): Promise<void> {
  const before = await modelAliasesRepo.get(tx, alias, { forUpdate: true });
  if (before === null || !(await modelAliasesRepo.remove(tx, alias))) throw notFound('model alias');
  await audit(tx, actor, 'model_alias.delete', { kind: 'model_alias', id: alias }, { before: { model: before.model } });
}
