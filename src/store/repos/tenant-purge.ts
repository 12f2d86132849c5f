/**
 * Owner-only SQL of the tenant purge (src/tenancy/purge.ts): which tables hold tenant rows,
 * deleting one tenant's rows from them, and the purge's own bookkeeping on tenant_keyrings.
 *
 * Tables are read from the catalogue, never listed here: a table a later migration adds with a
 * tenant_id is purged without anyone remembering to. Table names are the only text put into SQL
 * here; they come from pg_class and are checked against a plain-identifier pattern and quoted.
 *
 * As in data-keys-admin.ts, the owner is bound by row-level security (FORCE) unless it is a
 * superuser, so every statement runs after `enterTenant` AND filters by tenant_id explicitly.
 */
import { assertDataStatement } from '../guard.js';
import type { AdminTx, PlatformTx, TenantTx } from '../types.js';

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

function quoted(table: string): string {
  if (!IDENT.test(table)) throw new Error(`unexpected table name in the catalogue: ${JSON.stringify(table)}`);
  return `"${table}"`;
}

/**
 * Orders tables so that every table comes before the tables it references (children first), so
 * deleting in this order never trips a foreign key that is not ON DELETE CASCADE.
 */
export function childrenFirst(tables: readonly string[], references: ReadonlyArray<{ child: string; parent: string }>): string[] {
  const set = new Set(tables);
  const children = new Map<string, Set<string>>(tables.map((t) => [t, new Set<string>()]));
  for (const { child, parent } of references) {
    if (child !== parent && set.has(child) && set.has(parent)) children.get(parent)?.add(child);
  }
  const out: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (t: string): void => {
    const s = state.get(t);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`foreign keys between tenant tables form a cycle through ${t}: the purge cannot order its deletes`);
    state.set(t, 'visiting');
    for (const c of [...(children.get(t) ?? [])].sort()) visit(c);
    state.set(t, 'done');
    out.push(t);
  };
  for (const t of [...tables].sort()) visit(t);
  return out;
}

export const tenantPurgeRepo = {
  /** Makes row-level security show this tenant's rows to the owner, for this transaction. */
  async enterTenant(tx: AdminTx, tenantId: string): Promise<void> {
    await tx.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
  },

  /** Tenants whose keys are shredded and whose rows are not purged yet. */
  async listDue(tx: PlatformTx): Promise<string[]> {
    const { rows } = await tx.query<{ tenant_id: string }>(
      'SELECT tenant_id FROM tenant_keyrings WHERE shredded_at IS NOT NULL AND purged_at IS NULL ORDER BY tenant_id',
    );
    return rows.map((r) => r.tenant_id);
  },

  /**
   * Locks the tenant's keyring row if it is (still) due; false if purged meanwhile. The tenant
   * must also be marked for deletion: shredded keys alone never make a tenant purgeable.
   */
  async lockDue(tx: AdminTx, tenantId: string): Promise<boolean> {
    const { rowCount } = await tx.query(
      `SELECT 1 FROM tenant_keyrings k JOIN tenants t ON t.id = k.tenant_id
       WHERE k.tenant_id = $1 AND k.shredded_at IS NOT NULL AND k.purged_at IS NULL AND t.deletion_requested_at IS NOT NULL
       FOR UPDATE OF k`,
      [tenantId],
    );
    return rowCount > 0;
  },

  /**
   * Every table of the schema with a tenant_id column (partitioned parents, not their partitions:
   * a delete through the parent reaches them), children before parents.
   */
  async tenantTables(tx: AdminTx): Promise<string[]> {
    const tables = await tx.query<{ relname: string }>(
      `SELECT c.relname FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
       WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition`,
    );
    const refs = await tx.query<{ child: string; parent: string }>(
      `SELECT ch.relname AS child, pa.relname AS parent FROM pg_constraint k
       JOIN pg_class ch ON ch.oid = k.conrelid
       JOIN pg_class pa ON pa.oid = k.confrelid
       JOIN pg_namespace n ON n.oid = ch.relnamespace
       WHERE k.contype = 'f' AND n.nspname = current_schema()`,
    );
    return childrenFirst(tables.rows.map((r) => r.relname), refs.rows);
  },

  /** Deletes the tenant's rows from `table`; the number deleted. */
  async deleteRows(tx: AdminTx, table: string, tenantId: string): Promise<number> {
    const { rowCount } = await tx.query(`DELETE FROM ${quoted(table)} WHERE tenant_id = $1`, [tenantId]);
    return rowCount;
  },

  /**
   * Whether the tenant has usage after the end of its last issued invoice (or any usage, with no
   * invoice): deleting the rollups then would take the only basis of its final invoice with them.
   */
  async hasUnbilledUsage(tx: AdminTx, tenantId: string): Promise<boolean> {
    const { rows } = await tx.query<{ unbilled: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM usage_rollups r
         WHERE r.tenant_id = $1 AND r.requests > 0
           AND r.bucket_start >= COALESCE((SELECT max(i.period_end) FROM invoices i WHERE i.tenant_id = $1), '-infinity'::timestamptz)
       ) AS unbilled`,
      [tenantId],
    );
    return rows[0]?.unbilled === true;
  },

  /**
   * Empties the tenant row down to what the kept records need: its id, slug and name (invoices
   * and the audit chain name it; the slug stays taken so no new tenant can be mistaken for it),
   * time zone (its invoices' periods) and the deletion timestamps. Settings, model lists, regions
   * and the plan go: a purged tenant must not keep a plan from being deleted.
   */
  async scrubTenant(tx: AdminTx, tenantId: string): Promise<void> {
    await tx.query(
      `UPDATE tenants SET status = 'suspended', settings = '{}'::jsonb, regions = '{}', allowed_models = NULL,
         plan_id = NULL, budget_action = NULL, updated_at = now()
       WHERE id = $1`,
      [tenantId],
    );
  },

  async markPurged(tx: AdminTx, tenantId: string, at: Date): Promise<void> {
    await tx.query('UPDATE tenant_keyrings SET purged_at = $2 WHERE tenant_id = $1', [tenantId, at]);
  },

  /**
   * Turns the rest of the owner's transaction into a tenant transaction as gatehouse_app (the
   * role every audit entry is written with), so the purge's audit entry commits or rolls back
   * with the purge. The owner's rights end here for this transaction.
   */
  async asTenant(tx: AdminTx, tenantId: string): Promise<TenantTx> {
    await tx.query("SELECT set_config('role', 'gatehouse_app', true), set_config('app.tenant_id', $1, true)", [tenantId]);
    return {
      scope: 'tenant',
      tenantId,
      query: (sql, params) => {
        assertDataStatement(sql);
        return tx.query(sql, params);
      },
    };
  },
};
