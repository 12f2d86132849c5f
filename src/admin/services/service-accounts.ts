/** Service accounts; each call runs in the caller's tenant transaction. */
import {
  apiKeysManageRepo,
  serviceAccountsRepo,
  type ServiceAccountPatch,
  type ServiceAccountRecord,
  type TenantTx,
} from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import type { IfMatch } from '../http/etag.js';
import { conflict, lockedForChange, notFound } from '../problems.js';
import { assertRoomFor } from './storage-quota.js';

const view = (s: ServiceAccountRecord) => ({ name: s.name, description: s.description, disabled: s.disabled });

export async function createServiceAccount(
  tx: TenantTx,
  actor: Actor,
  input: { name: string; description?: string | undefined },
): Promise<ServiceAccountRecord> {
  await assertRoomFor(tx);
  const r = await serviceAccountsRepo.insert(tx, { name: input.name, description: input.description ?? '' });
  if (!r.ok) throw conflict(`A service account named "${input.name}" already exists.`, 'name');
  await audit(tx, actor, 'service_account.create', { kind: 'service_account', id: r.account.id }, { after: view(r.account) });
  return r.account;
}

export async function updateServiceAccount(
  tx: TenantTx,
  actor: Actor,
  id: string,
  patch: ServiceAccountPatch,
  ifMatch: IfMatch | null,
): Promise<ServiceAccountRecord> {
  const before = await lockedForChange(() => serviceAccountsRepo.get(tx, id, { forUpdate: true }), 'service account', ifMatch, true);
  const r = await serviceAccountsRepo.update(tx, id, patch);
  if (!r.ok) throw conflict(`A service account named "${patch.name ?? ''}" already exists.`, 'name');
  await audit(tx, actor, 'service_account.update', { kind: 'service_account', id }, { before: view(before), after: view(r.account) });
  return r.account;
}

/** Deletes the account; its admin keys go with it, its API keys are revoked. */
export async function deleteServiceAccount(tx: TenantTx, actor: Actor, id: string, ifMatch: IfMatch | null): Promise<void> {
  const before = await lockedForChange(() => serviceAccountsRepo.get(tx, id, { forUpdate: true }), 'service account', ifMatch, true);
  const revoked = await apiKeysManageRepo.revokeOwnedBy(tx, { serviceAccountId: id });
  if (!(await serviceAccountsRepo.remove(tx, id))) throw notFound('service account');
  await audit(tx, actor, 'service_account.delete', { kind: 'service_account', id }, { before: view(before), after: { revokedApiKeyIds: revoked } });
}
