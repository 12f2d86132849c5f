/**
 * The cheap path of refresh.ts: re-read only the tenants a notification names and splice them
 * into the records of the last reload. At 10,000 tenants and 100,000 keys a full reload takes
 * ~2 s of database reads and parsing (bench/snapshot-memory.ts), which alone would break "every
 * instance hears every change within a second"; one tenant's rows take milliseconds.
 *
 * Each tenant is read inside its own tenant transaction with the same repositories the admin
 * path uses, so the records are shaped exactly as a full load shapes them, and row-level
 * security guarantees a tenant's patch can only ever contain that tenant's rows.
 */
import { apiKeysRepo, domainsRepo, limitRulesRepo, plansRepo, tenantsRepo, type Store } from '../store/index.js';
import { DEFAULT_CLAIMS } from '../identity/jwt.js';
import { planLimitsOf, type PlanLimits, type TenantLimitSource } from '../limits/compose.js';
import { jwtIssuersRepo } from '../store/repos/jwt-issuers.js';
import type { TenantModelsRecord } from '../routing/tenant-deployments.js';
import type { SnapshotInput } from './snapshot.js';
import type { TenantModelsReader } from './tenant-models.js';
import type { ApiKeyRecord, JwtIssuer, Tenant } from './types.js';

/** The snapshot's database records as the last reload left them. */
export type SnapshotRecords = Omit<SnapshotInput, 'deployments'>;

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

interface TenantPart {
  tenant: Tenant | null;
  keys: ApiKeyRecord[];
  issuers: JwtIssuer[];
  limitSource: TenantLimitSource | null;
  /** The tenant's plan as read now (so a tenant moved to a plan newer than `last` still gets it). */
  plan: PlanLimits | null;
  models: TenantModelsRecord | null;
}

async function readTenant(store: Pick<Store, 'withTenant'>, tenantId: string, models: TenantModelsReader | undefined): Promise<TenantPart> {
  return store.withTenant(tenantId, async (tx) => {
    const row = await tenantsRepo.get(tx);
    // Deleted: its rows went with it (cascade).
    if (row === null) return { tenant: null, keys: [], issuers: [], limitSource: null, plan: null, models: null };
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
      tenant,
      keys: await apiKeysRepo.list(tx),
      issuers: await jwtIssuersRepo.listAll(tx, DEFAULT_CLAIMS),
      limitSource: limitSource ?? null,
      plan: plan === null ? null : planLimitsOf(plan),
      // Last: it may leave the transaction unusable when a tenant's secrets cannot be opened.
      models: models === undefined ? null : await models.read(tx, row.slug),
    };
  });
}

/**
 * `last` with the given tenants (their keys, JWT issuers and limit records too) replaced by what
 * the database holds now, or removed if they no longer exist.
 */
export async function patchTenants(
  store: Pick<Store, 'withTenant'>,
  last: SnapshotRecords,
  tenantIds: readonly string[],
  models?: TenantModelsReader,
): Promise<SnapshotRecords> {
  const parts: TenantPart[] = [];
  for (const id of tenantIds) parts.push(await readTenant(store, id, models));
  const changed = new Set(tenantIds);
  const tenants = last.tenants.filter((t) => !changed.has(t.id));
  const keys = last.keys.filter((k) => !changed.has(k.tenantId));
  const issuers = (last.issuers ?? []).filter((i) => !changed.has(i.tenantId));
  const limitSources = (last.limitSources ?? []).filter((s) => !changed.has(s.tenantId));
  const plans = new Map((last.plans ?? []).map((p) => [p.id, p]));
  const tenantModels = (last.tenantModels ?? []).filter((m) => !changed.has(m.tenantId));
  for (const part of parts) {
    if (part.models !== null) tenantModels.push(part.models);
    if (part.tenant === null) continue;
    tenants.push(part.tenant);
    keys.push(...part.keys);
    issuers.push(...part.issuers);
    if (part.limitSource !== null) limitSources.push(part.limitSource);
    if (part.plan !== null) plans.set(part.plan.id, part.plan);
  }
  return { ...last, tenants, keys, issuers, limitSources, plans: [...plans.values()], ...(models === undefined ? {} : { tenantModels }) };
}
