/** Custom domains; each call runs in the caller's tenant transaction. */
import { planFeaturesOf } from '../../billing/service.js';
import { GatewayError } from '../../errors.js';
import { domainsManageRepo, domainsRepo, type ManagedDomain, type TenantTx } from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import { conflict, notFound } from '../problems.js';
import { assertRoomFor } from './storage-quota.js';

/**
 * A host name identifies at most one tenant, so a domain held by anyone (this tenant included)
 * is a conflict. The answer says only "in use", never by whom (0001_init.ts).
 */
export async function addDomain(tx: TenantTx, actor: Actor, domain: string): Promise<ManagedDomain> {
  // A plan feature (billing): a tenant on no plan, or on a plan without pricing, has it. It
  // bounds tenant self-service; the operator (`gatehouse apply`, a platform principal) may
  // place a tenant above its plan, as with limits.
  if (actor.principal.scope === 'tenant' && !(await planFeaturesOf(tx)).custom_domains) {
    throw new GatewayError('forbidden', "Custom domains are not included in the tenant's plan.", { param: 'domain' });
  }
  await assertRoomFor(tx);
  const r = await domainsRepo.add(tx, domain);
  if (!r.ok || !r.created) throw conflict(`The domain "${domain}" is already in use.`, 'domain');
  const added = await domainsManageRepo.get(tx, domain);
  if (added === null) throw notFound('domain');
  await audit(tx, actor, 'domain.create', { kind: 'domain', id: added.domain });
  return added;
}

export async function removeDomain(tx: TenantTx, actor: Actor, domain: string): Promise<void> {
  if (!(await domainsRepo.remove(tx, domain))) throw notFound('domain');
  await audit(tx, actor, 'domain.delete', { kind: 'domain', id: domain.toLowerCase() });
}
