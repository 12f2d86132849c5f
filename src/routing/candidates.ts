/**
 * Which deployments may serve a model for a tenant. Residency is decided here, once: a tenant
 * with a region policy only ever sees deployments in its regions, and every pick (first choice,
 * retry, fallback) draws from this list, so no path can leave them (DESIGN §6).
 *
 * The one place that maps (tenant, model) to deployments: tenant-owned dedicated deployments
 * merge in here.
 */
import type { Deployment, ModelKind } from '../providers/types.js';
import { modelAllowed, type Snapshot } from '../tenancy/snapshot.js';
import type { Tenant } from '../tenancy/types.js';
import { deploymentsFor } from './tenant-deployments.js';

/**
 * The model's deployments inside the tenant's regions; undefined when the model does not exist,
 * empty when it has no deployment the tenant may reach.
 */
export function candidateDeployments(snapshot: Snapshot, tenant: Tenant, model: string): readonly Deployment[] | undefined {
  // The tenant's dedicated deployments of this name, else the platform's (tenant-deployments.ts).
  const all = deploymentsFor(snapshot, tenant, model);
  if (all === undefined) return undefined;
  return tenant.regions.length === 0 ? all : all.filter((d) => tenant.regions.includes(d.region));
}

export interface FallbackGroup {
  model: string;
  deployments: readonly Deployment[];
}

/**
 * The configured fallback models of `model` this caller may use: allowed for the tenant and key,
 * of the same kind (a chat request never lands on an embedding model), and with at least one
 * deployment inside the tenant's regions. In configured order, the requested model excluded.
 */
export function fallbackGroups(
  snapshot: Snapshot,
  tenant: Tenant,
  keyModels: readonly string[] | null,
  model: string,
  kind: ModelKind,
  chain: readonly string[],
): FallbackGroup[] {
  const out: FallbackGroup[] = [];
  for (const m of chain) {
    if (m === model || !modelAllowed(tenant, keyModels, m)) continue;
    const deployments = candidateDeployments(snapshot, tenant, m)?.filter((d) => d.kind === kind);
    if (deployments !== undefined && deployments.length > 0) out.push({ model: m, deployments });
  }
  return out;
}
