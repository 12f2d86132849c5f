/** Admin API key bodies and views (tenant and platform scope). */
import { z } from 'zod';
import { PLATFORM_ROLES, ROLES, TENANT_ROLES } from '../../identity/roles.js';
import type { AdminKeyRecord } from '../../store/index.js';
import { displayName, iso, isoOut, timestamp, uuid } from './common.js';

export const createTenantAdminKeyBody = z
  .strictObject({
    name: displayName,
    role: z.enum(TENANT_ROLES),
    user_id: uuid.optional().describe('Bind the key to a user: it works only while the user is active and holds `role`.'),
    service_account_id: uuid.optional().describe('Bind the key to a service account: it stops working when the account is disabled.'),
    expires_at: timestamp.nullable().optional(),
  })
  .refine((b) => b.user_id === undefined || b.service_account_id === undefined, 'give user_id or service_account_id, not both');

export const createPlatformAdminKeyBody = z.strictObject({
  name: displayName,
  role: z.enum(PLATFORM_ROLES),
  expires_at: timestamp.nullable().optional(),
});

export const adminKeyView = z.object({
  object: z.literal('admin_key'),
  id: z.uuid(),
  name: z.string(),
  role: z.enum(ROLES),
  prefix: z.string(),
  user_id: z.uuid().nullable(),
  service_account_id: z.uuid().nullable(),
  created_by: z.string(),
  status: z.enum(['active', 'revoked', 'expired']),
  expires_at: isoOut.nullable(),
  revoked_at: isoOut.nullable(),
  last_used_at: isoOut.nullable(),
  created_at: isoOut,
  key: z.string().nullable().optional().describe('The secret: only in the response that created it; null in idempotent replays.'),
});

export function presentAdminKey(k: AdminKeyRecord, now: Date): z.output<typeof adminKeyView> {
  const status = k.revokedAt !== null ? 'revoked' : k.expiresAt !== null && k.expiresAt.getTime() <= now.getTime() ? 'expired' : 'active';
  return {
    object: 'admin_key',
    id: k.id,
    name: k.name,
    role: k.role,
    prefix: k.prefix,
    user_id: k.userId,
    service_account_id: k.serviceAccountId,
    created_by: k.createdBy,
    status,
    expires_at: iso(k.expiresAt),
    revoked_at: iso(k.revokedAt),
    last_used_at: iso(k.lastUsedAt),
    created_at: iso(k.createdAt),
  };
}

export const adminKeyQuery = {
  role: z.enum(ROLES).optional(),
  active: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
};
