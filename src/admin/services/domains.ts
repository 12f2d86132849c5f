/** Custom domains; each call runs in the caller's tenant transaction. */
import { randomBytes } from 'node:crypto';
import { planFeaturesOf } from '../../billing/service.js';
import { GatewayError } from '../../errors.js';
import { domainsManageRepo, domainsRepo, type ManagedDomain, type TenantTx } from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import { conflict, notFound } from '../problems.js';
import { assertRoomFor } from './storage-quota.js';

/** Where the proof of a claim is published, and what it must say. */
export function challengeRecord(domain: string, challenge: string): { type: 'TXT'; name: string; value: string } {
  return { type: 'TXT', name: `_gatehouse-challenge.${domain}`, value: `gatehouse-domain-verification=${challenge}` };
}

/**
 * A claim the tenant must prove before the name routes anything (migration 0010). Adding never
 * conflicts with another tenant's claim, so it tells the caller nothing about other tenants; a
 * name this tenant already claimed is a conflict.
 */
export async function addDomain(tx: TenantTx, actor: Actor, domain: string): Promise<ManagedDomain> {
  // A plan feature (billing): a tenant on no plan, or on a plan without pricing, has it. It
  // bounds tenant self-service; the operator (`gatehouse apply`, a platform principal) may
  // place a tenant above its plan, as with limits.
  if (actor.principal.scope === 'tenant' && !(await planFeaturesOf(tx)).custom_domains) {
    throw new GatewayError('forbidden', "Custom domains are not included in the tenant's plan.", { param: 'domain' });
  }
  await assertRoomFor(tx);
  const r = await domainsRepo.claim(tx, domain, randomBytes(32).toString('base64url'));
  if (!r.created) throw conflict(`The domain "${domain}" was already added to this tenant.`, 'domain');
  const added = await domainsManageRepo.get(tx, domain);
  if (added === null) throw notFound('domain');
  await audit(tx, actor, 'domain.create', { kind: 'domain', id: added.domain });
  return added;
}

/**
 * A domain the operator declares (`gatehouse apply`): verified without a DNS proof, the file
 * being the operator's word. Taken when another tenant verified the name.
 */
export async function declareDomain(tx: TenantTx, actor: Actor, domain: string): Promise<ManagedDomain> {
  const existing = await domainsManageRepo.get(tx, domain);
  if (existing === null) await assertRoomFor(tx);
  const r = await domainsRepo.add(tx, domain);
  if (!r.ok) throw conflict(`The domain "${domain}" is already in use.`, 'domain');
  const added = await domainsManageRepo.get(tx, domain);
  if (added === null) throw notFound('domain');
  await audit(tx, actor, existing === null ? 'domain.create' : 'domain.verify', { kind: 'domain', id: added.domain });
  return added;
}

/**
 * Looks the claim's challenge up in DNS. Runs outside any transaction: a slow resolver must not
 * hold a database connection.
 */
export async function proveDomain(resolveTxt: (name: string) => Promise<string[][]>, d: ManagedDomain): Promise<void> {
  if (d.challenge === null) return;
  const expected = challengeRecord(d.domain, d.challenge);
  let records: string[][];
  try {
    records = await resolveTxt(expected.name);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') records = [];
    else throw conflict(`The DNS lookup of ${expected.name} failed (${typeof code === 'string' ? code : 'error'}); try again later.`);
  }
  // A TXT record may be split into several strings; they are one value.
  if (!records.some((chunks) => chunks.join('') === expected.value)) {
    throw conflict(`No TXT record "${expected.value}" was found at ${expected.name}; publish it and verify again.`);
  }
}

/** Marks a proven claim verified: 409 when another tenant proved the name first. */
export async function confirmDomain(tx: TenantTx, actor: Actor, domain: string): Promise<ManagedDomain> {
  const before = await domainsManageRepo.get(tx, domain);
  if (before === null) throw notFound('domain');
  if (before.verifiedAt !== null) return before;
  // Another tenant's proof of the same name violates the global index: the admin edge answers
  // 409 and the transaction rolls back (no savepoints in tenant transactions, src/store/guard.ts).
  await domainsRepo.markVerified(tx, domain);
  const after = await domainsManageRepo.get(tx, domain);
  if (after === null) throw notFound('domain');
  await audit(tx, actor, 'domain.verify', { kind: 'domain', id: after.domain });
  return after;
}

export async function removeDomain(tx: TenantTx, actor: Actor, domain: string): Promise<void> {
  if (!(await domainsRepo.remove(tx, domain))) throw notFound('domain');
  await audit(tx, actor, 'domain.delete', { kind: 'domain', id: domain.toLowerCase() });
}
