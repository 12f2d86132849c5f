/**
 * Deciding the tenant a /tenants/{tenant}/... request acts in. A tenant principal may only ever
 * name its own tenant: any other reference, existing or not, gets the very same 404, decided
 * without a lookup (so not even timing tells them apart). Platform principals resolve the
 * reference through the platform role's metadata.
 */
import type { AdminPrincipal } from '../identity/admin-principal.js';
import { tenantsManageRepo, type Store } from '../store/index.js';
import type { TenantScope } from './context.js';
import { notFound } from './problems.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function resolveTenantScope(store: Store, principal: AdminPrincipal, ref: string): Promise<TenantScope> {
  if (principal.scope === 'tenant') {
    const own = UUID.test(ref) ? ref.toLowerCase() === principal.tenantId : ref === principal.tenantSlug;
    if (!own) throw notFound('tenant');
    // Authentication refused keys of tenants marked for deletion, so this one is not.
    return { id: principal.tenantId, slug: principal.tenantSlug, deleting: false };
  }
  const found = await store.platform((tx) => tenantsManageRepo.resolve(tx, ref));
  if (found === null) throw notFound('tenant');
  return found;
}
