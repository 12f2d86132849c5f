/** Declarative tenant policies: JSON documents validated by the admin API before they land here. */
import type { TenantTx } from '../types.js';
import { isUuid, onlyRow } from './convert.js';
import { toPage, type Page, type PageRequest } from './page.js';

export interface PolicyRecord {
  id: string;
  tenantId: string;
  name: string;
  description: string;
  enabled: boolean;
  document: Record<string, unknown>;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

interface PolicyRow {
  id: string;
  tenant_id: string;
  name: string;
  description: string;
  enabled: boolean;
  document: Record<string, unknown>;
  version: string | number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, tenant_id, name, description, enabled, document, version, created_at, updated_at';

function toRecord(r: PolicyRow): PolicyRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    description: r.description,
    enabled: r.enabled,
    document: r.document,
    version: Number(r.version),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export type PolicyResult = { ok: true; policy: PolicyRecord } | { ok: false; reason: 'name_taken' };

export interface PolicyInput {
  name: string;
  description: string;
  enabled: boolean;
  document: Record<string, unknown>;
}

export type PolicyPatch = Partial<PolicyInput>;

export const policiesRepo = {
  async insert(tx: TenantTx, input: PolicyInput): Promise<PolicyResult> {
    const { rows } = await tx.query<PolicyRow>(
      `INSERT INTO policies (tenant_id, name, description, enabled, document) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (tenant_id, name) DO NOTHING RETURNING ${COLUMNS}`,
      [tx.tenantId, input.name, input.description, input.enabled, JSON.stringify(input.document)],
    );
    return rows[0] === undefined ? { ok: false, reason: 'name_taken' } : { ok: true, policy: toRecord(rows[0]) };
  },

  async get(tx: TenantTx, id: string, opts: { forUpdate?: boolean } = {}): Promise<PolicyRecord | null> {
    if (!isUuid(id)) return null;
    const sql = opts.forUpdate
      ? `SELECT ${COLUMNS} FROM policies WHERE id = $1 FOR UPDATE`
      : `SELECT ${COLUMNS} FROM policies WHERE id = $1`;
    const { rows } = await tx.query<PolicyRow>(sql, [id]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async getByName(tx: TenantTx, name: string, opts: { forUpdate?: boolean } = {}): Promise<PolicyRecord | null> {
    const sql = opts.forUpdate
      ? `SELECT ${COLUMNS} FROM policies WHERE name = $1 FOR UPDATE`
      : `SELECT ${COLUMNS} FROM policies WHERE name = $1`;
    const { rows } = await tx.query<PolicyRow>(sql, [name]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async list(tx: TenantTx, page: PageRequest, filter: { enabled?: boolean } = {}): Promise<Page<PolicyRecord>> {
    const { rows } = await tx.query<PolicyRow>(
      `SELECT ${COLUMNS} FROM policies
       WHERE ($1::text IS NULL OR name > $1) AND ($2::boolean IS NULL OR enabled = $2::boolean)
       ORDER BY name LIMIT $3`,
      [page.after, filter.enabled ?? null, page.limit + 1],
    );
    return toPage(rows, page, toRecord, (r) => r.name);
  },

  async update(tx: TenantTx, id: string, patch: PolicyPatch): Promise<PolicyResult> {
    if (patch.name !== undefined) {
      const other = await policiesRepo.getByName(tx, patch.name);
      if (other !== null && other.id !== id) return { ok: false, reason: 'name_taken' };
    }
    const { rows } = await tx.query<PolicyRow>(
      `UPDATE policies SET
         name = CASE WHEN $2 THEN $3 ELSE name END,
         description = CASE WHEN $4 THEN $5 ELSE description END,
         enabled = CASE WHEN $6 THEN $7::boolean ELSE enabled END,
         document = CASE WHEN $8 THEN $9::jsonb ELSE document END
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [
        id,
        patch.name !== undefined,
        patch.name ?? null,
        patch.description !== undefined,
        patch.description ?? null,
        patch.enabled !== undefined,
        patch.enabled ?? null,
        patch.document !== undefined,
        patch.document === undefined ? null : JSON.stringify(patch.document),
      ],
    );
    return { ok: true, policy: toRecord(onlyRow(rows)) };
  },

  async remove(tx: TenantTx, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    return (await tx.query('DELETE FROM policies WHERE id = $1', [id])).rowCount > 0;
  },
};
