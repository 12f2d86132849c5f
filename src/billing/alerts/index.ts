/**
 * Alerts (DESIGN §5): budget thresholds, exhaustion forecasts and anomalies, raised by a periodic
 * job and delivered to the tenant's webhooks from a durable outbox.
 */
import type { Logger } from '../../observability/logger.js';
import type { OutboundGuard } from '../../providers/types.js';
import type { FieldSealer, Store } from '../../store/index.js';
import { createAlertJob, type ForecastInputs, type TenantToEvaluate } from './job.js';
import { createForecastCache, type ForecastCache } from './forecast.js';
import { createDeliveryWorker } from './worker.js';

export { signPayload, verifySignature, SIGNATURE_HEADER, EVENT_ID_HEADER } from './signature.js';
export { createForecastCache, type ForecastCache } from './forecast.js';
export type { ForecastInputs } from './job.js';

export interface AlertsConfig {
  enabled: boolean;
  evaluateIntervalMs: number;
  deliveryIntervalMs: number;
  deliveryTimeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  anomalyZ: number;
  anomalyMinCost: number;
  anomalyMinRequests: number;
  /** Days resolved alerts and finished deliveries are kept (tenants may set their own). */
  retentionDays: number;
}

export interface Alerts {
  forecasts: ForecastCache;
  close(): Promise<void>;
}

export function startAlerts(deps: {
  store: Store;
  sealer: FieldSealer;
  tenants: () => Iterable<TenantToEvaluate>;
  config: AlertsConfig;
  /** The connect-time SSRF guard for webhook URLs. */
  guard?: OutboundGuard;
  /** The cache admission reads; the job fills it. */
  forecasts?: ForecastCache;
  /** The limit counters (reservations) and compute-unit weights the forecasts read. */
  forecastInputs?: ForecastInputs;
  logger?: Logger;
}): Alerts {
  const c = deps.config;
  const forecasts = deps.forecasts ?? createForecastCache();
  if (!c.enabled) return { forecasts, close: async () => {} };
  const job = createAlertJob({
    store: deps.store,
    tenants: deps.tenants,
    cache: forecasts,
    intervalMs: c.evaluateIntervalMs,
    anomaly: { zThreshold: c.anomalyZ, alpha: 0.1, costFloorMicros: Math.round(c.anomalyMinCost * 1_000_000), requestsFloor: c.anomalyMinRequests },
    retentionDays: c.retentionDays,
    ...(deps.forecastInputs ? { forecast: deps.forecastInputs } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  const worker = createDeliveryWorker({
    store: deps.store,
    sealer: deps.sealer,
    backoff: { baseMs: c.retryBaseMs, maxMs: c.retryMaxMs, maxAttempts: c.maxAttempts },
    intervalMs: c.deliveryIntervalMs,
    timeoutMs: c.deliveryTimeoutMs,
    ...(deps.guard ? { guard: deps.guard } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  job.start();
  worker.start();
  return {
    forecasts,
    async close() {
      await job.stop();
      await worker.stop();
    },
  };
}
