/**
 * Upkeep of the usage tables (migration 0010), run by the owner: monthly partitions made ahead,
 * old ones dropped, and each tenant's raw events past its retention deleted. The gateway role
 * has no DELETE on raw events; retention deletes as the owner with the tenant set, because FORCE
 * row-level security binds the owner too (a non-superuser owner sees no rows without it).
 */
import type { AdminTx, PlatformTx, TenantTx } from '../types.js';

export const usageMaintenanceRepo = {
  /** Makes the partition of each UTC month in [from's month, from's month + monthsAhead]; returns how many were new. */
  async ensurePartitions(tx: AdminTx, from: Date, monthsAhead: number): Promise<number> {
    const { rows } = await tx.query<{ made: number }>(
      `SELECT count(*) FILTER (WHERE gatehouse_usage_ensure_partition(((($1::timestamptz AT TIME ZONE 'UTC')::date) + make_interval(months => k))::date))::int AS made
       FROM generate_series(0, $2::int) AS k`,
      [from.toISOString(), monthsAhead],
    );
    return rows[0]?.made ?? 0;
  },

  /** Drops monthly partitions wholly before `before`; returns how many. */
  async dropPartitionsBefore(tx: AdminTx, before: Date): Promise<number> {
    const { rows } = await tx.query<{ n: number }>('SELECT gatehouse_usage_drop_partitions($1) AS n', [before.toISOString()]);
    return rows[0]?.n ?? 0;
  },

  /** Every tenant id (the platform role reads tenant metadata). */
  async tenantIds(tx: PlatformTx): Promise<string[]> {
    const { rows } = await tx.query<{ id: string }>('SELECT id FROM tenants ORDER BY id');
    return rows.map((r) => r.id);
  },

  /** The tenant's `usageRetentionDays` setting, when it is a positive integer. */
  async retentionDays(tx: TenantTx): Promise<number | undefined> {
    const { rows } = await tx.query<{ days: unknown }>("SELECT settings -> 'usageRetentionDays' AS days FROM tenants WHERE id = $1", [tx.tenantId]);
    const days = rows[0]?.days;
    return typeof days === 'number' && Number.isInteger(days) && days > 0 ? days : undefined;
  },

  /** Deletes the tenant's raw events older than `before` (rollups stay); returns how many. */
  async deleteEventsBefore(tx: AdminTx, tenantId: string, before: Date): Promise<number> {
    await tx.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    const { rowCount } = await tx.query('DELETE FROM usage_events WHERE tenant_id = $1 AND occurred_at < $2', [tenantId, before.toISOString()]);
    await tx.query("SELECT set_config('app.tenant_id', '', true)");
    return rowCount;
  },
};
