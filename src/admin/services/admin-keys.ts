/**
 * Admin API keys in a tenant or in the platform scope (PLATFORM_SCOPE_ID). The secret is shown
 * once; only its HMAC is stored. Audit entries of platform-scope keys have no tenant chain to go
 * to: recordAudit is still called (in the platform scope's transaction) and decides.
 */
import { hashApiKey } from '../../crypto/keys.js';
import { generateAdminKey } from '../../identity/admin-keys.js';
import type { Role } from '../../identity/roles.js';
import { adminKeysRepo, membershipsRepo, serviceAccountsRepo, usersRepo, type AdminKeyRecord, type TenantTx } from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import type { IfMatch } from '../http/etag.js';
import { invalid, lockedForChange, notFound } from '../problems.js';

export interface AdminKeyInput {
  name: string;
  role: Role;
  user_id?: string | undefined;
  service_account_id?: string | undefined;
  expires_at?: string | null | undefined;
}

const view = (k: AdminKeyRecord) => ({ name: k.name, role: k.role, userId: k.userId, serviceAccountId: k.serviceAccountId, expiresAt: k.expiresAt, revokedAt: k.revokedAt });

async function checkOwner(tx: TenantTx, input: AdminKeyInput): Promise<void> {
  if (input.user_id !== undefined) {
    const user = await usersRepo.get(tx, input.user_id);
    if (user === null) throw invalid('No such user.', 'user_id');
    if (user.status !== 'active') throw invalid('The user is disabled.', 'user_id');
    const roles = (await membershipsRepo.listForUser(tx, user.id)).map((m) => m.role);
    if (!roles.some((r) => r === input.role)) throw invalid(`The user does not hold the role ${input.role}; grant it first.`, 'role');
  }
  if (input.service_account_id !== undefined) {
    const account = await serviceAccountsRepo.get(tx, input.service_account_id);
    if (account === null) throw invalid('No such service account.', 'service_account_id');
    if (account.disabled) throw invalid('The service account is disabled.', 'service_account_id');
  }
}

/** `tx` runs in the key's scope; the caller has checked that `input.role` belongs to it. */
export async function createAdminKey(
  tx: TenantTx,
  actor: Actor,
  pepper: Buffer,
  input: AdminKeyInput,
  now: Date,
): Promise<{ key: AdminKeyRecord; secret: string }> {
  let expiresAt: Date | null = null;
  if (input.expires_at !== undefined && input.expires_at !== null) {
    expiresAt = new Date(input.expires_at);
    if (expiresAt.getTime() <= now.getTime()) throw invalid('expires_at must be in the future.', 'expires_at');
  }
  await checkOwner(tx, input);
  const generated = generateAdminKey(tx.tenantId);
  const key = await adminKeysRepo.insert(tx, {
    name: input.name,
    role: input.role,
    prefix: generated.prefix,
    hash: hashApiKey(generated.key, pepper),
    userId: input.user_id ?? null,
    serviceAccountId: input.service_account_id ?? null,
    createdBy: actor.principal.id,
    expiresAt,
  });
  await audit(tx, actor, 'admin_key.create', { kind: 'admin_key', id: key.id }, { after: view(key) });
  return { key, secret: generated.key };
}

export async function revokeAdminKey(tx: TenantTx, actor: Actor, id: string, ifMatch: IfMatch | null): Promise<AdminKeyRecord> {
  const before = await lockedForChange(() => adminKeysRepo.get(tx, id, { forUpdate: true }), 'admin key', ifMatch, false);
  const after = await adminKeysRepo.revoke(tx, id);
  if (after === null) throw notFound('admin key');
  if (before.revokedAt === null) await audit(tx, actor, 'admin_key.revoke', { kind: 'admin_key', id }, { before: view(before), after: view(after) });
  return after;
}
