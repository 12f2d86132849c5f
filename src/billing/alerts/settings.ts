/** A tenant's alert settings (tenants.settings.alerts), validated where they are written and read. */
import { z } from 'zod';

export const DEFAULT_BUDGET_THRESHOLDS: readonly number[] = [50, 80, 100];

export const alertSettingsSchema = z.strictObject({
  budgetThresholds: z
    .array(z.number().int().min(1).max(1000))
    .min(1)
    .max(10)
    .refine((a) => new Set(a).size === a.length, 'thresholds must be distinct')
    .optional()
    .describe('Percentages of each day/month cost budget that raise an alert; default [50, 80, 100].'),
  anomalyAction: z.enum(['notify', 'off']).optional().describe("What an anomaly does: 'notify' (default) raises an alert; 'off' ignores it."),
});

export type AlertSettings = z.output<typeof alertSettingsSchema>;

export interface EffectiveAlertSettings {
  budgetThresholds: readonly number[];
  anomalyAction: 'notify' | 'off';
}

/** Stored settings as they apply; anything unreadable (written by a newer version) falls back to defaults. */
export function effectiveSettings(stored: unknown): EffectiveAlertSettings {
  const parsed = alertSettingsSchema.safeParse(stored);
  const s = parsed.success ? parsed.data : {};
  return {
    budgetThresholds: [...(s.budgetThresholds ?? DEFAULT_BUDGET_THRESHOLDS)].sort((a, b) => a - b),
    anomalyAction: s.anomalyAction ?? 'notify',
  };
}
