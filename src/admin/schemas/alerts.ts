/** Alerts, their webhook deliveries, budget forecasts and the tenant's alert settings. */
import { z } from 'zod';
import { ANOMALY_ACTIONS, alertSettingsSchema, type EffectiveAlertSettings } from '../../billing/alerts/settings.js';
import type { Forecast } from '../../billing/alerts/forecast.js';
import type { AlertSummary, DeliveryRecord, StoredThrottle } from '../../store/index.js';
import { iso, isoOut } from './common.js';

export const alertKind = z.enum(['budget.threshold', 'budget.forecast', 'usage.anomaly', 'webhook.test']);

export const alertView = z.object({
  object: z.literal('alert'),
  id: z.uuid().describe('Also the webhook event id (x-gatehouse-event-id).'),
  kind: alertKind,
  key: z.string().describe('What the alert is about, e.g. budget:<rule>:<counter>:<period>:<threshold>; one alert per key.'),
  data: z.record(z.string(), z.unknown()),
  created_at: isoOut,
  resolved_at: isoOut.nullable().describe('When the alert ended (resolved by an admin, or by the job); null while open.'),
  resolved_by: z
    .string()
    .nullable()
    .describe('`system:pattern_normal` (the anomaly is over), `system:ended` (budget window reset, test event), or the admin who resolved it.'),
  deliveries: z.object({ pending: z.number().int(), delivered: z.number().int(), failed: z.number().int() }),
});

export function presentAlert(a: AlertSummary): z.output<typeof alertView> {
  return {
    object: 'alert',
    id: a.id,
    kind: a.kind,
    key: a.alertKey,
    data: a.payload,
    created_at: iso(a.createdAt),
    resolved_at: iso(a.resolvedAt),
    resolved_by: a.resolvedBy,
    deliveries: a.deliveries,
  };
}

export const deliveryView = z.object({
  object: z.literal('alert_delivery'),
  id: z.uuid(),
  webhook_id: z.uuid(),
  state: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  next_attempt_at: isoOut.nullable().describe('When a pending delivery is tried next.'),
  last_status: z.number().int().nullable().describe('HTTP status of the last attempt; null: no response.'),
  last_error: z.string().nullable(),
  delivered_at: isoOut.nullable(),
  created_at: isoOut,
  updated_at: isoOut,
});

export function presentDelivery(d: DeliveryRecord): z.output<typeof deliveryView> {
  return {
    object: 'alert_delivery',
    id: d.id,
    webhook_id: d.webhookId,
    state: d.state,
    attempts: d.attempts,
    next_attempt_at: d.state === 'pending' ? iso(d.nextAttemptAt) : null,
    last_status: d.lastStatus,
    last_error: d.lastError,
    delivered_at: iso(d.deliveredAt),
    created_at: iso(d.createdAt),
    updated_at: iso(d.updatedAt),
  };
}

export const alertsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50).describe('Page size, 1 to 200.'),
  cursor: z.string().min(1).max(1024).optional().describe('The next_cursor of the previous page.'),
  kind: alertKind.optional(),
  state: z.enum(['open', 'resolved']).optional().describe('Only open (unresolved) or only resolved alerts.'),
});

export const forecastView = z.object({
  object: z.literal('forecast'),
  time_zone: z.string(),
  lookback_hours: z.number().int(),
  generated_at: isoOut,
  rules: z.array(
    z.object({
      rule_id: z.string(),
      scope: z.string(),
      subject: z.string().nullable().describe('The team, key or end user of the counter; null: tenant-wide.'),
      metric: z.string(),
      window: z.enum(['day', 'month']),
      used: z.number().describe('Settled usage this window (rollups, or the limit counter when it is ahead).'),
      reserved: z.number().describe('Held by requests admitted but not finished (in flight or queued), from the limit counter; 0 when unreadable.'),
      limit: z.number(),
      rate_per_hour: z.number().describe('Consumption per hour over the lookback.'),
      exhausts_at: isoOut.nullable().describe('When used + reserved reaches the limit at this rate; null: not before the window resets.'),
      window_resets_at: isoOut,
    }),
  ),
});

export function presentForecasts(fs: readonly (Forecast & { scope: string })[]) {
  return fs.map((f) => ({
    rule_id: f.ruleId,
    scope: f.scope,
    subject: f.subject,
    metric: f.metric,
    window: f.window,
    used: f.used,
    reserved: f.reserved,
    limit: f.limit,
    rate_per_hour: Math.round(f.ratePerHour * 1000) / 1000,
    exhausts_at: f.exhaustsAt === null ? null : new Date(f.exhaustsAt).toISOString(),
    window_resets_at: new Date(f.resetAt).toISOString(),
  }));
}

export const alertSettingsView = z.object({
  object: z.literal('alert_settings'),
  budget_thresholds: z.array(z.number().int()).describe('Percentages of each day/month cost budget that raise an alert.'),
  anomaly_action: z.enum(ANOMALY_ACTIONS),
  anomaly_throttle_fraction: z.number().describe('With `throttle`: the share of the expected hourly rate still admitted while an anomaly is open.'),
  retention_days: z.number().int().describe('Days resolved alerts and finished webhook deliveries are kept.'),
  throttles: z
    .array(
      z.object({
        metric: z.enum(['requests', 'cost']),
        window: z.enum(['minute', 'hour']),
        limit: z.number().int().describe('Requests, or spend in micro-units, admitted per window.'),
        alert_id: z.uuid().describe('The open anomaly alert; resolving it lifts the throttle.'),
        since: isoOut,
      }),
    )
    .describe('Throttles in force now.'),
});

export function presentSettings(
  s: EffectiveAlertSettings,
  defaultRetentionDays: number,
  throttles: readonly StoredThrottle[],
): z.output<typeof alertSettingsView> {
  return {
    object: 'alert_settings',
    budget_thresholds: [...s.budgetThresholds],
    anomaly_action: s.anomalyAction,
    anomaly_throttle_fraction: s.throttleFraction,
    retention_days: s.retentionDays ?? defaultRetentionDays,
    throttles: throttles.map((t) => ({ metric: t.metric, window: t.window, limit: t.limit, alert_id: t.alertId, since: iso(t.createdAt) })),
  };
}

/** A field given replaces the stored one; null restores its default. */
export const patchAlertSettingsBody = z
  .strictObject({
    budget_thresholds: alertSettingsSchema.shape.budgetThresholds.unwrap().nullable().optional(),
    anomaly_action: alertSettingsSchema.shape.anomalyAction.unwrap().nullable().optional(),
    anomaly_throttle_fraction: alertSettingsSchema.shape.anomalyThrottleFraction.unwrap().nullable().optional(),
    retention_days: alertSettingsSchema.shape.retentionDays.unwrap().nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'at least one field must be given');
