/**
 * The cheap path of refresh.ts: re-read only the tenants a notification names, for
 * patchSnapshot (snapshot-build.ts) to put into the last snapshot. At 10,000 tenants and 100,000
 * keys a full reload takes ~0.2–0.3 s even when it reads no key (every tenant and key digest;
 * 1–2 s when it reads them all, bench/snapshot-memory.ts); one tenant's rows take milliseconds.
 *
 * Each tenant is read inside its own tenant transaction with the same repositories the admin
 * path uses, so the records are shaped exactly as a full load shapes them, and row-level
 * security guarantees a tenant's patch can only ever contain that tenant's rows.
 */
import { planForSnapshot } from '../billing/plan-pricing.js';
import { apiKeysRepo, domainsRepo, limitRulesRepo, plansRepo, tenantsRepo, type Store } from '../store/index.js';
import { DEFAULT_CLAIMS } from '../identity/jwt.js';
import { planLimitsOf } from '../limits/compose.js';
import { jwtIssuersRepo } from '../store/repos/jwt-issuers.js';
import { REVOKED_KEPT_MS } from './key-records.js';
import type { TenantChange } from './snapshot-build.js';
import type { TenantModelsReader } from './tenant-models.js';
import type { Tenant } from './types.js';

/** Tables whose rows belong to one tenant's part of the snapshot (migration 0002 names them). */
export const TENANT_SCOPED_TABLES: ReadonlySet<string> = new Set([
  'tenants',
  'tenant_domains',
  'teams',
  'api_keys',
  'tenant_jwt_issuers',
  'limit_rules',
  // Migration 0012: dedicated deployments, aliases, and the credentials those deployments hold.
  'tenant_deployments',
  'tenant_model_aliases',
  'provider_credentials',
  // Migration 0019: open anomaly throttles are part of a tenant's limits.
  'anomaly_throttles',
]);

async function readTenant(
  store: Pick<Store, 'withTenant'>,
  tenantId: string,
  models: TenantModelsReader | undefined,
  now: number,
): Promise<TenantChange> {
  return store.withTenant(tenantId, async (tx) => {
    const row = await tenantsRepo.get(tx);
    // Deleted: its rows went with it (cascade).
    if (row === null) return { tenantId, tenant: null, keys: [], issuers: [], limitSource: null, plan: null, models: null };
    const tenant: Tenant = {
      id: row.id,
      slug: row.slug,
      name: row.name,
      status: row.status,
      domains: await domainsRepo.list(tx),
      allowedModels: row.allowedModels ?? '*',
      regions: row.regions,
      updatedAtMs: row.updatedAt.getTime(),
    };
    const [limitSource] = await limitRulesRepo.listSources(tx);
    const plan = row.planId === null ? null : await plansRepo.get(tx, row.planId);
    return {
      tenantId,
      tenant,
      keys: await apiKeysRepo.listForSnapshot(tx, now - REVOKED_KEPT_MS),
      issuers: await jwtIssuersRepo.listAll(tx, DEFAULT_CLAIMS),
      limitSource: limitSource ?? null,
      // The tenant's plan as read now, so a tenant moved to a plan newer than the snapshot's gets it.
      plan: plan === null ? null : planLimitsOf(planForSnapshot(plan)),
      // Last: it may leave the transaction unusable when a tenant's secrets cannot be opened.
      ...(models === undefined ? {} : { models: await models.read(tx, row.slug) }),
    };
  });
}

/**
 * What the database holds now for each of the given tenants (their keys, JWT issuers, limit
 * records and dedicated models too), or that they no longer exist: the input of patchSnapshot.
 */
export async function readTenantChanges(
  store: Pick<Store, 'withTenant'>,
  tenantIds: readonly string[],
  models?: TenantModelsReader,
  now: number = Date.now(),
): Promise<TenantChange[]> {
  const changes: TenantChange[] = [];
  for (const id of tenantIds) changes.push(await readTenant(store, id, models, now));
  return changes;
}
