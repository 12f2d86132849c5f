/**
 * Open anomaly throttles (migration 0019): one row per tenant and metric while an anomaly with
 * the `throttle` action is open. The snapshot reads them with the limit sources (every tenant
 * through the platform role, or one tenant in its own transaction); the alert job and the admin
 * API open and lift them in the tenant's transaction, and the table's NOTIFY triggers tell every
 * replica.
 */
import type { AnomalyThrottle, ThrottleMetric } from '../../limits/throttle.js';
import type { PlatformTx, TenantTx } from '../types.js';

interface ThrottleRow {
  tenant_id: string;
  metric: ThrottleMetric;
  alert_id: string;
  window: 'minute' | 'hour';
  limit: string | number;
  created_at: Date;
}

export interface StoredThrottle extends AnomalyThrottle {
  tenantId: string;
  createdAt: Date;
}

const COLUMNS = 'tenant_id, metric, alert_id, "window", "limit", created_at';

const toThrottle = (r: ThrottleRow): StoredThrottle => ({
  tenantId: r.tenant_id,
  metric: r.metric,
  alertId: r.alert_id,
  window: r.window,
  limit: Number(r.limit),
  createdAt: r.created_at,
});

export const anomalyThrottlesRepo = {
  /** Every open throttle the transaction can see: all tenants' (platform) or its own tenant's. */
  async list(tx: PlatformTx | TenantTx): Promise<StoredThrottle[]> {
    const { rows } = await tx.query<ThrottleRow>(`SELECT ${COLUMNS} FROM anomaly_throttles ORDER BY tenant_id, metric`);
    return rows.map(toThrottle);
  },

  /** Opens (or replaces: a newer anomaly of the same metric sets the rate) the tenant's throttle. */
  async open(tx: TenantTx, t: AnomalyThrottle): Promise<StoredThrottle> {
    const { rows } = await tx.query<ThrottleRow>(
      `INSERT INTO anomaly_throttles (tenant_id, metric, alert_id, "window", "limit") VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant_id, metric) DO UPDATE
         SET alert_id = EXCLUDED.alert_id, "window" = EXCLUDED."window", "limit" = EXCLUDED."limit", created_at = now()
       RETURNING ${COLUMNS}`,
      [tx.tenantId, t.metric, t.alertId, t.window, t.limit],
    );
    const row = rows[0];
    if (row === undefined) throw new Error('expected the throttle upsert to return a row');
    return toThrottle(row);
  },

  /** Lifts the throttles an alert set; returns what was lifted. */
  async liftForAlert(tx: TenantTx, alertId: string): Promise<StoredThrottle[]> {
    const { rows } = await tx.query<ThrottleRow>(`DELETE FROM anomaly_throttles WHERE tenant_id = $1 AND alert_id = $2 RETURNING ${COLUMNS}`, [
      tx.tenantId,
      alertId,
    ]);
    return rows.map(toThrottle);
  },

  /** Lifts the tenant's throttle of `metric` (every metric when null); returns what was lifted. */
  async lift(tx: TenantTx, metric: ThrottleMetric | null): Promise<StoredThrottle[]> {
    const { rows } = await tx.query<ThrottleRow>(
      `DELETE FROM anomaly_throttles WHERE tenant_id = $1 AND ($2::text IS NULL OR metric = $2::text) RETURNING ${COLUMNS}`,
      [tx.tenantId, metric],
    );
    return rows.map(toThrottle);
  },
};
