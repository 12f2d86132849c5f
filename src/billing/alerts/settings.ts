/** A tenant's alert settings (tenants.settings.alerts), validated where they are written and read. */
import { z } from 'zod';

export const DEFAULT_BUDGET_THRESHOLDS: readonly number[] = [50, 80, 100];
/** A throttled tenant is admitted at this share of its expected (normal) rate unless it sets its own. */
export const DEFAULT_THROTTLE_FRACTION = 1;
/** Longest retention a tenant may set for its resolved alerts and finished deliveries. */
export const MAX_ALERT_RETENTION_DAYS = 3650;

export const ANOMALY_ACTIONS = ['notify', 'throttle', 'off'] as const;
export type AnomalyAction = (typeof ANOMALY_ACTIONS)[number];

export const alertSettingsSchema = z.strictObject({
  budgetThresholds: z
    .array(z.number().int().min(1).max(1000))
    .min(1)
    .max(10)
    .refine((a) => new Set(a).size === a.length, 'thresholds must be distinct')
    .optional()
    .describe('Percentages of each day/month cost budget that raise an alert; default [50, 80, 100].'),
  anomalyAction: z
    .enum(ANOMALY_ACTIONS)
    .optional()
    .describe(
      "What an anomaly does: 'notify' (default) raises an alert; 'throttle' also admits the tenant at a reduced rate while the anomaly is open; 'off' ignores it.",
    ),
  anomalyThrottleFraction: z
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe('Throttle: the share of the expected hourly rate still admitted (0 refuses everything); default 1.'),
  retentionDays: z
    .number()
    .int()
    .min(1)
    .max(MAX_ALERT_RETENTION_DAYS)
    .optional()
    .describe("Days resolved alerts and finished webhook deliveries are kept; default the gateway's alerts.retentionDays."),
});

export type AlertSettings = z.output<typeof alertSettingsSchema>;

export interface EffectiveAlertSettings {
  budgetThresholds: readonly number[];
  anomalyAction: AnomalyAction;
  throttleFraction: number;
  /** null: the gateway's default (configuration). */
  retentionDays: number | null;
}

/** Stored settings as they apply; anything unreadable (written by a newer version) falls back to defaults. */
export function effectiveSettings(stored: unknown): EffectiveAlertSettings {
  const parsed = alertSettingsSchema.safeParse(stored);
  const s = parsed.success ? parsed.data : {};
  return {
    budgetThresholds: [...(s.budgetThresholds ?? DEFAULT_BUDGET_THRESHOLDS)].sort((a, b) => a - b),
    anomalyAction: s.anomalyAction ?? 'notify',
    throttleFraction: s.anomalyThrottleFraction ?? DEFAULT_THROTTLE_FRACTION,
    retentionDays: s.retentionDays ?? null,
  };
}
