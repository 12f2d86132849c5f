/**
 * Data-plane API keys: create (secret shown once), change, rotate with a grace period, revoke.
 * Each call runs in the caller's tenant transaction; audit entries never contain key material.
 */
import { generateApiKey, hashApiKey } from '../../crypto/keys.js';
import { GatewayError } from '../../errors.js';
import type { Scope } from '../../tenancy/types.js';
import {
  apiKeysManageRepo,
  serviceAccountsRepo,
  teamsManageRepo,
  usersRepo,
  type ApiKeyPatch,
  type ManagedApiKey,
  type TenantTx,
} from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import type { IfMatch } from '../http/etag.js';
import { conflict, invalid, lockedForChange, notFound } from '../problems.js';
import { assertRoomFor } from './storage-quota.js';

/**
 * IP allow-lists are enforced by the authenticate stage (against the TCP peer address). Were
 * that ever switched off, storing a list that protects nothing would be worse than refusing it.
 */
export const CIDR_ALLOW_LISTS_ENFORCED = true;

export interface ApiKeyInput {
  name: string;
  team_id?: string | null | undefined;
  scopes: Scope[];
  allowed_models?: string[] | null | undefined;
  allowed_cidrs?: string[] | null | undefined;
  expires_at?: string | null | undefined;
  owner?: { user_id: string } | { service_account_id: string } | null | undefined;
}

export interface IssuedKey {
  key: ManagedApiKey;
  /** The whole key: for the one response that shows it, nothing else. */
  secret: string;
}

const view = (k: ManagedApiKey) => ({
  name: k.name,
  teamId: k.teamId,
  scopes: k.scopes,
  allowedModels: k.allowedModels,
  allowedCidrs: k.allowedCidrs,
  expiresAt: k.expiresAt,
  revokedAt: k.revokedAt,
});

function checkCidrs(cidrs: string[] | null | undefined): void {
  if (!CIDR_ALLOW_LISTS_ENFORCED && cidrs !== undefined && cidrs !== null && cidrs.length > 0) {
    throw new GatewayError(
      'not_implemented',
      'IP allow-lists are not enforced by this gateway version yet; a key restricted by one would still work from anywhere, so it is refused.',
      { param: 'allowed_cidrs' },
    );
  }
}

function futureExpiry(text: string | null | undefined, now: Date): Date | null | undefined {
  if (text === undefined || text === null) return text;
  const at = new Date(text);
  if (at.getTime() <= now.getTime()) throw invalid('expires_at must be in the future.', 'expires_at');
  return at;
}

async function checkTeam(tx: TenantTx, teamId: string | null | undefined): Promise<void> {
  if (teamId !== undefined && teamId !== null && (await teamsManageRepo.get(tx, teamId)) === null) throw invalid('No such team.', 'team_id');
}

async function ownerIds(tx: TenantTx, owner: ApiKeyInput['owner']): Promise<{ userId: string | null; serviceAccountId: string | null }> {
  if (owner === undefined || owner === null) return { userId: null, serviceAccountId: null };
  if ('user_id' in owner) {
    if ((await usersRepo.get(tx, owner.user_id)) === null) throw invalid('No such user.', 'owner.user_id');
    return { userId: owner.user_id, serviceAccountId: null };
  }
  if ((await serviceAccountsRepo.get(tx, owner.service_account_id)) === null) throw invalid('No such service account.', 'owner.service_account_id');
  return { userId: null, serviceAccountId: owner.service_account_id };
}

async function issue(tx: TenantTx, pepper: Buffer, fields: Omit<Parameters<typeof apiKeysManageRepo.insert>[1], 'prefix' | 'hash'>): Promise<IssuedKey> {
  const generated = generateApiKey();
  const key = await apiKeysManageRepo.insert(tx, { ...fields, prefix: generated.prefix, hash: hashApiKey(generated.key, pepper) });
  // ~238 random bits: a collision means a broken random source, not bad luck.
  if (key === null) throw new Error('generated API key collided with an existing key');
  return { key, secret: generated.key };
}

