/**
 * The per-tenant response cache (DESIGN §13), assembled from configuration: Redis when
 * `cache.redisUrl` (or `limits.redisUrl`) is set, else in-process memory; tenant keys from the
 * tenants' data keys; metrics on the gateway's registry.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { LoadedConfig } from '../config/types.js';
import type { Keyring } from '../crypto/keyring.js';
import { registerCacheMetrics } from '../observability/cache-metrics.js';
import type { Store } from '../store/index.js';
import { createMemoryStore } from './memory-store.js';
import { createRedisStore } from './redis-store.js';
import { createResponseCache, type ResponseCache } from './service.js';
import { createKeySource, storeKeyLoader } from './tenant-keys.js';
import type { CacheStore } from './types.js';

export type { ResponseCache } from './service.js';

/** Tenant cache keys are re-derived this often: a shredded tenant's entries are unreadable within it. */
export const KEY_REFRESH_MS = 60_000;
const KEY_RETRY_MS = 10_000;
const MAX_TENANT_KEYS = 100_000;

export interface CacheDeps {
  config: Pick<LoadedConfig, 'cache' | 'limits'>;
  store: Pick<Store, 'withTenant'>;
  keyring: Keyring;
  registry: Registry;
  logger: Logger;
}

export function createCache(deps: CacheDeps): ResponseCache {
  const { cache: c, limits } = deps.config;
  const redisUrl = c.redisUrl ?? limits.redisUrl;
  const store: CacheStore =
    redisUrl !== undefined
      ? createRedisStore({ url: redisUrl, commandTimeoutMs: c.redisTimeoutMs })
      : createMemoryStore({ maxBytes: c.maxBytes, maxTenantBytes: c.maxTenantBytes });
  const keys = createKeySource({
    load: storeKeyLoader(deps.store, deps.keyring, (tenantId, err) => deps.logger.debug({ tenantId, err }, 'response cache: no usable tenant key')),
    refreshMs: KEY_REFRESH_MS,
    retryMs: KEY_RETRY_MS,
    maxTenants: MAX_TENANT_KEYS,
    onError: (tenantId, err) => deps.logger.warn({ tenantId, err }, 'response cache: cannot read tenant cache settings'),
  });
  let warned = 0;
  return createResponseCache({
    store,
    keys,
    maxEntryBytes: c.maxEntryBytes,
    maxTenantBytes: c.maxTenantBytes,
    onEvent: registerCacheMetrics(deps.registry, () => store.bytes()),
    onError: (err) => {
      // Rate-limited: a Redis outage must not turn into a log line per request.
      const now = Date.now();
      if (now - warned < 10_000) return;
      warned = now;
      deps.logger.warn({ err }, 'response cache store unavailable; answering from upstream');
    },
  });
}
