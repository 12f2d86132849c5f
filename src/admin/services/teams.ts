/** Teams, shared by the admin API and `gatehouse apply`; each call runs in the caller's tenant transaction. */
import { teamsManageRepo, type ManagedTeam, type TenantTx } from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import type { IfMatch } from '../http/etag.js';
import { conflict, lockedForChange, notFound } from '../problems.js';
import { assertRoomFor } from './storage-quota.js';

const view = (t: ManagedTeam) => ({ slug: t.slug, name: t.name });

export async function createTeam(tx: TenantTx, actor: Actor, input: { slug: string; name?: string | undefined }): Promise<ManagedTeam> {
  await assertRoomFor(tx);
  const r = await teamsManageRepo.insert(tx, { slug: input.slug, name: input.name ?? input.slug });
  if (!r.ok) throw conflict(`A team with the slug "${input.slug}" already exists.`, 'slug');
  await audit(tx, actor, 'team.create', { kind: 'team', id: r.team.id }, { after: view(r.team) });
  return r.team;
}

export async function updateTeam(
  tx: TenantTx,
  actor: Actor,
  id: string,
  patch: { slug?: string | undefined; name?: string | undefined },
  ifMatch: IfMatch | null,
): Promise<ManagedTeam> {
  const before = await lockedForChange(() => teamsManageRepo.get(tx, id, { forUpdate: true }), 'team', ifMatch, true);
  const r = await teamsManageRepo.update(tx, id, patch);
  if (!r.ok) throw conflict(`A team with the slug "${patch.slug ?? ''}" already exists.`, 'slug');
  await audit(tx, actor, 'team.update', { kind: 'team', id }, { before: view(before), after: view(r.team) });
  return r.team;
}

export async function deleteTeam(tx: TenantTx, actor: Actor, id: string, ifMatch: IfMatch | null): Promise<void> {
  const before = await lockedForChange(() => teamsManageRepo.get(tx, id, { forUpdate: true }), 'team', ifMatch, true);
  const r = await teamsManageRepo.remove(tx, id);
  if (!r.ok) {
    if (r.reason === 'in_use') throw conflict('The team still has API keys; move or delete them first.');
    throw notFound('team');
  }
  await audit(tx, actor, 'team.delete', { kind: 'team', id }, { before: view(before) });
}
