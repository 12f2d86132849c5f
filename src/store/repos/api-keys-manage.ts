/**
 * The admin API's view of data-plane keys: every column the admin API manages (owner, CIDR
 * allow-list, rotation link, version), by id, paginated. Stores only the keyed hash, as
 * api-keys.ts does; the hash is never read back here.
 */
import type { Scope } from '../../tenancy/types.js';
import type { TenantTx } from '../types.js';
import { checkScopes, isUuid, onlyRow, toScopes } from './convert.js';
import { toPage, type Page, type PageRequest } from './page.js';

export type ApiKeyStatus = 'active' | 'revoked' | 'expired';

export interface ManagedApiKey {
  id: string;
  tenantId: string;
  teamId: string | null;
  name: string;
  prefix: string;
  scopes: Scope[];
  allowedModels: string[] | null;
  allowedCidrs: string[] | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  rotatedFrom: string | null;
  ownerUserId: string | null;
  ownerServiceAccountId: string | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

interface KeyRow {
  id: string;
  tenant_id: string;
  team_id: string | null;
  name: string;
  prefix: string;
  scopes: string[];
  allowed_models: string[] | null;
  allowed_cidrs: string[] | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  rotated_from: string | null;
  owner_user_id: string | null;
  owner_service_account_id: string | null;
  version: string | number;
  created_at: Date;
  updated_at: Date;
}

// cidr[] read as text[]: both drivers parse text arrays, neither parses cidr arrays.
const COLUMNS = `id, tenant_id, team_id, name, prefix, scopes, allowed_models, allowed_cidrs::text[] AS allowed_cidrs,
  expires_at, revoked_at, last_used_at, rotated_from, owner_user_id, owner_service_account_id, version, created_at, updated_at`;

function toRecord(r: KeyRow): ManagedApiKey {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    teamId: r.team_id,
    name: r.name,
    prefix: r.prefix,
    scopes: toScopes(r.scopes),
    allowedModels: r.allowed_models,
    allowedCidrs: r.allowed_cidrs,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
    rotatedFrom: r.rotated_from,
    ownerUserId: r.owner_user_id,
    ownerServiceAccountId: r.owner_service_account_id,
    version: Number(r.version),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function apiKeyStatus(k: Pick<ManagedApiKey, 'revokedAt' | 'expiresAt'>, now: Date): ApiKeyStatus {
  if (k.revokedAt !== null) return 'revoked';
  if (k.expiresAt !== null && k.expiresAt.getTime() <= now.getTime()) return 'expired';
  return 'active';
}

export interface NewManagedApiKey {
  teamId: string | null;
  name: string;
  prefix: string;
  hash: Buffer;
  scopes: readonly Scope[];
  allowedModels: readonly string[] | null;
  allowedCidrs: readonly string[] | null;
  expiresAt: Date | null;
  rotatedFrom: string | null;
  ownerUserId: string | null;
  ownerServiceAccountId: string | null;
}

export interface ApiKeyPatch {
  teamId?: string | null;
  name?: string;
  scopes?: readonly Scope[];
  allowedModels?: readonly string[] | null;
  allowedCidrs?: readonly string[] | null;
  expiresAt?: Date | null;
}

const copy = (v: readonly string[] | null | undefined): string[] | null => (v === undefined || v === null ? null : [...v]);

export const apiKeysManageRepo = {
  /** null: the hash is taken (a key belongs to exactly one tenant; never happens for generated keys). */
  async insert(tx: TenantTx, k: NewManagedApiKey): Promise<ManagedApiKey | null> {
    const { rows } = await tx.query<KeyRow>(
      `INSERT INTO api_keys (tenant_id, team_id, name, prefix, key_hash, scopes, allowed_models, allowed_cidrs, expires_at,
                             rotated_from, owner_user_id, owner_service_account_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::cidr[], $9, $10, $11, $12)
       ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
      [
        tx.tenantId,
        k.teamId,
        k.name,
        k.prefix,
        k.hash,
        checkScopes(k.scopes),
        copy(k.allowedModels),
        copy(k.allowedCidrs),
        k.expiresAt,
        k.rotatedFrom,
        k.ownerUserId,
        k.ownerServiceAccountId,
      ],
    );
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async get(tx: TenantTx, id: string, opts: { forUpdate?: boolean } = {}): Promise<ManagedApiKey | null> {
    if (!isUuid(id)) return null;
    const sql = opts.forUpdate
      ? `SELECT ${COLUMNS} FROM api_keys WHERE id = $1 FOR UPDATE`
      : `SELECT ${COLUMNS} FROM api_keys WHERE id = $1`;
    const { rows } = await tx.query<KeyRow>(sql, [id]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  /** Ordered by id; filters by team, status and name when given. */
  async list(
    tx: TenantTx,
    page: PageRequest,
    filter: { teamId?: string; status?: ApiKeyStatus; name?: string } = {},
  ): Promise<Page<ManagedApiKey>> {
    const { rows } = await tx.query<KeyRow>(
      `SELECT ${COLUMNS} FROM api_keys
       WHERE ($1::uuid IS NULL OR id > $1::uuid) AND ($2::uuid IS NULL OR team_id = $2::uuid)
         AND ($3::text IS NULL OR $3 = CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
                                              WHEN expires_at <= now() THEN 'expired' ELSE 'active' END)
         AND ($4::text IS NULL OR name = $4)
       ORDER BY id LIMIT $5`,
      [page.after, filter.teamId ?? null, filter.status ?? null, filter.name ?? null, page.limit + 1],
    );
    return toPage(rows, page, toRecord, (r) => r.id);
  },

  async update(tx: TenantTx, id: string, patch: ApiKeyPatch): Promise<ManagedApiKey> {
    const { rows } = await tx.query<KeyRow>(
      `UPDATE api_keys SET
         team_id = CASE WHEN $2 THEN $3::uuid ELSE team_id END,
         name = CASE WHEN $4 THEN $5 ELSE name END,
         scopes = CASE WHEN $6 THEN $7::text[] ELSE scopes END,
         allowed_models = CASE WHEN $8 THEN $9::text[] ELSE allowed_models END,
         allowed_cidrs = CASE WHEN $10 THEN $11::cidr[] ELSE allowed_cidrs END,
         expires_at = CASE WHEN $12 THEN $13::timestamptz ELSE expires_at END
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [
        id,
        patch.teamId !== undefined,
        patch.teamId ?? null,
        patch.name !== undefined,
        patch.name ?? null,
        patch.scopes !== undefined,
        patch.scopes === undefined ? null : checkScopes(patch.scopes),
        patch.allowedModels !== undefined,
        copy(patch.allowedModels),
        patch.allowedCidrs !== undefined,
        copy(patch.allowedCidrs),
        patch.expiresAt !== undefined,
        patch.expiresAt ?? null,
      ],
    );
    return toRecord(onlyRow(rows));
  },

  /** Revokes (idempotent); null if there is no such key. */
  async revoke(tx: TenantTx, id: string): Promise<ManagedApiKey | null> {
    if (!isUuid(id)) return null;
    const { rows } = await tx.query<KeyRow>(
      `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
      [id],
    );
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  /** Revokes every live key owned by this user or service account; returns their ids. */
  async revokeOwnedBy(tx: TenantTx, owner: { userId?: string; serviceAccountId?: string }): Promise<string[]> {
    const { rows } = await tx.query<{ id: string }>(
      `UPDATE api_keys SET revoked_at = now()
       WHERE revoked_at IS NULL AND (owner_user_id = $1::uuid OR owner_service_account_id = $2::uuid) RETURNING id`,
      [owner.userId ?? null, owner.serviceAccountId ?? null],
    );
    return rows.map((r) => r.id);
  },
};
