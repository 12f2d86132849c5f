/**
 * Data-plane API key bodies and views. The secret appears once, in the creation (or rotation)
 * response; it is never stored, logged, audited or replayed. Per-field views: billing sees what
 * chargeback needs; the platform admin sees metadata without key material or owners.
 */
import { z } from 'zod';
import type { Role } from '../../identity/roles.js';
import { apiKeyStatus, type ManagedApiKey } from '../../store/index.js';
import { cidr, displayName, iso, isoOut, modelName, scopes, timestamp, uniqueList, uuid } from './common.js';

export const owner = z
  .union([z.strictObject({ user_id: uuid }), z.strictObject({ service_account_id: uuid })])
  .describe('Who the key is for: a user or a service account of the tenant.');

const cidrs = uniqueList(cidr, 64)
  .nullable()
  .describe('Source networks allowed to use the key (checked against the client address); null: any.');

export const createApiKeyBody = z.strictObject({
  name: displayName,
  team_id: uuid.nullable().optional(),
  scopes: scopes.default(['inference', 'models:read']),
  allowed_models: uniqueList(modelName, 500).nullable().optional().describe("Narrows the tenant's models; null: the tenant's list."),
  allowed_cidrs: cidrs.optional(),
  expires_at: timestamp.nullable().optional(),
  owner: owner.nullable().optional(),
});

export const patchApiKeyBody = z
  .strictObject({
    name: displayName.optional(),
    team_id: uuid.nullable().optional(),
    scopes: scopes.optional(),
    allowed_models: uniqueList(modelName, 500).nullable().optional(),
    allowed_cidrs: cidrs.optional(),
    expires_at: timestamp.nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'at least one field must be given');

/** Rotation: a new key now, the old one keeps working for the grace period (at most 30 days). */
export const rotateApiKeyBody = z.strictObject({
  grace_period_seconds: z.number().int().min(0).max(30 * 24 * 3600).default(24 * 3600),
});

export const apiKeyView = z.object({
  object: z.literal('api_key'),
  id: z.uuid(),
  name: z.string(),
  team_id: z.uuid().nullable(),
  status: z.enum(['active', 'revoked', 'expired']),
  created_at: isoOut,
  prefix: z.string().optional().describe('Public lookup prefix; not shown to billing or platform roles.'),
  scopes: z.array(z.string()).optional(),
  allowed_models: z.array(z.string()).nullable().optional(),
  allowed_cidrs: z.array(z.string()).nullable().optional(),
  expires_at: isoOut.nullable().optional(),
  revoked_at: isoOut.nullable().optional(),
  last_used_at: isoOut.nullable().optional(),
  rotated_from: z.uuid().nullable().optional(),
  owner: z.object({ user_id: z.uuid().nullable(), service_account_id: z.uuid().nullable() }).optional(),
  updated_at: isoOut.optional(),
  key: z.string().nullable().optional().describe('The secret: only in the response that created it; null in idempotent replays.'),
});
export type ApiKeyView = z.output<typeof apiKeyView>;

export function presentApiKey(k: ManagedApiKey, role: Role, now: Date): ApiKeyView {
  const base: ApiKeyView = { object: 'api_key', id: k.id, name: k.name, team_id: k.teamId, status: apiKeyStatus(k, now), created_at: iso(k.createdAt) };
  if (role === 'tenant_billing') return base;
  const meta = { ...base, scopes: k.scopes, expires_at: iso(k.expiresAt), revoked_at: iso(k.revokedAt), last_used_at: iso(k.lastUsedAt) };
  if (role === 'platform_admin') return meta;
  return {
    ...meta,
    prefix: k.prefix,
    allowed_models: k.allowedModels,
    allowed_cidrs: k.allowedCidrs,
    rotated_from: k.rotatedFrom,
    owner: { user_id: k.ownerUserId, service_account_id: k.ownerServiceAccountId },
    updated_at: iso(k.updatedAt),
  };
}

export const apiKeyQuery = {
  team_id: uuid.optional(),
  status: z.enum(['active', 'revoked', 'expired']).optional(),
  name: displayName.optional(),
};
