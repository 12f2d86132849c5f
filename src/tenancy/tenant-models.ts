/**
 * Reads tenants' dedicated deployments and aliases for the snapshot. The platform role learns
 * only WHICH tenants have some (tenant ids); each such tenant's rows are then read, and its
 * provider credentials opened with its data key, inside that tenant's own transaction, so no
 * query ever sees two tenants' secrets. Opened keys live only in the in-memory snapshot.
 *
 * A tenant whose secrets cannot be opened (keys shredded, a KMS outage) loses its dedicated
 * deployments from this snapshot, logged without the secret, instead of failing the reload of
 * every tenant.
 */
import type { Logger } from '../observability/logger.js';
import type { OutboundGuard } from '../providers/types.js';
import { dedicatedDeployment, type TenantModelsRecord } from '../routing/tenant-deployments.js';
import { modelAliasesRepo, tenantDeploymentsRepo, tenantsRepo, type FieldSealer, type Store, type TenantTx } from '../store/index.js';
import type { Deployment } from '../providers/types.js';

export interface TenantModelsReader {
  /** Inside the tenant's transaction; null when the tenant has neither deployments nor aliases. */
  read(tx: TenantTx, tenantSlug: string): Promise<TenantModelsRecord | null>;
}

export function tenantModelsReader(opts: {
  sealer: FieldSealer;
  guard: OutboundGuard;
  logger: Pick<Logger, 'error'>;
}): TenantModelsReader {
  return {
    async read(tx, tenantSlug) {
      const aliases = await modelAliasesRepo.list(tx);
      const deployments: Deployment[] = [];
      try {
        for (const row of await tenantDeploymentsRepo.listForSnapshot(tx, opts.sealer)) {
          const r = dedicatedDeployment(row, tenantSlug, opts.guard);
          if (r.ok) deployments.push(r.deployment);
          // Written past the admin API, or by another version: this one is left out, not the tenant's others.
          else opts.logger.error({ tenantId: tx.tenantId, deploymentId: row.id, reason: r.reason }, 'a dedicated deployment cannot be served; leaving it out');
        }
      } catch (err) {
        // The error names the key or record, never a plaintext.
        opts.logger.error({ tenantId: tx.tenantId, err: err instanceof Error ? err.message : String(err) }, 'dedicated deployments of a tenant could not be loaded; serving without them');
        // A failed statement aborts the transaction: aliases were read before, nothing after; and
        // none of the tenant's deployments is served from a half-read list.
        deployments.length = 0;
      }
      if (deployments.length === 0 && aliases.length === 0) return null;
      return { tenantId: tx.tenantId, deployments, aliases: Object.fromEntries(aliases.map((a) => [a.alias, a.model])) };
    },
  };
}

/** Every tenant's dedicated models: one platform query for the ids, one tenant transaction each. */
export async function loadTenantModels(store: Pick<Store, 'platform' | 'withTenant'>, reader: TenantModelsReader): Promise<TenantModelsRecord[]> {
  const ids = await store.platform((tx) => tenantDeploymentsRepo.tenantsWithModels(tx));
  const out: TenantModelsRecord[] = [];
  for (const id of ids) {
    const record = await store.withTenant(id, async (tx) => {
      const t = await tenantsRepo.get(tx);
      return t === null ? null : reader.read(tx, t.slug);
    });
    if (record !== null) out.push(record);
  }
  return out;
}
