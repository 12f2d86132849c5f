/** Non-human principals of a tenant: they own admin keys and data-plane keys. */
import type { TenantTx } from '../types.js';
import { isUuid, onlyRow } from './convert.js';
import { toPage, type Page, type PageRequest } from './page.js';

export interface ServiceAccountRecord {
  id: string;
  tenantId: string;
  name: string;
  description: string;
  disabled: boolean;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

interface ServiceAccountRow {
  id: string;
  tenant_id: string;
  name: string;
  description: string;
  disabled: boolean;
  version: string | number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, tenant_id, name, description, disabled, version, created_at, updated_at';

function toRecord(r: ServiceAccountRow): ServiceAccountRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    description: r.description,
    disabled: r.disabled,
    version: Number(r.version),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export type ServiceAccountResult = { ok: true; account: ServiceAccountRecord } | { ok: false; reason: 'name_taken' };

export interface ServiceAccountPatch {
  name?: string;
  description?: string;
  disabled?: boolean;
}

export const serviceAccountsRepo = {
  async insert(tx: TenantTx, input: { name: string; description: string }): Promise<ServiceAccountResult> {
    const { rows } = await tx.query<ServiceAccountRow>(
      `INSERT INTO service_accounts (tenant_id, name, description) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, name) DO NOTHING RETURNING ${COLUMNS}`,
      [tx.tenantId, input.name, input.description],
    );
    return rows[0] === undefined ? { ok: false, reason: 'name_taken' } : { ok: true, account: toRecord(rows[0]) };
  },

  async get(tx: TenantTx, id: string, opts: { forUpdate?: boolean } = {}): Promise<ServiceAccountRecord | null> {
    if (!isUuid(id)) return null;
    const sql = opts.forUpdate
      ? `SELECT ${COLUMNS} FROM service_accounts WHERE id = $1 FOR UPDATE`
      : `SELECT ${COLUMNS} FROM service_accounts WHERE id = $1`;
    const { rows } = await tx.query<ServiceAccountRow>(sql, [id]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async list(tx: TenantTx, page: PageRequest): Promise<Page<ServiceAccountRecord>> {
    const { rows } = await tx.query<ServiceAccountRow>(
      `SELECT ${COLUMNS} FROM service_accounts WHERE ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2`,
      [page.after, page.limit + 1],
    );
    return toPage(rows, page, toRecord, (r) => r.name);
  },

  async update(tx: TenantTx, id: string, patch: ServiceAccountPatch): Promise<ServiceAccountResult> {
    if (patch.name !== undefined) {
      const { rows } = await tx.query<{ id: string }>('SELECT id FROM service_accounts WHERE name = $1', [patch.name]);
      if (rows[0] !== undefined && rows[0].id !== id) return { ok: false, reason: 'name_taken' };
    }
    const { rows } = await tx.query<ServiceAccountRow>(
      `UPDATE service_accounts SET
         name = CASE WHEN $2 THEN $3 ELSE name END,
         description = CASE WHEN $4 THEN $5 ELSE description END,
         disabled = CASE WHEN $6 THEN $7::boolean ELSE disabled END
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [
        id,
        patch.name !== undefined,
        patch.name ?? null,
        patch.description !== undefined,
        patch.description ?? null,
        patch.disabled !== undefined,
        patch.disabled ?? null,
      ],
    );
    return { ok: true, account: toRecord(onlyRow(rows)) };
  },

  /** Its admin keys go with it; its data-plane keys lose their owner (revoke them first). */
  async remove(tx: TenantTx, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    return (await tx.query('DELETE FROM service_accounts WHERE id = $1', [id])).rowCount > 0;
  },
};
