/**
 * Alerts and their webhook outbox (migration 0014). Raising is idempotent per (tenant, alert key)
 * and writes one delivery per subscribed webhook in the same statement's transaction; workers
 * claim due deliveries with SKIP LOCKED and a lease, and record outcomes only while they hold it.
 */
import { randomUUID } from 'node:crypto';
import type { PlatformTx, TenantTx } from '../types.js';
import { isUuid } from './convert.js';

export type AlertKind = 'budget.threshold' | 'budget.forecast' | 'usage.anomaly' | 'webhook.test';
export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface AlertRecord {
  id: string;
  tenantId: string;
  kind: AlertKind;
  alertKey: string;
  payload: Record<string, unknown>;
  createdAt: Date;
  /** When the alert ended (an admin resolved it, or the job: pattern normal again, window reset); null while open. */
  resolvedAt: Date | null;
  /** Who resolved it: `system:<reason>` or the admin principal. */
  resolvedBy: string | null;
}

export interface AlertSummary extends AlertRecord {
  deliveries: { pending: number; delivered: number; failed: number };
}

export interface DeliveryRecord {
  id: string;
  alertId: string;
  webhookId: string;
  state: DeliveryState;
  attempts: number;
  nextAttemptAt: Date;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** One end user's usage of one model on one deployment over a span (forecasts). */
export interface EndUserTotals {
  endUser: string;
  model: string;
  deploymentId: string | null;
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costMicros: number;
}

/** A delivery this worker holds until `claimId`'s lease runs out. */
export interface ClaimedDelivery {
  id: string;
  claimId: string;
  alert: AlertRecord;
  webhookId: string;
  url: string;
  /** Including the attempt about to be made. */
  attempts: number;
}

export type DeliveryOutcome =
  | { kind: 'delivered'; status: number }
  | { kind: 'retry'; status: number | null; error: string; inMs: number }
  | { kind: 'failed'; status: number | null; error: string };

interface AlertRow {
  id: string;
  tenant_id: string;
  kind: AlertKind;
  alert_key: string;
  payload: Record<string, unknown>;
  created_at: Date;
  resolved_at: Date | null;
  resolved_by: string | null;
}

interface DeliveryRow {
  id: string;
  alert_id: string;
  webhook_id: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: Date;
  last_status: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const ALERT_COLUMNS = 'id, tenant_id, kind, alert_key, payload, created_at, resolved_at, resolved_by';
const DELIVERY_COLUMNS = 'id, alert_id, webhook_id, state, attempts, next_attempt_at, last_status, last_error, delivered_at, created_at, updated_at';

const toAlert = (r: AlertRow): AlertRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  kind: r.kind,
  alertKey: r.alert_key,
  payload: typeof r.payload === 'string' ? (JSON.parse(r.payload) as Record<string, unknown>) : r.payload,
  createdAt: r.created_at,
  resolvedAt: r.resolved_at,
  resolvedBy: r.resolved_by,
});