export async function createApiKey(tx: TenantTx, actor: Actor, pepper: Buffer, input: ApiKeyInput, now: Date): Promise<IssuedKey> {
  checkCidrs(input.allowed_cidrs);
  const expiresAt = futureExpiry(input.expires_at, now) ?? null;
  await checkTeam(tx, input.team_id);
  const owner = await ownerIds(tx, input.owner);
  await assertRoomFor(tx);
  const issued = await issue(tx, pepper, {
    teamId: input.team_id ?? null,
    name: input.name,
    scopes: input.scopes,
    allowedModels: input.allowed_models ?? null,
    allowedCidrs: input.allowed_cidrs ?? null,
    expiresAt,
    rotatedFrom: null,
    ownerUserId: owner.userId,
    ownerServiceAccountId: owner.serviceAccountId,
  });
  await audit(tx, actor, 'api_key.create', { kind: 'api_key', id: issued.key.id }, { after: view(issued.key) });
  return issued;
}

export async function updateApiKey(
  tx: TenantTx,
  actor: Actor,
  id: string,
  input: Omit<Partial<ApiKeyInput>, 'owner'>,
  ifMatch: IfMatch | null,
  now: Date,
): Promise<ManagedApiKey> {
  const before = await lockedForChange(() => apiKeysManageRepo.get(tx, id, { forUpdate: true }), 'API key', ifMatch, true);
  if (before.revokedAt !== null) throw conflict('The API key is revoked and can no longer be changed.');
  checkCidrs(input.allowed_cidrs);
  await checkTeam(tx, input.team_id);
  const patch: ApiKeyPatch = {
    name: input.name,
    teamId: input.team_id,
    scopes: input.scopes,
    allowedModels: input.allowed_models,
    allowedCidrs: input.allowed_cidrs,
    expiresAt: futureExpiry(input.expires_at, now),
  };
  const after = await apiKeysManageRepo.update(tx, id, patch);
  await audit(tx, actor, 'api_key.update', { kind: 'api_key', id }, { before: view(before), after: view(after) });
  return after;
}

/**
 * Issues a replacement with the same settings and lets the old key expire after the grace
 * period (never later than it would have anyway), so clients can switch without downtime.
 */
export async function rotateApiKey(
  tx: TenantTx,
  actor: Actor,
  pepper: Buffer,
  id: string,
  graceSeconds: number,
  ifMatch: IfMatch | null,
  now: Date,
): Promise<IssuedKey & { previous: ManagedApiKey }> {
  const old = await lockedForChange(() => apiKeysManageRepo.get(tx, id, { forUpdate: true }), 'API key', ifMatch, false);
  if (old.revokedAt !== null) throw conflict('The API key is revoked; create a new key instead.');
  if (old.expiresAt !== null && old.expiresAt.getTime() <= now.getTime()) throw conflict('The API key has expired; create a new key instead.');
  const graceEnd = new Date(now.getTime() + graceSeconds * 1000);
  const previous = await apiKeysManageRepo.update(tx, id, {
    expiresAt: old.expiresAt !== null && old.expiresAt.getTime() < graceEnd.getTime() ? old.expiresAt : graceEnd,
  });
  const issued = await issue(tx, pepper, {
    teamId: old.teamId,
    name: old.name,
    scopes: old.scopes,
    allowedModels: old.allowedModels,
    allowedCidrs: old.allowedCidrs,
    expiresAt: old.expiresAt,
    rotatedFrom: old.id,
    ownerUserId: old.ownerUserId,
    ownerServiceAccountId: old.ownerServiceAccountId,
  });
  await audit(tx, actor, 'api_key.rotate', { kind: 'api_key', id: old.id }, {
    before: view(old),
    after: { previous: view(previous), replacement: { id: issued.key.id, ...view(issued.key) } },
  });
  return { ...issued, previous };
}

export async function revokeApiKey(tx: TenantTx, actor: Actor, id: string, ifMatch: IfMatch | null): Promise<ManagedApiKey> {
  const before = await lockedForChange(() => apiKeysManageRepo.get(tx, id, { forUpdate: true }), 'API key', ifMatch, false);
  const after = await apiKeysManageRepo.revoke(tx, id);
  if (after === null) throw notFound('API key');
  if (before.revokedAt === null) await audit(tx, actor, 'api_key.revoke', { kind: 'api_key', id }, { before: view(before), after: view(after) });
  return after;
}
