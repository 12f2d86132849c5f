/**
 * The plan (tier) catalogue (migration 0008). Readable in any tenant transaction and by the
 * platform role; written only in the platform scope (withTenant(PLATFORM_SCOPE_ID)), which
 * row-level security enforces below this code.
 *
 * Rules are stored as given: callers validate them with src/limits/rules-schema.ts first (it
 * reports the path of what is wrong; the table's CHECK only bounds shape and size), and readers
 * that act on them parse them again (planLimitsOf in src/limits/compose.ts), so a rule this version
 * cannot read (written by hand, or by a newer version) is never enforced half-understood.
 */
import type { BudgetAction, LimitRule } from '../../limits/types.js';
import { isUniqueViolation, SQLSTATE, sqlState } from '../errors.js';
import type { PlatformTx, TenantTx } from '../types.js';
import { isUuid } from './convert.js';
import { toPage, type Page, type PageRequest } from './page.js';

export interface PlanRecord {
  id: string;
  name: string;
  description: string;
  weight: number;
  budgetAction: BudgetAction;
  rules: LimitRule[];
  /** The plan's pricing document as stored (src/billing/plan-pricing.ts reads it); null: list prices, every feature. */
  pricing: unknown;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface PlanInput {
  name: string;
  description?: string;
  weight: number;
  budgetAction?: BudgetAction;
  rules: readonly LimitRule[];
}

export type PlanPatch = Partial<PlanInput>;

export type PlanResult = { ok: true; plan: PlanRecord } | { ok: false; reason: 'name_taken' };
export type PlanUpdateResult = PlanResult | { ok: false; reason: 'not_found' | 'version_mismatch' };
/**
 * `in_use`: a tenant is on the plan. The platform scope cannot see tenants (row-level security),
 * so only the RESTRICT foreign key finds out, as an error that aborts the transaction: the caller
 * must then throw (roll back and answer 409), not run more statements or commit. Check
 * `tenantCounts` through the platform role first to refuse cleanly in the common case.
 */
export type PlanRemoveResult = { ok: true } | { ok: false; reason: 'not_found' | 'version_mismatch' | 'in_use' };

interface PlanRow {
  id: string;
  name: string;
  description: string;
  weight: number;
  budget_action: BudgetAction;
  rules: unknown;
  pricing: unknown;
  version: string | number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, name, description, weight, budget_action, rules, pricing, version, created_at, updated_at';

function toRecord(r: PlanRow): PlanRecord {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    weight: r.weight,
    budgetAction: r.budget_action,
    rules: Array.isArray(r.rules) ? (r.rules as LimitRule[]) : [],
    pricing: r.pricing ?? null,
    version: Number(r.version),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function rulesParam(rules: readonly LimitRule[]): string {
  return JSON.stringify(rules);
}

type Readable = TenantTx | PlatformTx;

/** The reserved platform scope of migration 0003 (PLATFORM_SCOPE_ID in src/identity/roles.ts). */
const PLATFORM_SCOPE = '00000000-0000-0000-0000-000000000000';

/**
 * Row-level security would refuse a write from a tenant scope anyway (an error for an insert, no
 * row for an update or delete); saying so plainly keeps a caller bug from reading as "not found".
 */
function platformOnly(tx: TenantTx): void {
  if (tx.tenantId !== PLATFORM_SCOPE) throw new RangeError('plans are written only in the platform scope (withTenant(PLATFORM_SCOPE_ID))');
}

export const plansRepo = {
  async get(tx: Readable, id: string, opts: { forUpdate?: boolean } = {}): Promise<PlanRecord | null> {
    if (!isUuid(id)) return null;
    const sql = opts.forUpdate ? `SELECT ${COLUMNS} FROM plans WHERE id = $1 FOR UPDATE` : `SELECT ${COLUMNS} FROM plans WHERE id = $1`;
    const { rows } = await tx.query<PlanRow>(sql, [id]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async getByName(tx: Readable, name: string, opts: { forUpdate?: boolean } = {}): Promise<PlanRecord | null> {
    const sql = opts.forUpdate ? `SELECT ${COLUMNS} FROM plans WHERE name = $1 FOR UPDATE` : `SELECT ${COLUMNS} FROM plans WHERE name = $1`;
    const { rows } = await tx.query<PlanRow>(sql, [name]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  /** Ordered by name (unique), keyset-paginated. */
  async list(tx: Readable, page: PageRequest): Promise<Page<PlanRecord>> {
    const { rows } = await tx.query<PlanRow>(
      `SELECT ${COLUMNS} FROM plans WHERE ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2`,
      [page.after, page.limit + 1],
    );
    return toPage(rows, page, toRecord, (r) => r.name);
  },

  /** The whole catalogue (a handful of rows): the snapshot and configuration bootstrap. */
  async listAll(tx: Readable): Promise<PlanRecord[]> {
    const { rows } = await tx.query<PlanRow>(`SELECT ${COLUMNS} FROM plans ORDER BY name`);
    return rows.map(toRecord);
  },

  /** Platform scope only. */
  async create(tx: TenantTx, input: PlanInput): Promise<PlanResult> {
    platformOnly(tx);
    const { rows } = await tx.query<PlanRow>(
      `INSERT INTO plans (name, description, weight, budget_action, rules) VALUES ($1, $2, $3, $4, $5::jsonb)
       ON CONFLICT (name) DO NOTHING RETURNING ${COLUMNS}`,
      [input.name, input.description ?? '', input.weight, input.budgetAction ?? 'reject', rulesParam(input.rules)],
    );
    return rows[0] === undefined ? { ok: false, reason: 'name_taken' } : { ok: true, plan: toRecord(rows[0]) };
  },

  /**
   * Platform scope only. Changes the given fields; with `version` (an If-Match), only if the plan
   * is still at that version. A change reaches every tenant on the plan through the snapshot.
   */
  async update(tx: TenantTx, id: string, patch: PlanPatch, opts: { version?: number } = {}): Promise<PlanUpdateResult> {
    platformOnly(tx);
    if (!isUuid(id)) return { ok: false, reason: 'not_found' };
    if (patch.name !== undefined) {
      const other = await plansRepo.getByName(tx, patch.name);
      if (other !== null && other.id !== id) return { ok: false, reason: 'name_taken' };
    }
    let rows: PlanRow[];
    try {
      ({ rows } = await tx.query<PlanRow>(
        `UPDATE plans SET
           name = CASE WHEN $2 THEN $3 ELSE name END,
           description = CASE WHEN $4 THEN $5 ELSE description END,
           weight = CASE WHEN $6 THEN $7::integer ELSE weight END,
           budget_action = CASE WHEN $8 THEN $9 ELSE budget_action END,
           rules = CASE WHEN $10 THEN $11::jsonb ELSE rules END
         WHERE id = $1 AND ($12::bigint IS NULL OR version = $12::bigint) RETURNING ${COLUMNS}`,
        [
          id,
          patch.name !== undefined,
          patch.name ?? null,
          patch.description !== undefined,
          patch.description ?? null,
          patch.weight !== undefined,
          patch.weight ?? null,
          patch.budgetAction !== undefined,
          patch.budgetAction ?? null,
          patch.rules !== undefined,
          patch.rules === undefined ? null : rulesParam(patch.rules),
          opts.version ?? null,
        ],
      ));
    } catch (err) {
      // Renamed concurrently onto the same name; the transaction is aborted, the caller reports it.
      if (isUniqueViolation(err)) return { ok: false, reason: 'name_taken' };
      throw err;
    }
    if (rows[0] !== undefined) return { ok: true, plan: toRecord(rows[0]) };
    return (await plansRepo.get(tx, id)) === null ? { ok: false, reason: 'not_found' } : { ok: false, reason: 'version_mismatch' };
  },

  /** Platform scope only. A plan any tenant is on cannot be deleted (`in_use`). */
  async remove(tx: TenantTx, id: string, opts: { version?: number } = {}): Promise<PlanRemoveResult> {
    platformOnly(tx);
    if (!isUuid(id)) return { ok: false, reason: 'not_found' };
    try {
      const r = await tx.query('DELETE FROM plans WHERE id = $1 AND ($2::bigint IS NULL OR version = $2::bigint)', [id, opts.version ?? null]);
      if (r.rowCount > 0) return { ok: true };
    } catch (err) {
      const state = sqlState(err);
      if (state === SQLSTATE.restrictViolation || state === SQLSTATE.foreignKeyViolation) return { ok: false, reason: 'in_use' };
      throw err;
    }
    return (await plansRepo.get(tx, id)) === null ? { ok: false, reason: 'not_found' } : { ok: false, reason: 'version_mismatch' };
  },

  /**
   * How many tenants are on each plan (platform role: the count crosses tenants). Lets the admin
   * API refuse a deletion with a reason before the foreign key aborts the transaction.
   */
  async tenantCounts(tx: PlatformTx): Promise<Map<string, number>> {
    const { rows } = await tx.query<{ plan_id: string; n: number }>(
      'SELECT plan_id, count(*)::int AS n FROM tenants WHERE plan_id IS NOT NULL GROUP BY plan_id',
    );
    return new Map(rows.map((r) => [r.plan_id, r.n]));
  },
};