const toDelivery = (r: DeliveryRow): DeliveryRecord => ({
  id: r.id,
  alertId: r.alert_id,
  webhookId: r.webhook_id,
  state: r.state,
  attempts: Number(r.attempts),
  nextAttemptAt: r.next_attempt_at,
  lastStatus: r.last_status === null ? null : Number(r.last_status),
  lastError: r.last_error,
  deliveredAt: r.delivered_at,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** Webhooks subscribe by exact event name or by a `prefix.*` pattern. */
const SUBSCRIBED = `w.tenant_id = $1 AND w.enabled
  AND ($3 = ANY (w.events) OR EXISTS (SELECT 1 FROM unnest(w.events) AS e WHERE e LIKE '%.*' AND starts_with($3, left(e, -1))))`;

export const alertsRepo = {
  /**
   * Records the alert unless one with this key exists, and queues a delivery to every enabled
   * webhook subscribed to its kind (`allWebhooks`: to every enabled webhook, for test events).
   * null when the alert was already raised (by anyone). `resolvedBy`: raised already resolved (a
   * test event is over once sent).
   */
  async raise(
    tx: TenantTx,
    input: { kind: AlertKind; alertKey: string; payload: Record<string, unknown>; allWebhooks?: boolean; resolvedBy?: string },
  ): Promise<{ alert: AlertRecord; deliveries: number } | null> {
    const { rows } = await tx.query<AlertRow>(
      `INSERT INTO alerts (tenant_id, id, kind, alert_key, payload, resolved_at, resolved_by)
       VALUES ($1, $2, $3, $4, $5::jsonb, CASE WHEN $6::text IS NULL THEN NULL ELSE date_trunc('milliseconds', now()) END, $6::text)
       ON CONFLICT (tenant_id, alert_key) DO NOTHING RETURNING ${ALERT_COLUMNS}`,
      [tx.tenantId, randomUUID(), input.kind, input.alertKey, JSON.stringify(input.payload), input.resolvedBy ?? null],
    );
    const row = rows[0];
    if (row === undefined) return null;
    const queued = await tx.query(
      `INSERT INTO alert_deliveries (tenant_id, id, alert_id, webhook_id)
       SELECT $1, gen_random_uuid(), $2, w.id FROM webhooks w WHERE (${SUBSCRIBED}) OR ($4 AND w.tenant_id = $1 AND w.enabled)`,
      [tx.tenantId, row.id, input.kind, input.allWebhooks === true],
    );
    return { alert: toAlert(row), deliveries: queued.rowCount };
  },

  async exists(tx: TenantTx, alertKey: string): Promise<boolean> {
    const { rows } = await tx.query('SELECT 1 FROM alerts WHERE tenant_id = $1 AND alert_key = $2', [tx.tenantId, alertKey]);
    return rows.length > 0;
  },

  async get(tx: TenantTx, id: string): Promise<AlertRecord | null> {
    if (!isUuid(id)) return null;
    const { rows } = await tx.query<AlertRow>(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE tenant_id = $1 AND id = $2`, [tx.tenantId, id]);
    return rows[0] === undefined ? null : toAlert(rows[0]);
  },

  /** One alert with its delivery counts; null when it does not exist (or is another tenant's). */
  async summary(tx: TenantTx, id: string): Promise<AlertSummary | null> {
    if (!isUuid(id)) return null;
    const alert = await alertsRepo.get(tx, id);
    if (alert === null) return null;
    const { rows } = await tx.query<{ state: DeliveryState; n: string }>(
      'SELECT state, count(*)::text AS n FROM alert_deliveries WHERE tenant_id = $1 AND alert_id = $2 GROUP BY state',
      [tx.tenantId, id],
    );
    const n = (state: DeliveryState) => Number(rows.find((r) => r.state === state)?.n ?? 0);
    return { ...alert, deliveries: { pending: n('pending'), delivered: n('delivered'), failed: n('failed') } };
  },

  /** Newest first; `before` is the (created_at, id) of the last alert of the previous page. */
  async list(
    tx: TenantTx,
    opts: { limit: number; before?: { createdAt: Date; id: string } | null; kind?: AlertKind | null; state?: 'open' | 'resolved' | null },
  ): Promise<AlertSummary[]> {
    const { rows } = await tx.query<AlertRow & { pending: string; delivered: string; failed: string }>(
      `SELECT a.id, a.tenant_id, a.kind, a.alert_key, a.payload, a.created_at, a.resolved_at, a.resolved_by,
              count(*) FILTER (WHERE d.state = 'pending')::text AS pending,
              count(*) FILTER (WHERE d.state = 'delivered')::text AS delivered,
              count(*) FILTER (WHERE d.state = 'failed')::text AS failed
       FROM alerts a LEFT JOIN alert_deliveries d ON d.tenant_id = a.tenant_id AND d.alert_id = a.id
       WHERE a.tenant_id = $1 AND ($2::timestamptz IS NULL OR (a.created_at, a.id) < ($2::timestamptz, $3::uuid))
         AND ($5::text IS NULL OR a.kind = $5::text)
         AND ($6::text IS NULL OR (a.resolved_at IS NULL) = ($6::text = 'open'))
       GROUP BY a.tenant_id, a.id
       ORDER BY a.created_at DESC, a.id DESC LIMIT $4`,
      [tx.tenantId, opts.before?.createdAt.toISOString() ?? null, opts.before?.id ?? null, opts.limit, opts.kind ?? null, opts.state ?? null],
    );
    return rows.map((r) => ({ ...toAlert(r), deliveries: { pending: Number(r.pending), delivered: Number(r.delivered), failed: Number(r.failed) } }));
  },

  async deliveries(tx: TenantTx, alertId: string): Promise<DeliveryRecord[]> {
    if (!isUuid(alertId)) return [];
    const { rows } = await tx.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM alert_deliveries WHERE tenant_id = $1 AND alert_id = $2 ORDER BY created_at, id`,
      [tx.tenantId, alertId],
    );
    return rows.map(toDelivery);
  },

  /**
   * Claims up to `limit` due deliveries for `leaseMs`: rows another worker holds (row lock or
   * live lease) are skipped, so two workers never hold the same delivery.
   */
  async claimDue(tx: TenantTx, opts: { limit: number; leaseMs: number }): Promise<ClaimedDelivery[]> {
    const claimId = randomUUID();
    const { rows } = await tx.query<{ id: string; alert_id: string; webhook_id: string; attempts: number }>(
      `WITH due AS (
         SELECT id FROM alert_deliveries
         WHERE tenant_id = $1 AND state = 'pending' AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until <= now())
         ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
       UPDATE alert_deliveries d
       SET lease_until = now() + $3 * interval '1 millisecond', claim_id = $4, attempts = d.attempts + 1, updated_at = now()
       FROM due WHERE d.tenant_id = $1 AND d.id = due.id
       RETURNING d.id, d.alert_id, d.webhook_id, d.attempts`,
      [tx.tenantId, opts.limit, opts.leaseMs, claimId],
    );
    if (rows.length === 0) return [];
    const alertIds = [...new Set(rows.map((r) => r.alert_id))];
    const hookIds = [...new Set(rows.map((r) => r.webhook_id))];
    const alerts = await tx.query<AlertRow>(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE tenant_id = $1 AND id = ANY ($2::uuid[])`, [tx.tenantId, alertIds]);
    const hooks = await tx.query<{ id: string; url: string }>('SELECT id, url FROM webhooks WHERE tenant_id = $1 AND id = ANY ($2::uuid[])', [tx.tenantId, hookIds]);
    const alertById = new Map(alerts.rows.map((a) => [a.id, toAlert(a)]));
    const urlById = new Map(hooks.rows.map((h) => [h.id, h.url]));
    const claimed: ClaimedDelivery[] = [];
    for (const r of rows) {
      const alert = alertById.get(r.alert_id);
      const url = urlById.get(r.webhook_id);
      if (alert === undefined || url === undefined) continue;
      claimed.push({ id: r.id, claimId, alert, webhookId: r.webhook_id, url, attempts: Number(r.attempts) });
    }
    return claimed;
  },

  /** Records an attempt's outcome; false when the claim was lost (lease expired, another worker took it). */
  async complete(tx: TenantTx, d: { id: string; claimId: string }, outcome: DeliveryOutcome): Promise<boolean> {
    const state: DeliveryState = outcome.kind === 'retry' ? 'pending' : outcome.kind;
    const error = outcome.kind === 'delivered' ? null : outcome.error.slice(0, 1024);
    const inMs = outcome.kind === 'retry' ? outcome.inMs : 0;
    const r = await tx.query(
      `UPDATE alert_deliveries
       SET state = $4, last_status = $5, last_error = $6, lease_until = NULL, claim_id = NULL, updated_at = now(),
           next_attempt_at = CASE WHEN $4 = 'pending' THEN now() + $7 * interval '1 millisecond' ELSE next_attempt_at END,
           delivered_at = CASE WHEN $4 = 'delivered' THEN now() ELSE delivered_at END
       WHERE tenant_id = $1 AND id = $2 AND claim_id = $3 AND state = 'pending'`,
      [tx.tenantId, d.id, d.claimId, state, outcome.status, error, inMs],
    );
    return r.rowCount > 0;
  },

  /** Tenants with deliveries due now (the platform role sees only tenant, state and due time). */
  async dueTenants(tx: PlatformTx, limit: number): Promise<string[]> {
    const { rows } = await tx.query<{ tenant_id: string }>(
      `SELECT DISTINCT tenant_id FROM alert_deliveries WHERE state = 'pending' AND next_attempt_at <= now() LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.tenant_id);
  },

  /**
   * This tenant's hourly totals over every team, key and model, for buckets in [from, to).
   * `requests` counts refusals too (they are metered); `refused` is the 4xx part of it.
   */
  async hourlyTotals(tx: TenantTx, from: Date, to: Date): Promise<{ bucketStart: Date; requests: number; refused: number; costMicros: number }[]> {
    const { rows } = await tx.query<{ bucket_start: Date; requests: string; refused: string; cost_micros: string }>(
      `SELECT bucket_start, sum(requests)::text AS requests, sum(cost_micros)::text AS cost_micros,
              coalesce(sum(requests) FILTER (WHERE status_class = 'client_error'), 0)::text AS refused
       FROM usage_rollups WHERE tenant_id = $1 AND granularity = 'hour' AND bucket_start >= $2 AND bucket_start < $3
       GROUP BY bucket_start ORDER BY bucket_start`,
      [tx.tenantId, from.toISOString(), to.toISOString()],
    );
    return rows.map((r) => ({ bucketStart: r.bucket_start, requests: Number(r.requests), refused: Number(r.refused), costMicros: Number(r.cost_micros) }));
  },

  /**
   * Raw events of this tenant in [from, to) that name an end user, summed per user, model and
   * deployment: the only record of end users (rollups have none), for forecasts of user-scoped
   * rules. Reads the raw events of the span, so callers keep it short (the forecast lookback);
   * at most `limit` groups, the busiest first.
   */
  async endUserTotals(tx: TenantTx, from: Date, to: Date, limit: number): Promise<EndUserTotals[]> {
    const { rows } = await tx.query<{ end_user: string; model: string; deployment_id: string | null; requests: string; input_tokens: string; output_tokens: string; cost_micros: string }>(
      `SELECT end_user, model, deployment_id, count(*)::text AS requests, sum(input_tokens)::text AS input_tokens,
              sum(output_tokens)::text AS output_tokens, sum(cost_micros)::text AS cost_micros
       FROM usage_events WHERE tenant_id = $1 AND occurred_at >= $2 AND occurred_at < $3 AND end_user IS NOT NULL
       GROUP BY end_user, model, deployment_id ORDER BY count(*) DESC, end_user LIMIT $4`,
      [tx.tenantId, from.toISOString(), to.toISOString(), limit],
    );
    return rows.map((r) => ({
      endUser: r.end_user,
      model: r.model,
      deploymentId: r.deployment_id,
      requests: Number(r.requests),
      inputTokens: Number(r.input_tokens),
      outputTokens: Number(r.output_tokens),
      costMicros: Number(r.cost_micros),
    }));
  },

  /** Resolves one open alert; null when it does not exist or was resolved already. */
  async resolve(tx: TenantTx, id: string, by: string): Promise<AlertRecord | null> {
    if (!isUuid(id)) return null;
    const { rows } = await tx.query<AlertRow>(
      `UPDATE alerts SET resolved_at = date_trunc('milliseconds', now()), resolved_by = $3
       WHERE tenant_id = $1 AND id = $2 AND resolved_at IS NULL RETURNING ${ALERT_COLUMNS}`,
      [tx.tenantId, id, by],
    );
    return rows[0] === undefined ? null : toAlert(rows[0]);
  },

  /** Resolves every open alert of `kind` whose key starts with `keyPrefix`; returns them. */
  async resolveOpen(tx: TenantTx, kind: AlertKind, keyPrefix: string, by: string): Promise<AlertRecord[]> {
    const { rows } = await tx.query<AlertRow>(
      `UPDATE alerts SET resolved_at = date_trunc('milliseconds', now()), resolved_by = $4
       WHERE tenant_id = $1 AND kind = $2 AND resolved_at IS NULL AND starts_with(alert_key, $3) RETURNING ${ALERT_COLUMNS}`,
      [tx.tenantId, kind, keyPrefix, by],
    );
    return rows.map(toAlert);
  },

  /**
   * Resolves the alerts that end by themselves: a budget threshold or forecast once its window
   * has reset (`window_resets_at` in its payload is past `now`), a test event at once. Returns how many.
   */
  async resolveEnded(tx: TenantTx, now: Date, by: string): Promise<number> {
    const r = await tx.query(
      `UPDATE alerts SET resolved_at = date_trunc('milliseconds', now()), resolved_by = $3
       WHERE tenant_id = $1 AND resolved_at IS NULL
         AND (kind = 'webhook.test'
              OR (kind IN ('budget.threshold', 'budget.forecast') AND jsonb_typeof(payload -> 'window_resets_at') = 'string'
                  AND (payload ->> 'window_resets_at')::timestamptz <= $2))`,
      [tx.tenantId, now.toISOString(), by],
    );
    return r.rowCount;
  },

  /**
   * Retention: deletes deliveries that are over (delivered or failed) and last changed before
   * `before`, then resolved alerts resolved before `before` with no delivery still pending (the
   * outbox keeps what it must deliver), at most `limit` of each. Returns how many of each.
   */
  async purge(tx: TenantTx, before: Date, limit: number): Promise<{ alerts: number; deliveries: number }> {
    const deliveries = await tx.query(
      `DELETE FROM alert_deliveries WHERE tenant_id = $1 AND id IN (
         SELECT id FROM alert_deliveries WHERE tenant_id = $1 AND state <> 'pending' AND updated_at < $2 LIMIT $3)`,
      [tx.tenantId, before.toISOString(), limit],
    );
    const alerts = await tx.query(
      `DELETE FROM alerts WHERE tenant_id = $1 AND id IN (
         SELECT a.id FROM alerts a WHERE a.tenant_id = $1 AND a.resolved_at < $2
           AND NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.tenant_id = a.tenant_id AND d.alert_id = a.id AND d.state = 'pending')
         LIMIT $3)`,
      [tx.tenantId, before.toISOString(), limit],
    );
    return { alerts: alerts.rowCount, deliveries: deliveries.rowCount };
  },

  /** The tenant's `alerts` settings object ({} when unset). */
  async settings(tx: TenantTx): Promise<Record<string, unknown>> {
    const { rows } = await tx.query<{ alerts: Record<string, unknown> | string | null }>(
      `SELECT settings -> 'alerts' AS alerts FROM tenants WHERE id = $1`,
      [tx.tenantId],
    );
    const v = rows[0]?.alerts ?? null;
    if (v === null) return {};
    return typeof v === 'string' ? (JSON.parse(v) as Record<string, unknown>) : v;
  },

  /** Replaces the tenant's `alerts` settings object; false when the tenant does not exist. */
  async setSettings(tx: TenantTx, value: Record<string, unknown>): Promise<boolean> {
    const r = await tx.query(`UPDATE tenants SET settings = jsonb_set(settings, '{alerts}', $2::jsonb, true) WHERE id = $1`, [
      tx.tenantId,
      JSON.stringify(value),
    ]);
    return r.rowCount > 0;
  },
};
