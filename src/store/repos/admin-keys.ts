/**
 * Admin API credentials, stored as HMAC hashes. Every statement runs inside the scope the key
 * belongs to (a tenant, or the platform scope id): see src/identity/admin-keys.ts.
 */
import type { Role } from '../../identity/roles.js';
import type { TenantTx } from '../types.js';
import { isUuid, onlyRow } from './convert.js';
import { toPage, type Page, type PageRequest } from './page.js';

export interface AdminKeyRecord {
  id: string;
  tenantId: string;
  name: string;
  role: Role;
  prefix: string;
  userId: string | null;
  serviceAccountId: string | null;
  createdBy: string;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

interface AdminKeyRow {
  id: string;
  tenant_id: string;
  name: string;
  role: Role;
  prefix: string;
  user_id: string | null;
  service_account_id: string | null;
  created_by: string;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  version: string | number;
  created_at: Date;
  updated_at: Date;
}

// Never key_hash: nothing outside authentication needs it.
const COLUMNS =
  'id, tenant_id, name, role, prefix, user_id, service_account_id, created_by, expires_at, revoked_at, last_used_at, version, created_at, updated_at';

function toRecord(r: AdminKeyRow): AdminKeyRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    role: r.role,
    prefix: r.prefix,
    userId: r.user_id,
    serviceAccountId: r.service_account_id,
    createdBy: r.created_by,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
    version: Number(r.version),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export interface NewAdminKey {
  name: string;
  role: Role;
  prefix: string;
  hash: Buffer;
  userId: string | null;
  serviceAccountId: string | null;
  createdBy: string;
  expiresAt: Date | null;
}

/** What authentication needs to decide, in one round trip. */
export interface AdminCredential {
  id: string;
  role: Role;
  expiresAt: Date | null;
  revoked: boolean;
  /** False when the owning user lost the key's role or was disabled, or the account is disabled. */
  ownerActive: boolean;
  /** The tenant's slug; null in the platform scope (or if the tenant row is gone). */
  tenantSlug: string | null;
  tenantDeleting: boolean;
}

interface CredentialRow {
  id: string;
  role: Role;
  expires_at: Date | null;
  revoked: boolean;
  owner_active: boolean;
  tenant_slug: string | null;
  tenant_deleting: boolean | null;
}

export const adminKeysRepo = {
  async insert(tx: TenantTx, k: NewAdminKey): Promise<AdminKeyRecord> {
    const { rows } = await tx.query<AdminKeyRow>(
      `INSERT INTO admin_keys (tenant_id, name, role, prefix, key_hash, user_id, service_account_id, created_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
      [tx.tenantId, k.name, k.role, k.prefix, k.hash, k.userId, k.serviceAccountId, k.createdBy, k.expiresAt],
    );
    return toRecord(onlyRow(rows));
  },

  async findCredential(tx: TenantTx, hash: Buffer): Promise<AdminCredential | null> {
    const { rows } = await tx.query<CredentialRow>(
      `SELECT k.id, k.role, k.expires_at, k.revoked_at IS NOT NULL AS revoked,
              (k.service_account_id IS NULL OR EXISTS (
                 SELECT 1 FROM service_accounts s WHERE s.id = k.service_account_id AND NOT s.disabled))
              AND (k.user_id IS NULL OR EXISTS (
                 SELECT 1 FROM users u JOIN memberships m ON m.user_id = u.id
                 WHERE u.id = k.user_id AND u.status = 'active' AND m.role = k.role)) AS owner_active,
              t.slug AS tenant_slug, t.deletion_requested_at IS NOT NULL AS tenant_deleting
       FROM admin_keys k LEFT JOIN tenants t ON t.id = k.tenant_id
       WHERE k.key_hash = $1`,
      [hash],
    );
    const r = rows[0];
    if (r === undefined) return null;
    return {
      id: r.id,
      role: r.role,
      expiresAt: r.expires_at,
      revoked: r.revoked,
      ownerActive: r.owner_active,
      tenantSlug: r.tenant_slug,
      tenantDeleting: r.tenant_deleting === true,
    };
  },

  /**
   * Ids of this scope's admin keys with this public prefix: names the key a failed login claimed
   * to be, for the audit log (src/identity/admin-auth.ts).
   */
  async idsByPrefix(tx: TenantTx, prefix: string): Promise<string[]> {
    const { rows } = await tx.query<{ id: string }>('SELECT id FROM admin_keys WHERE prefix = $1 ORDER BY id LIMIT 2', [prefix]);
    return rows.map((r) => r.id);
  },

  /** Moves a key hashed with a previous master key's pepper onto the current one (compare-and-set). */
  async rehash(tx: TenantTx, id: string, from: Buffer, to: Buffer): Promise<void> {
    await tx.query('UPDATE admin_keys SET key_hash = $3 WHERE id = $1 AND key_hash = $2', [id, from, to]);
  },

  /** Records use at most once a minute per key: attribution without a write per request. */
  async touch(tx: TenantTx, id: string): Promise<void> {
    await tx.query(
      `UPDATE admin_keys SET last_used_at = now()
       WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`,
      [id],
    );
  },

  async get(tx: TenantTx, id: string, opts: { forUpdate?: boolean } = {}): Promise<AdminKeyRecord | null> {
    if (!isUuid(id)) return null;
    const sql = opts.forUpdate
      ? `SELECT ${COLUMNS} FROM admin_keys WHERE id = $1 FOR UPDATE`
      : `SELECT ${COLUMNS} FROM admin_keys WHERE id = $1`;
    const { rows } = await tx.query<AdminKeyRow>(sql, [id]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async list(tx: TenantTx, page: PageRequest, filter: { role?: Role; active?: boolean } = {}): Promise<Page<AdminKeyRecord>> {
    const { rows } = await tx.query<AdminKeyRow>(
      `SELECT ${COLUMNS} FROM admin_keys
       WHERE ($1::uuid IS NULL OR id > $1::uuid) AND ($2::text IS NULL OR role = $2)
         AND ($3::boolean IS NULL OR (revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())) = $3::boolean)
       ORDER BY id LIMIT $4`,
      [page.after, filter.role ?? null, filter.active ?? null, page.limit + 1],
    );
    return toPage(rows, page, toRecord, (r) => r.id);
  },

  /** Revokes (idempotent); null if there is no such key. */
  async revoke(tx: TenantTx, id: string): Promise<AdminKeyRecord | null> {
    if (!isUuid(id)) return null;
    const { rows } = await tx.query<AdminKeyRow>(
      `UPDATE admin_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
      [id],
    );
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  /** Revokes every key owned by this user or service account; returns their ids. */
  async revokeOwnedBy(tx: TenantTx, owner: { userId?: string; serviceAccountId?: string }): Promise<string[]> {
    const { rows } = await tx.query<{ id: string }>(
      `UPDATE admin_keys SET revoked_at = now()
       WHERE revoked_at IS NULL AND (user_id = $1::uuid OR service_account_id = $2::uuid) RETURNING id`,
      [owner.userId ?? null, owner.serviceAccountId ?? null],
    );
    return rows.map((r) => r.id);
  },
};
