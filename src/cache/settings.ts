/**
 * A tenant's response-cache opt-in, as the configuration file (`tenants[].cache`) and the stored
 * tenant settings (`settings.cache`, jsonb) hold it. Validated wherever it enters; the snapshot
 * reads stored settings through `cacheSettingsOf`, so a malformed document means "off".
 */
import { z } from 'zod';
import type { TenantCacheSettings } from './types.js';

export const MAX_TTL_SECONDS = 30 * 24 * 3600;
export const DEFAULT_TTL_SECONDS = 3600;

export const tenantCacheSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** How long an entry lives. */
    ttlSeconds: z.number().int().min(1).max(MAX_TTL_SECONDS).default(DEFAULT_TTL_SECONDS),
  })
  .describe('response cache opt-in: { enabled, ttlSeconds }');

/** The stored opt-in as it is, on or off (the default when there is none or it is malformed). */
export function storedCacheSettings(settings: Record<string, unknown> | null | undefined): TenantCacheSettings {
  const parsed = tenantCacheSchema.safeParse(settings?.cache);
  return parsed.success ? parsed.data : { enabled: false, ttlSeconds: DEFAULT_TTL_SECONDS };
}

/** The tenant's cache settings from its stored settings document; undefined: off. */
export function cacheSettingsOf(settings: Record<string, unknown> | null | undefined): TenantCacheSettings | undefined {
  const parsed = tenantCacheSchema.safeParse(settings?.cache);
  return parsed.success && parsed.data.enabled ? parsed.data : undefined;
}
