/** A user's roles within the tenant; rows are immutable (change = delete + insert). */
import type { TenantRole } from '../../identity/roles.js';
import type { TenantTx } from '../types.js';
import { isUuid } from './convert.js';
import { toPage, type Page, type PageRequest } from './page.js';

export interface MembershipRecord {
  id: string;
  tenantId: string;
  userId: string;
  role: TenantRole;
  createdAt: Date;
}

interface MembershipRow {
  id: string;
  tenant_id: string;
  user_id: string;
  role: TenantRole;
  created_at: Date;
}

const COLUMNS = 'id, tenant_id, user_id, role, created_at';

function toRecord(r: MembershipRow): MembershipRecord {
  return { id: r.id, tenantId: r.tenant_id, userId: r.user_id, role: r.role, createdAt: r.created_at };
}

export type InsertMembershipResult = { ok: true; membership: MembershipRecord } | { ok: false; reason: 'exists' };

export const membershipsRepo = {
  /** The caller checks that the user exists in this tenant first (the foreign key backs it). */
  async insert(tx: TenantTx, input: { userId: string; role: TenantRole }): Promise<InsertMembershipResult> {
    const { rows } = await tx.query<MembershipRow>(
      `INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, user_id, role) DO NOTHING RETURNING ${COLUMNS}`,
      [tx.tenantId, input.userId, input.role],
    );
    return rows[0] === undefined ? { ok: false, reason: 'exists' } : { ok: true, membership: toRecord(rows[0]) };
  },

  async get(tx: TenantTx, id: string): Promise<MembershipRecord | null> {
    if (!isUuid(id)) return null;
    const { rows } = await tx.query<MembershipRow>(`SELECT ${COLUMNS} FROM memberships WHERE id = $1`, [id]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  /** Ordered by id; filters by user and role when given. */
  async list(
    tx: TenantTx,
    page: PageRequest,
    filter: { userId?: string; role?: TenantRole } = {},
  ): Promise<Page<MembershipRecord>> {
    const { rows } = await tx.query<MembershipRow>(
      `SELECT ${COLUMNS} FROM memberships
       WHERE ($1::uuid IS NULL OR id > $1::uuid) AND ($2::uuid IS NULL OR user_id = $2::uuid)
         AND ($3::text IS NULL OR role = $3)
       ORDER BY id LIMIT $4`,
      [page.after, filter.userId ?? null, filter.role ?? null, page.limit + 1],
    );
    return toPage(rows, page, toRecord, (r) => r.id);
  },

  async listForUser(tx: TenantTx, userId: string): Promise<MembershipRecord[]> {
    const { rows } = await tx.query<MembershipRow>(
      `SELECT ${COLUMNS} FROM memberships WHERE user_id = $1 ORDER BY role`,
      [userId],
    );
    return rows.map(toRecord);
  },

  async remove(tx: TenantTx, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    return (await tx.query('DELETE FROM memberships WHERE id = $1', [id])).rowCount > 0;
  },
};

/** Roles of several users at once (one query for a page of users). */
export async function rolesByUser(tx: TenantTx, userIds: readonly string[]): Promise<Map<string, TenantRole[]>> {
  const out = new Map<string, TenantRole[]>();
  if (userIds.length === 0) return out;
  const { rows } = await tx.query<{ user_id: string; role: TenantRole }>(
    'SELECT user_id, role FROM memberships WHERE user_id = ANY($1::uuid[]) ORDER BY role',
    [[...userIds]],
  );
  for (const r of rows) {
    const list = out.get(r.user_id);
    if (list) list.push(r.role);
    else out.set(r.user_id, [r.role]);
  }
  return out;
}
