/**
 * Stored request logs (DESIGN §13 "Request logs"), assembled from configuration: each tenant's
 * policy held in memory, the background writer, retention, metrics. Built even when no tenant
 * opts in, so a tenant that does through the admin API needs no restart; idle, it costs each
 * request one map lookup.
 */
import type { Registry } from 'prom-client';
import type { LoadedConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { registerRequestLogMetrics } from '../observability/request-log-metrics.js';
import type { Finisher } from '../pipeline/context.js';
import type { FieldSealer, Store } from '../store/index.js';
import { pendingLog } from './entry.js';
import { createPolicySource, type LogPolicySource } from './policy.js';
import { startRetention } from './retention.js';
import { createLogWriter, type LogWriter } from './writer.js';

export type { LogCapture, PendingLog } from './entry.js';
export type { LogOutcome, LogWriter } from './writer.js';
export type { LogPolicySource } from './policy.js';

/** A tenant's policy is re-read this often (a change made on another instance applies within it). */
export const POLICY_REFRESH_MS = 60_000;
const POLICY_RETRY_MS = 10_000;
const MAX_TENANT_POLICIES = 100_000;

export interface RequestLogs {
  readonly policies: LogPolicySource;
  readonly writer: LogWriter;
  readonly maxCaptureBytes: number;
  /** The shared finisher the log stage registers: queues the finished request's entry. */
  readonly finish: Finisher;
  close(): Promise<void>;
}

export interface RequestLogsDeps {
  config: Pick<LoadedConfig, 'requestLogs'>;
  store: Pick<Store, 'withTenant' | 'platform'>;
  sealer: FieldSealer;
  registry: Registry;
  logger: Logger;
}

export function createRequestLogs(deps: RequestLogsDeps): RequestLogs {
  const c = deps.config.requestLogs;
  const policies = createPolicySource({
    store: deps.store,
    refreshMs: POLICY_REFRESH_MS,
    retryMs: POLICY_RETRY_MS,
    maxTenants: MAX_TENANT_POLICIES,
    onError: (tenantId, err) => deps.logger.warn({ tenantId, err }, 'request log: cannot read tenant log settings'),
  });
  // The queue gauge reads the writer when scraped, after both exist.
  const onEvent = registerRequestLogMetrics(deps.registry, () => writer.stats());
  const writer = createLogWriter({
    store: deps.store,
    sealer: deps.sealer,
    maxEntryBytes: c.maxEntryBytes,
    maxQueued: c.maxQueued,
    maxQueuedBytes: c.maxQueuedBytes,
    batchSize: c.batchSize,
    intervalMs: c.flushIntervalMs,
    onEvent,
    logger: deps.logger,
  });
  const retention = startRetention({ store: deps.store, intervalMs: c.retentionIntervalMs, logger: deps.logger });
  const finish: Finisher = (outcome, ctx) => {
    const capture = ctx.requestLog;
    if (capture === undefined) return;
    const entry = pendingLog(ctx, outcome, capture, Date.now(), process.hrtime.bigint());
    if (entry !== undefined) writer.offer(entry);
  };
  return {
    policies,
    writer,
    maxCaptureBytes: c.maxCaptureBytes,
    finish,
    async close() {
      await retention.stop();
      await writer.close();
    },
  };
}
