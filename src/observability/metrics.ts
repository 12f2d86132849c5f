/**
 * Prometheus metrics. Children are bound once at start-up so the hot path only calls observe()
 * (DESIGN §10: metrics on the hot path must be cheap). Tenant-labelled series come with metering.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface GatewayMetrics {
  readonly registry: Registry;
  /** Time spent inside the gateway for one request, upstream wait excluded, in seconds. */
  observeOverhead(seconds: number): void;
  /** One finished request by HTTP status class. */
  countResponse(status: number): void;
  /** A request refused by admission, by error code (rate_limit_exceeded, quota_exceeded, ...). */
  countLimitRefusal(code: string): void;
  /** Reports the shared limits backend's health at scrape time (Redis mode). */
  watchLimits(read: () => LimitsHealth | undefined): void;
}

export interface LimitsHealth {
  state: 'up' | 'down';
  fallbackReservations: number;
  unavailableRejections: number;
  failures: number;
  pendingSettles: number;
}

export function createMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_process_' });
  const overhead = new Histogram({
    name: 'gatehouse_overhead_seconds',
    help: 'In-process time per request (arrival to upstream dispatch, plus upstream headers to response headers).',
    buckets: [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [registry],
  });
  const responses = new Counter({
    name: 'gatehouse_responses_total',
    help: 'Responses by HTTP status class.',
    labelNames: ['class'],
    registers: [registry],
  });
  const byClass = ['1xx', '2xx', '3xx', '4xx', '5xx'].map((c) => responses.labels(c));
  const refusals = new Counter({
    name: 'gatehouse_limit_refusals_total',
    help: 'Requests refused by admission (limits, quotas, budgets), by error code.',
    labelNames: ['code'],
    registers: [registry],
  });
  let readLimits: () => LimitsHealth | undefined = () => undefined;
  const limitsGauge = (name: string, help: string, pick: (h: LimitsHealth) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const health = readLimits();
        if (health !== undefined) this.set(pick(health));
      },
    });
  };
  limitsGauge('gatehouse_limits_backend_up', '1 while the shared limits store (Redis) answers, 0 while admission runs on its fail mode.', (h) =>
    h.state === 'up' ? 1 : 0,
  );
  limitsGauge('gatehouse_limits_fallback_reservations', 'Reservations made on per-instance limits while Redis was down (fail open).', (h) => h.fallbackReservations);
  limitsGauge('gatehouse_limits_unavailable_rejections', 'Requests refused with 503 while Redis was down (fail closed).', (h) => h.unavailableRejections);
  limitsGauge('gatehouse_limits_backend_failures', 'Calls to the shared limits store that failed as unreachable.', (h) => h.failures);
  limitsGauge('gatehouse_limits_pending_settles', 'Settlements waiting for Redis to come back.', (h) => h.pendingSettles);
  return {
    registry,
    observeOverhead: (seconds) => overhead.observe(seconds),
    countResponse: (status) => byClass[Math.min(4, Math.max(0, Math.floor(status / 100) - 1))]?.inc(),
    countLimitRefusal: (code) => refusals.labels(code).inc(),
    watchLimits: (read) => {
      readLimits = read;
    },
  };
}
