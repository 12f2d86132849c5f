/**
 * Each tenant's log policy, read in the tenant's own transaction (the platform role that loads
 * the hot-path snapshot may not read tenant settings, DESIGN §3.1) and held in memory for the
 * request path the way the response cache holds its opt-in (src/cache/tenant-keys.ts): a
 * tenant's first request on an instance starts the load and is not logged; a change made on
 * another instance applies within `refreshMs` (this instance's admin API forgets it at once).
 */
import { planFeaturesOf } from '../billing/service.js';
import { createKeySource, type TenantStateSource } from '../cache/tenant-keys.js';
import { tenantsRepo, type Store, type TenantTx } from '../store/index.js';
import { logPolicy, storedLogSettings, type LogPolicy } from './settings.js';

export type LogPolicySource = TenantStateSource<LogPolicy>;

const OFF: LogPolicy = Object.freeze({ enabled: false, content: false, retentionDays: 0 });

/** The tenant's policy now (its stored opt-in under its plan); off for a tenant that is gone. */
export async function readLogPolicy(tx: TenantTx): Promise<LogPolicy> {
  const row = await tenantsRepo.get(tx);
  if (row === null) return OFF;
  const features = await planFeaturesOf(tx);
  return logPolicy(storedLogSettings(row.settings), features.log_retention_days);
}

export interface PolicySourceOptions {
  store: Pick<Store, 'withTenant'>;
  refreshMs: number;
  retryMs: number;
  maxTenants: number;
  onError?: (tenantId: string, err: unknown) => void;
  now?: () => number;
}

export function createPolicySource(opts: PolicySourceOptions): LogPolicySource {
  return createKeySource<LogPolicy>({
    load: (tenantId) => opts.store.withTenant(tenantId, readLogPolicy),
    refreshMs: opts.refreshMs,
    retryMs: opts.retryMs,
    maxTenants: opts.maxTenants,
    ...(opts.onError !== undefined ? { onError: opts.onError } : {}),
    ...(opts.now !== undefined ? { now: opts.now } : {}),
  });
}
