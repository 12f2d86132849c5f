/** Users of a tenant (a person in two tenants is two rows: nothing is shared across tenants). */
import type { TenantTx } from '../types.js';
import { isUuid, onlyRow } from './convert.js';
import { toPage, type Page, type PageRequest } from './page.js';

export type UserStatus = 'active' | 'disabled';

export interface UserRecord {
  id: string;
  tenantId: string;
  email: string;
  name: string;
  status: UserStatus;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

interface UserRow {
  id: string;
  tenant_id: string;
  email: string;
  name: string;
  status: UserStatus;
  version: string | number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, tenant_id, email, name, status, version, created_at, updated_at';

function toRecord(r: UserRow): UserRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    email: r.email,
    name: r.name,
    status: r.status,
    version: Number(r.version),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export type InsertUserResult = { ok: true; user: UserRecord } | { ok: false; reason: 'email_taken' };

export interface UserPatch {
  email?: string;
  name?: string;
  status?: UserStatus;
}

export const usersRepo = {
  async insert(tx: TenantTx, input: { email: string; name: string }): Promise<InsertUserResult> {
    const { rows } = await tx.query<UserRow>(
      `INSERT INTO users (tenant_id, email, name) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, email) DO NOTHING RETURNING ${COLUMNS}`,
      [tx.tenantId, input.email.toLowerCase(), input.name],
    );
    return rows[0] === undefined ? { ok: false, reason: 'email_taken' } : { ok: true, user: toRecord(rows[0]) };
  },

  async get(tx: TenantTx, id: string, opts: { forUpdate?: boolean } = {}): Promise<UserRecord | null> {
    if (!isUuid(id)) return null;
    const sql = opts.forUpdate
      ? `SELECT ${COLUMNS} FROM users WHERE id = $1 FOR UPDATE`
      : `SELECT ${COLUMNS} FROM users WHERE id = $1`;
    const { rows } = await tx.query<UserRow>(sql, [id]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async getByEmail(tx: TenantTx, email: string): Promise<UserRecord | null> {
    const { rows } = await tx.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE email = $1`, [email.toLowerCase()]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  /** Ordered by email; `status` filters when given. */
  async list(tx: TenantTx, page: PageRequest, filter: { status?: UserStatus } = {}): Promise<Page<UserRecord>> {
    const { rows } = await tx.query<UserRow>(
      `SELECT ${COLUMNS} FROM users
       WHERE ($1::text IS NULL OR email > $1) AND ($2::text IS NULL OR status = $2)
       ORDER BY email LIMIT $3`,
      [page.after, filter.status ?? null, page.limit + 1],
    );
    return toPage(rows, page, toRecord, (r) => r.email);
  },

  /** `email_taken` when the new email belongs to another user of this tenant. */
  async update(tx: TenantTx, id: string, patch: UserPatch): Promise<InsertUserResult> {
    if (patch.email !== undefined) {
      const other = await usersRepo.getByEmail(tx, patch.email);
      if (other !== null && other.id !== id) return { ok: false, reason: 'email_taken' };
    }
    const { rows } = await tx.query<UserRow>(
      `UPDATE users SET
         email = CASE WHEN $2 THEN $3 ELSE email END,
         name = CASE WHEN $4 THEN $5 ELSE name END,
         status = CASE WHEN $6 THEN $7 ELSE status END
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [
        id,
        patch.email !== undefined,
        patch.email?.toLowerCase() ?? null,
        patch.name !== undefined,
        patch.name ?? null,
        patch.status !== undefined,
        patch.status ?? null,
      ],
    );
    return { ok: true, user: toRecord(onlyRow(rows)) };
  },

  /** Memberships and the user's admin keys go with it (foreign keys cascade). */
  async remove(tx: TenantTx, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    return (await tx.query('DELETE FROM users WHERE id = $1', [id])).rowCount > 0;
  },
};
