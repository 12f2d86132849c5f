/**
 * Prometheus metrics. Children are bound once at start-up so the hot path only calls observe()
 * (DESIGN §10: metrics on the hot path must be cheap). Tenant-labelled series come with metering.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { localCounter, localHistogram } from './local-metrics.js';

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
  /** Reports the usage spool and shipper at scrape time. */
  watchMetering(read: () => MeteringHealth | undefined): void;
  watchUsageMaintenance(read: () => UsageMaintenanceHealth | undefined): void;
}

export interface UsageMaintenanceHealth {
  mode: 'owner' | 'check' | 'unknown';
  missingPartitions: number;
  failures: number;
}

export interface MeteringHealth {
  spoolBytes: number;
  backlogBytes: number;
  segments: number;
  spooled: number;
  shipped: number;
  batches: number;
  shipFailures: number;
  shipperUp: boolean;
  writeFailures: number;
  corrupt: number;
  /** Records set aside by the shipper: malformed, or refused by the store for what they hold. */
  setAside: number;
}

export interface LimitsHealth {
  state: 'up' | 'down';
  fallbackReservations: number;
  unavailableRejections: number;
  failures: number;
  pendingSettles: number;
  /** Fail-open usage written back to Redis after an outage (src/limits/outage-journal.ts). */
  mergedBatches: number;
  pendingMerges: number;
  mergeFailures: number;
  droppedOutageUsage: number;
}

export function createMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gatehouse_process_' });
  const overhead = localHistogram({
    name: 'gatehouse_overhead_seconds',
    help: 'In-process time per request (arrival to upstream dispatch, plus upstream headers to response headers).',
    buckets: [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registry,
  }).labels();
  const responses = localCounter({
    name: 'gatehouse_responses_total',
    help: 'Responses by HTTP status class.',
    labelNames: ['class'],
    registry,
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
  limitsGauge('gatehouse_limits_outage_merges', 'Batches of usage counted per instance while Redis was down, added to Redis once it answered.', (h) => h.mergedBatches);
  limitsGauge('gatehouse_limits_outage_merges_pending', 'Batches of fail-open usage waiting to be added to Redis.', (h) => h.pendingMerges);
  limitsGauge('gatehouse_limits_outage_merge_failures', 'Write-backs of fail-open usage that failed for a reason other than Redis being unreachable.', (h) => h.mergeFailures);
  limitsGauge('gatehouse_limits_outage_usage_dropped', 'Fail-open usage never written back to Redis because the outage journal was full.', (h) => h.droppedOutageUsage);
  let readMetering: () => MeteringHealth | undefined = () => undefined;
  const meteringGauge = (name: string, help: string, pick: (h: MeteringHealth) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const health = readMetering();
        if (health !== undefined) this.set(pick(health));
      },
    });
  };
  meteringGauge('gatehouse_usage_spool_bytes', 'Bytes of usage spool segments on disk.', (h) => h.spoolBytes);
  meteringGauge('gatehouse_usage_spool_backlog_bytes', 'Bytes of usage events spooled but not yet in the store.', (h) => h.backlogBytes);
  meteringGauge('gatehouse_usage_spool_segments', 'Usage spool segment files.', (h) => h.segments);
  meteringGauge('gatehouse_usage_events_spooled', 'Usage events appended to the spool by this process.', (h) => h.spooled);
  meteringGauge('gatehouse_usage_events_shipped', 'Usage events shipped to the store by this process (replays included).', (h) => h.shipped);
  meteringGauge('gatehouse_usage_batches_shipped', 'Usage batches shipped to the store by this process (events shipped / batches = batch size).', (h) => h.batches);
  meteringGauge('gatehouse_usage_ship_failures', 'Failed attempts to ship a usage batch (retried).', (h) => h.shipFailures);
  meteringGauge('gatehouse_usage_shipper_up', '1 while usage batches reach the store, 0 while shipping fails and the spool grows.', (h) =>
    h.shipperUp ? 1 : 0,
  );
  meteringGauge('gatehouse_usage_write_failures', 'Usage events that could not be spooled (their responses were cut).', (h) => h.writeFailures);
  meteringGauge('gatehouse_usage_spool_corrupt_records', 'Spool records skipped as corrupt while shipping.', (h) => h.corrupt);
  meteringGauge(
    'gatehouse_usage_records_set_aside',
    'Usage records the store cannot take as they are (malformed, or refused for what they hold), kept in the spool directory\'s rejected.ndjson.',
    (h) => h.setAside,
  );
  let readMaintenance: () => UsageMaintenanceHealth | undefined = () => undefined;
  const maintenanceGauge = (name: string, help: string, pick: (h: UsageMaintenanceHealth) => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const health = readMaintenance();
        if (health !== undefined && health.mode !== 'unknown') this.set(pick(health));
      },
    });
  };
  maintenanceGauge(
    'gatehouse_usage_partitions_missing',
    "Of this and next UTC month, how many have no usage_events partition (their events land in the default partition): run `gatehouse maintenance` as the schema owner.",
    (h) => h.missingPartitions,
  );
  maintenanceGauge('gatehouse_usage_maintenance_owner', '1 when this gateway makes the usage partitions itself, 0 when it only checks them (it does not own the schema).', (h) =>
    h.mode === 'owner' ? 1 : 0,
  );
  maintenanceGauge('gatehouse_usage_maintenance_failures', 'Usage maintenance or partition-check runs that failed.', (h) => h.failures);
  return {
    registry,
    observeOverhead: (seconds) => overhead.observe(seconds),
    countResponse: (status) => byClass[Math.min(4, Math.max(0, Math.floor(status / 100) - 1))]?.inc(),
    countLimitRefusal: (code) => refusals.labels(code).inc(),
    watchLimits: (read) => {
      readLimits = read;
    },
    watchMetering: (read) => {
      readMetering = read;
    },
    watchUsageMaintenance: (read) => {
      readMaintenance = read;
    },
  };
}
