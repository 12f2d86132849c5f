/** Users and their role memberships; each call runs in the caller's tenant transaction. */
import type { TenantRole } from '../../identity/roles.js';
import {
  apiKeysManageRepo,
  membershipsRepo,
  usersRepo,
  type MembershipRecord,
  type TenantTx,
  type UserPatch,
  type UserRecord,
} from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import type { IfMatch } from '../http/etag.js';
import { conflict, invalid, lockedForChange, notFound } from '../problems.js';
import { assertRoomFor } from './storage-quota.js';

const view = (u: UserRecord) => ({ email: u.email, name: u.name, status: u.status });

export async function createUser(
  tx: TenantTx,
  actor: Actor,
  input: { email: string; name?: string | undefined; roles?: TenantRole[] | undefined },
): Promise<{ user: UserRecord; roles: TenantRole[] }> {
  await assertRoomFor(tx);
  const r = await usersRepo.insert(tx, { email: input.email, name: input.name ?? '' });
  if (!r.ok) throw conflict('A user with this email already exists in the tenant.', 'email');
  const roles = [...new Set(input.roles ?? [])].sort();
  for (const role of roles) await membershipsRepo.insert(tx, { userId: r.user.id, role });
  await audit(tx, actor, 'user.create', { kind: 'user', id: r.user.id }, { after: { ...view(r.user), roles } });
  return { user: r.user, roles };
}

export async function updateUser(tx: TenantTx, actor: Actor, id: string, patch: UserPatch, ifMatch: IfMatch | null): Promise<UserRecord> {
  const before = await lockedForChange(() => usersRepo.get(tx, id, { forUpdate: true }), 'user', ifMatch, true);
  const r = await usersRepo.update(tx, id, patch);
  if (!r.ok) throw conflict('A user with this email already exists in the tenant.', 'email');
  await audit(tx, actor, 'user.update', { kind: 'user', id }, { before: view(before), after: view(r.user) });
  return r.user;
}

/** Deletes the user; their memberships and admin keys go with them, their API keys are revoked. */
export async function deleteUser(tx: TenantTx, actor: Actor, id: string, ifMatch: IfMatch | null): Promise<void> {
  const before = await lockedForChange(() => usersRepo.get(tx, id, { forUpdate: true }), 'user', ifMatch, true);
  const revoked = await apiKeysManageRepo.revokeOwnedBy(tx, { userId: id });
  if (!(await usersRepo.remove(tx, id))) throw notFound('user');
  await audit(tx, actor, 'user.delete', { kind: 'user', id }, { before: view(before), after: { revokedApiKeyIds: revoked } });
}

export async function addMembership(tx: TenantTx, actor: Actor, input: { user_id: string; role: TenantRole }): Promise<MembershipRecord> {
  if ((await usersRepo.get(tx, input.user_id)) === null) throw invalid('No such user.', 'user_id');
  const r = await membershipsRepo.insert(tx, { userId: input.user_id, role: input.role });
  if (!r.ok) throw conflict('The user already has this role.', 'role');
  await audit(tx, actor, 'membership.create', { kind: 'membership', id: r.membership.id }, { after: { userId: input.user_id, role: input.role } });
  return r.membership;
}

export async function removeMembership(tx: TenantTx, actor: Actor, id: string): Promise<void> {
  const before = await membershipsRepo.get(tx, id);
  if (before === null || !(await membershipsRepo.remove(tx, id))) throw notFound('membership');
  await audit(tx, actor, 'membership.delete', { kind: 'membership', id }, { before: { userId: before.userId, role: before.role } });
}
