/** Teams within a tenant (slug unique per tenant). */
import type { PlatformTx, TenantTx } from '../types.js';
import { isUuid, onlyRow } from './convert.js';

export interface TeamRecord {
  id: string;
  tenantId: string;
  slug: string;
  name: string;
  createdAt: Date;
}

interface TeamRow {
  id: string;
  tenant_id: string;
  slug: string;
  name: string;
  created_at: Date;
}

const COLUMNS = 'id, tenant_id, slug, name, created_at';

function toRecord(r: TeamRow): TeamRecord {
  return { id: r.id, tenantId: r.tenant_id, slug: r.slug, name: r.name, createdAt: r.created_at };
}

export const teamsRepo = {
  /** Creates the team, or renames the existing team with this slug. */
  async upsert(tx: TenantTx, input: { slug: string; name: string }): Promise<TeamRecord> {
    const { rows } = await tx.query<TeamRow>(
      `INSERT INTO teams (tenant_id, slug, name) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, slug) DO UPDATE SET name = EXCLUDED.name
       RETURNING ${COLUMNS}`,
      [tx.tenantId, input.slug, input.name],
    );
    return toRecord(onlyRow(rows));
  },

  async getBySlug(tx: TenantTx, slug: string): Promise<TeamRecord | null> {
    const { rows } = await tx.query<TeamRow>(`SELECT ${COLUMNS} FROM teams WHERE slug = $1`, [slug]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async list(tx: TenantTx): Promise<TeamRecord[]> {
    const { rows } = await tx.query<TeamRow>(`SELECT ${COLUMNS} FROM teams ORDER BY slug`);
    return rows.map(toRecord);
  },

  /** True if the team existed in this tenant. Fails (foreign key) while keys still use it. */
  async remove(tx: TenantTx, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const r = await tx.query('DELETE FROM teams WHERE id = $1', [id]);
    return r.rowCount > 0;
  },

  async listAll(tx: PlatformTx): Promise<TeamRecord[]> {
    const { rows } = await tx.query<TeamRow>(`SELECT ${COLUMNS} FROM teams ORDER BY tenant_id, slug`);
    return rows.map(toRecord);
  },
};
