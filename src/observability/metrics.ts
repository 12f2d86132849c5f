/**
 * Prometheus metrics. Children are bound once at start-up so the hot path only calls observe()
 * (DESIGN §10: metrics on the hot path must be cheap). Tenant-labelled series come with metering.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface GatewayMetrics {
  readonly registry: Registry;
  /** Time spent inside the gateway for one request, upstream wait excluded, in seconds. */
  observeOverhead(seconds: number): void;
  /** One finished request by HTTP status class. */
  countResponse(status: number): void;
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
  return {
    registry,
    observeOverhead: (seconds) => overhead.observe(seconds),
    countResponse: (status) => byClass[Math.min(4, Math.max(0, Math.floor(status / 100) - 1))]?.inc(),
  };
}
