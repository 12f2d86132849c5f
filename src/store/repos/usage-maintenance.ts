/**
 * Upkeep of the usage tables (migration 0013), run by the owner: monthly partitions made ahead,
 * old ones dropped, and each tenant's raw events past its retention deleted. The gateway role
 * has no DELETE on raw events; retention deletes as the owner with the tenant set, because FORCE
 * row-level security binds the owner too (a non-superuser owner sees no rows without it).
 */
import type { AdminTx, PlatformTx, Queryable, TenantTx } from '../types.js';

export const usageMaintenanceRepo = {
  /**
   * Whether this connection can do the upkeep: it owns usage_events (or is a superuser). Any
   * role may ask: it reads the catalogue only.
   */
  async canMaintain(tx: Queryable): Promise<boolean> {
    const { rows } = await tx.query<{ owner: boolean }>(
      `SELECT coalesce((SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass('usage_events')), false) AS owner`,
    );
    return rows[0]?.owner === true;
  },

  /**
   * The UTC months from `from`'s month to `monthsAhead` after it that have no partition attached
   * ('2026_12'), oldest first. Reads the catalogue only, so the gateway role may check what it
   * may not create: an event of such a month lands in the default partition.
   */
  async missingPartitions(tx: Queryable, from: Date, monthsAhead: number): Promise<string[]> {
    const { rows } = await tx.query<{ month: string }>(
      `SELECT to_char(m, 'YYYY_MM') AS month
       FROM generate_series(date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC'),
                            date_trunc('month', $1::timestamptz AT TIME ZONE 'UTC') + make_interval(months => $2::int),
                            interval '1 month') AS m
       WHERE NOT EXISTS (
         SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = to_regclass('usage_events') AND c.relname = 'usage_events_' || to_char(m, 'YYYY_MM'))
       ORDER BY m`,
      [from.toISOString(), monthsAhead],
    );
    return rows.map((r) => r.month);
  },

  /**
   * How many monthly partitions usage_events has (0 before migration 0013 made the table).
   * Catalogue only. `gatehouse migrate` counts them before and after: the migration that makes
   * the table makes the first months' partitions itself.
   */
  async monthlyPartitions(tx: Queryable): Promise<number> {
    const { rows } = await tx.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = to_regclass('usage_events') AND c.relname ~ '^usage_events_[0-9]{4}_[0-9]{2}$'`,
    );
    return rows[0]?.n ?? 0;
  },

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
