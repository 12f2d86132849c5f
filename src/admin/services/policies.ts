/** Tenant policies; each call runs in the caller's tenant transaction. */
import { policiesRepo, type PolicyInput, type PolicyPatch, type PolicyRecord, type TenantTx } from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import type { IfMatch } from '../http/etag.js';
import { conflict, lockedForChange, notFound } from '../problems.js';
import { assertRoomFor } from './storage-quota.js';

const view = (p: PolicyRecord) => ({ name: p.name, description: p.description, enabled: p.enabled, document: p.document });

export async function createPolicy(tx: TenantTx, actor: Actor, input: PolicyInput): Promise<PolicyRecord> {
  await assertRoomFor(tx);
  const r = await policiesRepo.insert(tx, input);
  if (!r.ok) throw conflict(`A policy named "${input.name}" already exists.`, 'name');
  await audit(tx, actor, 'policy.create', { kind: 'policy', id: r.policy.id }, { after: view(r.policy) });
  return r.policy;
}

export async function updatePolicy(tx: TenantTx, actor: Actor, id: string, patch: PolicyPatch, ifMatch: IfMatch | null): Promise<PolicyRecord> {
  const before = await lockedForChange(() => policiesRepo.get(tx, id, { forUpdate: true }), 'policy', ifMatch, true);
  const r = await policiesRepo.update(tx, id, patch);
  if (!r.ok) throw conflict(`A policy named "${patch.name ?? ''}" already exists.`, 'name');
  await audit(tx, actor, 'policy.update', { kind: 'policy', id }, { before: view(before), after: view(r.policy) });
  return r.policy;
}

export async function deletePolicy(tx: TenantTx, actor: Actor, id: string, ifMatch: IfMatch | null): Promise<void> {
  const before = await lockedForChange(() => policiesRepo.get(tx, id, { forUpdate: true }), 'policy', ifMatch, true);
  if (!(await policiesRepo.remove(tx, id))) throw notFound('policy');
  await audit(tx, actor, 'policy.delete', { kind: 'policy', id }, { before: view(before) });
}
