/** User and membership bodies and views. Emails are personal data: tenant roles only. */
import { z } from 'zod';
import { TENANT_ROLES, type TenantRole } from '../../identity/roles.js';
import type { MembershipRecord, UserRecord } from '../../store/index.js';
import { displayName, iso, isoOut, uniqueList, uuid } from './common.js';

const email = z
  .email()
  .max(254)
  .transform((s) => s.toLowerCase());
const role = z.enum(TENANT_ROLES);

export const createUserBody = z.strictObject({
  email,
  name: displayName.optional(),
  roles: uniqueList(role, TENANT_ROLES.length).optional().describe('Tenant roles to grant at once.'),
});

export const patchUserBody = z
  .strictObject({
    email: email.optional(),
    name: displayName.optional(),
    status: z.enum(['active', 'disabled']).optional().describe("Disabled users' admin keys stop working."),
  })
  .refine((b) => Object.keys(b).length > 0, 'at least one field must be given');

export const userView = z.object({
  object: z.literal('user'),
  id: z.uuid(),
  email: z.string(),
  name: z.string(),
  status: z.enum(['active', 'disabled']),
  roles: z.array(role),
  created_at: isoOut,
  updated_at: isoOut,
});

export function presentUser(u: UserRecord, roles: readonly TenantRole[]): z.output<typeof userView> {
  return {
    object: 'user',
    id: u.id,
    email: u.email,
    name: u.name,
    status: u.status,
    roles: [...roles],
    created_at: iso(u.createdAt),
    updated_at: iso(u.updatedAt),
  };
}

export const createMembershipBody = z.strictObject({ user_id: uuid, role });

export const membershipView = z.object({
  object: z.literal('membership'),
  id: z.uuid(),
  user_id: z.uuid(),
  role,
  created_at: isoOut,
});

export function presentMembership(m: MembershipRecord): z.output<typeof membershipView> {
  return { object: 'membership', id: m.id, user_id: m.userId, role: m.role, created_at: iso(m.createdAt) };
}

export const userQuery = { status: z.enum(['active', 'disabled']).optional() };
export const membershipQuery = { user_id: uuid.optional(), role: role.optional() };
