/** The admin API's view of teams: by id, with versions, paginated. */
import { SQLSTATE, sqlState } from '../errors.js';
import type { TenantTx } from '../types.js';
import { isUuid, onlyRow } from './convert.js';
import { toPage, type Page, type PageRequest } from './page.js';

export interface ManagedTeam {
  id: string;
  tenantId: string;
  slug: string;
  name: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

interface TeamRow {
  id: string;
  tenant_id: string;
  slug: string;
  name: string;
  version: string | number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, tenant_id, slug, name, version, created_at, updated_at';

function toRecord(r: TeamRow): ManagedTeam {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    slug: r.slug,
    name: r.name,
    version: Number(r.version),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export type TeamResult = { ok: true; team: ManagedTeam } | { ok: false; reason: 'slug_taken' };
export type RemoveTeamResult = { ok: true } | { ok: false; reason: 'not_found' | 'in_use' };

export const teamsManageRepo = {
  async insert(tx: TenantTx, input: { slug: string; name: string }): Promise<TeamResult> {
    const { rows } = await tx.query<TeamRow>(
      `INSERT INTO teams (tenant_id, slug, name) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, slug) DO NOTHING RETURNING ${COLUMNS}`,
      [tx.tenantId, input.slug, input.name],
    );
    return rows[0] === undefined ? { ok: false, reason: 'slug_taken' } : { ok: true, team: toRecord(rows[0]) };
  },

  async get(tx: TenantTx, id: string, opts: { forUpdate?: boolean } = {}): Promise<ManagedTeam | null> {
    if (!isUuid(id)) return null;
    const sql = opts.forUpdate ? `SELECT ${COLUMNS} FROM teams WHERE id = $1 FOR UPDATE` : `SELECT ${COLUMNS} FROM teams WHERE id = $1`;
    const { rows } = await tx.query<TeamRow>(sql, [id]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async getBySlug(tx: TenantTx, slug: string): Promise<ManagedTeam | null> {
    const { rows } = await tx.query<TeamRow>(`SELECT ${COLUMNS} FROM teams WHERE slug = $1`, [slug]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async list(tx: TenantTx, page: PageRequest): Promise<Page<ManagedTeam>> {
    const { rows } = await tx.query<TeamRow>(
      `SELECT ${COLUMNS} FROM teams WHERE ($1::text IS NULL OR slug > $1) ORDER BY slug LIMIT $2`,
      [page.after, page.limit + 1],
    );
    return toPage(rows, page, toRecord, (r) => r.slug);
  },

  async update(tx: TenantTx, id: string, patch: { slug?: string; name?: string }): Promise<TeamResult> {
    if (patch.slug !== undefined) {
      const other = await teamsManageRepo.getBySlug(tx, patch.slug);
      if (other !== null && other.id !== id) return { ok: false, reason: 'slug_taken' };
    }
    const { rows } = await tx.query<TeamRow>(
      `UPDATE teams SET slug = CASE WHEN $2 THEN $3 ELSE slug END, name = CASE WHEN $4 THEN $5 ELSE name END
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, patch.slug !== undefined, patch.slug ?? null, patch.name !== undefined, patch.name ?? null],
    );
    return { ok: true, team: toRecord(onlyRow(rows)) };
  },

  /** `in_use` while any key (revoked ones too: they keep their history) belongs to the team. */
  async remove(tx: TenantTx, id: string): Promise<RemoveTeamResult> {
    if (!isUuid(id)) return { ok: false, reason: 'not_found' };
    const used = await tx.query('SELECT 1 FROM api_keys WHERE team_id = $1 LIMIT 1', [id]);
    if (used.rowCount > 0) return { ok: false, reason: 'in_use' };
    try {
      const r = await tx.query('DELETE FROM teams WHERE id = $1', [id]);
      return r.rowCount > 0 ? { ok: true } : { ok: false, reason: 'not_found' };
    } catch (err) {
      // A key inserted concurrently; the transaction is aborted anyway, the caller reports it.
      if (sqlState(err) === SQLSTATE.foreignKeyViolation) return { ok: false, reason: 'in_use' };
      throw err;
    }
  },
};
