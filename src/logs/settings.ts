/**
 * A tenant's request-log opt-in, as the configuration file (`tenants[].logs`) and the stored
 * tenant settings (`settings.logs`, jsonb) hold it, and the policy that applies once the plan has
 * had its say: the plan feature `log_retention_days` (src/billing/plan-pricing.ts) gates logging
 * (0: none) and caps the retention a tenant may ask for.
 */
import { z } from 'zod';

export const MAX_RETENTION_DAYS = 3650;

export const tenantLogsSchema = z
  .strictObject({
    /** Giving `logs` at all opts in; `enabled: false` turns logging off and keeps the rest. */
    enabled: z.boolean().default(true),
    /** Also store the request body and the response (encrypted); metadata only otherwise. */
    content: z.boolean().default(false),
    /** How long entries are kept; absent: as long as the plan allows. */
    retentionDays: z.number().int().min(1).max(MAX_RETENTION_DAYS).optional(),
  })
  .describe('request log opt-in: { enabled, content, retentionDays }');

export type TenantLogSettings = z.output<typeof tenantLogsSchema>;

/** Not opted in: what a tenant without (readable) stored settings has. */
export const LOGS_OFF: TenantLogSettings = Object.freeze({ enabled: false, content: false });

/** The stored opt-in as it is (off when there is none or it is malformed). */
export function storedLogSettings(settings: Record<string, unknown> | null | undefined): TenantLogSettings {
  const parsed = tenantLogsSchema.safeParse(settings?.logs);
  return parsed.success ? parsed.data : LOGS_OFF;
}

/** What applies to a tenant: its opt-in bounded by its plan. */
export interface LogPolicy {
  /** Entries are written for this tenant's requests. */
  enabled: boolean;
  /** Entries carry the request and response (sealed with the tenant's data key). */
  content: boolean;
  /** Entries older than this are deleted (0: every entry; the plan keeps none). */
  retentionDays: number;
}

/**
 * The tenant's settings under its plan's `log_retention_days`: a plan that keeps no logs turns
 * logging off whatever the tenant asked (a downgrade stops logging, and retention then empties
 * the log); a tenant may ask for less retention than its plan gives, never more.
 */
export function logPolicy(settings: TenantLogSettings, planRetentionDays: number): LogPolicy {
  const plan = Math.max(0, Math.floor(planRetentionDays));
  const retentionDays = Math.min(settings.retentionDays ?? plan, plan);
  const enabled = settings.enabled && retentionDays > 0;
  return { enabled, content: enabled && settings.content, retentionDays };
}
