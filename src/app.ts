/**
 * Assembles a gateway: configuration → store → tenancy snapshot → providers → pipeline → HTTP.
 * The only place that knows every part; each part knows only what it is handed.
 */
import { createAdminHandler } from './admin/index.js';
import { auditAuthFailures, createAuditQueue, startHeadExport } from './audit/index.js';
import { auditHeadSigner } from './crypto/audit-head-key.js';
import type { LoadedConfig } from './config/types.js';
import { tenantSealer } from './crypto/envelope.js';
import { deriveKey, loadMasterKey, parsePreviousMasterKeys } from './crypto/master-key.js';
import { processKeyring } from './crypto/process-keyring.js';
import { createLogger, type Logger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import { createTenantMetrics } from './observability/tenant-metrics.js';
import { observeTenant } from './pipeline/observe.js';
import { createCloseJob } from './billing/close-job.js';
import { startPriceFollower } from './billing/price-follower.js';
import { syncPriceBook } from './billing/service.js';
import { limitSeedsFromLedger } from './billing/limit-seeds.js';
import { registerReplicaMetrics, registerSchedulingMetrics } from './observability/scheduling-metrics.js';
import { createAdaptiveCapacity } from './limits/adaptive.js';
import { createRedisMembership } from './limits/redis-replicas.js';
import { createReplicaMembership, type ReplicaMembership } from './limits/replicas.js';
import { createScheduler, type Scheduler } from './limits/scheduler.js';
import { schedule, slotMover } from './pipeline/schedule.js';
import { registerRoutingMetrics } from './observability/routing-metrics.js';
import { routingConfig } from './config/routing.js';
import { createRouter, type BreakerTransition } from './routing/router.js';
import { createRedisBreakerFleet } from './routing/redis-breakers.js';
import { createSharedBreakers, type SharedBreakerSet } from './routing/shared-breakers.js';
import { authenticate } from './pipeline/authenticate.js';
import { createLimitService } from './limits/service.js';
import { preloadTokenizers } from './limits/tokens.js';
import { admit } from './pipeline/admit.js';
import { authorize } from './pipeline/authorize.js';
import { parseBody } from './pipeline/body.js';
import { resolveModelAlias } from './pipeline/alias.js';
import { compileOutboundPolicy, outboundGuard } from './routing/ssrf.js';
import { loadTenantModels, tenantModelsReader } from './tenancy/tenant-models.js';
import { compose } from './pipeline/compose.js';
import { identify } from './pipeline/identify.js';
import { renderModels } from './pipeline/models.js';
import { callProvider } from './pipeline/provider.js';
import { serving } from './pipeline/serving.js';
import { capStreamOutput } from './pipeline/output-cap.js';
import { route } from './pipeline/route.js';
import { validate } from './pipeline/validate.js';
import { createProviderAdapters } from './providers/index.js';
import { startMockProvider, type MockProvider } from './providers/mock/index.js';
import type { Deployment } from './providers/types.js';
import { clientAddressResolver } from './server/client-address.js';
import { createHandler } from './server/handler.js';
import { metricsAccess } from './server/metrics-access.js';
import { startHttpServer } from './server/http.js';
import { openStore, prepareSchema, type Store } from './store/index.js';
import { syncTenancy } from './tenancy/bootstrap.js';
import { createConfigRefresh } from './tenancy/refresh.js';
import { buildSnapshot, createRegistry } from './tenancy/snapshot.js';
import { adminJwtSources } from './tenancy/admin-sign-in.js';
import { txtResolver } from './tenancy/dns.js';
import { createKeyRehash } from './tenancy/key-rehash.js';
import { createKeyTouch } from './tenancy/usage-touch.js';
import { shredDueTenants } from './crypto/shredding.js';
import { purgeDueTenants } from './tenancy/purge.js';
import { createCache } from './cache/index.js';
import { cacheFill, cacheLookup } from './pipeline/cache.js';
import { createRequestLogs } from './logs/index.js';
import { logCapture, logRequest } from './pipeline/request-log.js';
import { startMetering, type Metering } from './metering/index.js';
import { meter } from './pipeline/meter.js';
import { createForecastCache, startAlerts } from './billing/alerts/index.js';
import { resolve as resolvePath } from 'node:path';

const SHRED_INTERVAL_MS = 3_600_000;
/** How long a shutdown waits for the usage events of requests cut at its end. */
const SETTLE_MS = 5_000;

export interface RunningGateway {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  /** The demo tenant's key when it was generated on this start (shown once), else undefined. */
  demoKey: string | undefined;
  /** Built-in mock provider, when a deployment uses it. */
  mock: MockProvider | undefined;
  logger: Logger;
  /** The gateway's store, for in-process administration and tests; closed by close(). */
  store: Store;
  /** Usage metering (spool and shipper), for tests and benchmarks. */
  metering: Metering;
  /** Graceful: stops accepting, drains in-flight requests up to the grace period, closes. */
  close(): Promise<void>;
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  /** Log destination (tests capture it); stdout by default. */
  logDestination?: NodeJS.WritableStream;
  /**
   * Stops the start (SIGTERM/SIGINT during start-up, src/cli/main.ts): the creation of a new
   * embedded database is killed, and at the next step before the tenants are set up the start
   * closes what it had opened and rejects with the signal's reason. Past that step (the demo key
   * may have been generated, and is shown only once) the start completes, for its caller to close.
   */
  signal?: AbortSignal;
}

/** Starts the built-in mock server if a mock deployment has no base URL yet, and fills it in. */
async function attachMock(config: LoadedConfig): Promise<{ deployments: Deployment[]; mock: MockProvider | undefined }> {
  const needsMock = config.deployments.some((d) => d.provider === 'mock' && d.baseUrl === '');
  if (!needsMock) return { deployments: config.deployments, mock: undefined };
  const behaviour = config.providers.find((p) => p.kind === 'mock' && p.baseUrl === '')?.mock;
  const mock = await startMockProvider({ host: '127.0.0.1', port: 0, ...(behaviour ? { behaviour } : {}) });
  const deployments = config.deployments.map((d) =>
    d.provider === 'mock' && d.baseUrl === '' ? { ...d, baseUrl: mock.url } : d,
  );
  return { deployments, mock };
}

/**
 * Fair scheduler over every deployment's capacity, adaptive unless configured off (DESIGN §4).
 * With replicas, over this replica's slice of it, re-split whenever the membership changes.
 */
function startScheduler(config: LoadedConfig, replicas: ReplicaMembership | undefined): Scheduler {
  const { reserveIdleMs, adaptive } = config.scheduling;
  const scheduler = createScheduler({
    reserveIdleMs,
    ...(adaptive ? { adaptive: createAdaptiveCapacity() } : {}),
    ...(replicas ? { sliceOf: replicas.slice } : {}),
  });
  replicas?.onChange(() => scheduler.reshare());
  return scheduler;
}

/** With Redis, the live replicas that split each deployment's capacity (limits/replicas.ts). */
async function startReplicas(config: LoadedConfig, logger: Logger): Promise<ReplicaMembership | undefined> {
  const url = config.limits.redisUrl;
  if (url === undefined) return undefined;
  const replicas = createReplicaMembership({
    store: createRedisMembership({ url, commandTimeoutMs: config.limits.redisTimeoutMs }),
    fallbackReplicas: config.limits.replicas,
    logger,
  });
  await replicas.start();
  return replicas;
}

function schedulingLoad(scheduler: Scheduler) {
  return scheduler.deploymentIds().flatMap((id) => scheduler.stats(id) ?? []);
}

/**
 * What a start has opened so far, each with its close. Closed in the reverse of the order it was
 * opened: the HTTP server, opened late, drains first, so every part it feeds (limits, logs,
 * metering, ...) is still there for the requests in flight, and the store, opened first, closes
 * last. A start that fails part-way closes exactly what it had opened. Every close runs even if
 * one before it failed; the first failure is then thrown.
 */
function openedResources(logger: Logger) {
  const closers: Array<() => unknown> = [];
  return {
    add(close: () => unknown): void {
      closers.push(close);
    },
    async closeAll(): Promise<void> {
      let failure: unknown;
      for (let close = closers.pop(); close !== undefined; close = closers.pop()) {
        try {
          await close();
        } catch (err) {
          logger.error({ err }, 'closing a part of the gateway failed');
          failure ??= err;
        }
      }
      if (failure !== undefined) throw failure;
    },
  };
}

export async function startGateway(config: LoadedConfig, opts: StartOptions = {}): Promise<RunningGateway> {
  const env = opts.env ?? process.env;
  const logger = createLogger(config.logLevel, opts.logDestination);
  const embedded = config.databaseUrl === undefined;
  const signal = opts.signal;
  signal?.throwIfAborted();
  const store = await openStore(
    embedded ? { dataDir: config.dataDir, ...(signal ? { signal } : {}) } : { databaseUrl: config.databaseUrl as string },
  );
  const opened = openedResources(logger);
  opened.add(() => store.close());
  try {
    signal?.throwIfAborted();
    // The keys first: a start refused for want of one must not have migrated the database.
    const master = await loadMasterKey({ env, dataDir: embedded ? config.dataDir : undefined });
    const previousMasters = parsePreviousMasterKeys(env);
    // The owner migrates; a gateway connected as a role that owns nothing only checks the version.
    const schema = await prepareSchema(store);
    if (!schema.owner) {
      logger.info(
        'the database schema is current; this gateway does not own it, so the owner runs migrations and upkeep: gatehouse migrate, gatehouse maintenance, gatehouse keys shred-due',
      );
    }
    const pepper = deriveKey(master, 'api-key-hash');
    const previousPeppers = previousMasters.map((k) => deriveKey(k, 'api-key-hash'));
    // One keyring per process: one cache of unwrapped data keys, which shredding can empty.
    const keyring = processKeyring(master, previousMasters);
    const headSigner = auditHeadSigner(master);
    // The last point a stop during start-up takes effect: syncTenancy may generate the demo key.
    signal?.throwIfAborted();
    const tenancy = await syncTenancy(store, config, pepper);
    const { deployments, mock } = await attachMock(config);
    if (mock !== undefined) opened.add(() => mock.close());
    const { tenants, keys, issuers, plans, limitSources, keyDigests } = tenancy;
    const sealer = tenantSealer(keyring);
    // Tenant-set addresses: refused at save (admin API) and at connect (this guard), DESIGN §6.
    const outbound = compileOutboundPolicy(config.security.outbound);
    const tenantModels = tenantModelsReader({ sealer, guard: outboundGuard(outbound), logger });
    const models0 = await loadTenantModels(store, tenantModels);
    // ...and the JWKS of identity providers tenants registered; every later snapshot keeps it.
    const jwksGuard = outboundGuard(outbound);
    const registry = createRegistry(
      buildSnapshot({ tenants, keys, issuers, plans, limitSources, keyDigests, deployments, tenantModels: models0, jwksGuard }),
    );
    const adapters = createProviderAdapters();
    opened.add(() => adapters.close());
    // last_used_at, batched off the request path: authenticate reports each key it accepts.
    const touch = createKeyTouch(store, { logger });
    opened.add(() => touch.close());

    const metrics = createMetrics();
    const tenantMetrics = createTenantMetrics(metrics.registry, {
      top: config.metrics.tenantLabels.top,
      recomputeMs: config.metrics.tenantLabels.recomputeSeconds * 1000,
    });
    // The price book follows the configured prices: a changed price becomes a new version.
    try {
      const added = await syncPriceBook(store, deployments, new Date());
      if (added > 0) logger.info({ versions: added }, 'billing: configured prices changed: new price-book versions');
    } catch (err) {
      logger.warn({ err }, 'billing: syncing the price book from the deployments failed; it is retried at the next start');
    }
    // ...and requests are priced by the version in force, which their usage events name.
    const prices = await startPriceFollower({ store, deployments, refreshMs: config.billing.priceRefreshSeconds * 1000, logger });
    opened.add(() => prices.close());
    const m = config.metering;
    const metering = await startMetering({
      store,
      spoolDir: resolvePath(config.dataDir, m.spoolDir),
      fsyncIntervalMs: m.fsyncIntervalMs ?? (m.ackMode === 'fsync' ? 5 : 100),
      segmentBytes: m.segmentBytes,
      spoolMaxBytes: m.spoolMaxBytes,
      ackMode: m.ackMode,
      batchSize: m.batchSize,
      lingerMs: m.shipLingerMs,
      concurrency: m.shipConcurrency,
      retention: { defaultDays: m.retentionDays, maxDays: m.maxRetentionDays, monthsAhead: m.partitionMonthsAhead, intervalMs: 6 * 3_600_000 },
      logger,
    });
    opened.add(() => metering.close()); // after the drain: every finished request has spooled its event
    // Compute-unit weight per deployment, as admission prices compute units (a tenant's dedicated
    // deployments weigh 1): for limit seeds and forecasts.
    const weights = new Map(deployments.map((d) => [d.id, d.weight]));
    const replicas = await startReplicas(config, logger);
    if (replicas !== undefined) opened.add(() => replicas.close()); // after the drain: its slots are free, the others may take them
    const limitService = createLimitService({
      ...(config.limits.redisUrl !== undefined ? { redisUrl: config.limits.redisUrl } : {}),
      redisTimeoutMs: config.limits.redisTimeoutMs,
      // Failing open, each replica counts its share of every limit: 1 ÷ the live replicas (as
      // last read before Redis went away), or the configured fleet size without Redis membership.
      fallbackShare: replicas !== undefined ? () => 1 / Math.max(1, replicas.stats().replicas) : 1 / config.limits.replicas,
      leaseMs: config.limits.leaseMs,
      // Day/month counters come back from the ledger: in memory after this start, in Redis after
      // it restarted, failed over or was flushed (DESIGN §13 "Leases, reseeding, fail-open seeds").
      ledger: limitSeedsFromLedger({ store, weights, limitsOf: (tenantId) => registry.current.tenantsById.get(tenantId)?.limits }),
      // ...once what the last process left in the spool is shipped (in-memory seeds only).
      ledgerCurrent: () => metering.recovered(),
      logger,
    });
    opened.add(() => limitService.close()); // after the drain: in-flight requests settle their reservations
    metrics.watchLimits(() => limitService.stats());
    // Encodings load in the background; requests meanwhile use the byte estimate.
    preloadTokenizers(deployments.map((d) => d.upstreamModel));
    // Response cache (src/cache/): built even when no tenant opts in yet, so a tenant that does
    // through the admin API needs no restart; idle, it costs nothing per request.
    const cache = createCache({ config, store, keyring, registry: metrics.registry, logger });
    opened.add(() => cache.close());
    // Request logs (src/logs/): likewise built for every gateway, idle until a tenant opts in.
    const logs = createRequestLogs({ config, store, sealer, registry: metrics.registry, logger });
    opened.add(() => logs.close()); // after the drain: finished requests have queued their entries
    const scheduler = startScheduler(config, replicas);
    registerSchedulingMetrics(metrics.registry, () => schedulingLoad(scheduler));
    if (replicas !== undefined) registerReplicaMetrics(metrics.registry, () => replicas.stats());

    // Refused credentials of known tenants, appended to their audit logs off the request path.
    const audits = createAuditQueue(store, { logger });
    opened.add(() => audits.close()); // likewise; its last flush needs the store
    const onAuthFailure = auditAuthFailures(audits);

    metrics.watchUsageMaintenance(() => metering.maintenance());
    metrics.watchMetering(() => {
      const { spool, shipper, writeFailures } = metering.stats();
      return {
        spoolBytes: spool.bytes,
        backlogBytes: spool.backlogBytes,
        segments: spool.segments,
        spooled: spool.appended,
        shipped: shipper.shipped,
        batches: shipper.batches,
        shipFailures: shipper.failures,
        shipperUp: shipper.state === 'up',
        writeFailures,
        corrupt: spool.corrupt,
        setAside: shipper.malformed + shipper.rejected,
      };
    });

    // Filled by the alert job (started once the server listens); read by admission per request.
    const forecastCache = createForecastCache();
    // Forecasts add the limit counters' reservations and price compute units at the weight of
    // the deployment that served.
    const forecastInputs = { counters: limitService, weightOf: (id: string | null) => (id === null ? 1 : (weights.get(id) ?? 1)) };

    // Strategies, breakers and fallbacks: one router shared by the route and provider stages.
    const routing = routingConfig(config.routing);
    const onBreakerChange = ({ deploymentId, from, to }: BreakerTransition): void => {
      const fields = { deployment: deploymentId, from, to };
      if (to === 'open') logger.warn(fields, 'circuit breaker opened: deployment out of rotation');
      else logger.info(fields, 'circuit breaker state changed');
    };
    // With Redis every replica shares each breaker's state (src/routing/shared-breakers.ts).
    const redisUrl = config.limits.redisUrl;
    let sharedBreakers: SharedBreakerSet | undefined;
    if (redisUrl !== undefined) {
      sharedBreakers = createSharedBreakers({
        policy: routing.breaker,
        fleet: createRedisBreakerFleet({ url: redisUrl, commandTimeoutMs: config.limits.redisTimeoutMs }),
        onChange: onBreakerChange,
        logger,
      });
      const breakers = sharedBreakers;
      opened.add(() => breakers.close());
      await breakers.start();
    }
    const router = createRouter({ config: routing, onBreakerChange, ...(sharedBreakers ? { breakers: sharedBreakers } : {}) });
    registerRoutingMetrics(metrics.registry, () => router.breakerStates());
    const scheduleDeps = { scheduler, defaults: config.scheduling };

    // Keys hashed before a master-key rotation move onto the current key on first use.
    const rehash = previousPeppers.length === 0 ? undefined : createKeyRehash(store, logger);
    if (rehash !== undefined) opened.add(() => rehash.close());
    const front = [
      identify(registry),
      authenticate({ registry, pepper, previousPeppers, onKeyUsed: touch.touch, onAuthFailure, ...(rehash ? { onStaleHash: rehash.report } : {}) }),
    ];
    const inference = compose([
      ...front,
      meter(metering),
      observeTenant(tenantMetrics),
      logRequest(logs),
      parseBody({ maxBytes: config.server.maxBodyBytes }),
      resolveModelAlias(registry),
      authorize({ onAuthFailure }),
      route(registry, { onAuthFailure, router }),
      validate(),
      admit({
        limits: limitService,
        // The longest a reservation may live: longer than any request. With Redis its lease is
        // short and renewed while the request lives (limits.leaseMs), up to this.
        leaseMs: config.server.requestTimeoutMs + 60_000,
        defaultMaxOutputTokens: config.limits.defaultMaxOutputTokens,
        weightOf: (d) => d.weight,
        failModeOf: (d) => d.limitsFailMode,
        onRefusal: (code) => metrics.countLimitRefusal(code),
        budgetExhaustsAt: forecastCache.exhaustsAt,
        servable: serving(registry, router).all,
      }),
      cacheLookup(cache),
      schedule(scheduleDeps),
      callProvider(adapters, { router, registry, moveSlot: slotMover(scheduleDeps) }),
      capStreamOutput(),
      cacheFill(cache),
      logCapture(logs.maxCaptureBytes),
    ]);
    const models = compose([...front, resolveModelAlias(registry), authorize({ onAuthFailure })]);

    let ready = false;
    let server: Awaited<ReturnType<typeof startHttpServer>> | undefined;
    const handler = createHandler({
      inference,
      models,
      renderModels: renderModels(registry),
      isReady: () => ready,
      isDraining: () => server?.draining ?? false,
      logger,
      metrics,
      requestTimeoutMs: config.server.requestTimeoutMs,
      clientAddress: clientAddressResolver(config.server),
      metricsAccess: metricsAccess(env.GATEHOUSE_METRICS_TOKEN),
      admin: createAdminHandler({
        store,
        pepper,
        previousPeppers,
        sealer,
        auditHeadSigner: headSigner,
        outbound,
        logger,
        bootstrapKey: env.GATEHOUSE_ADMIN_KEY,
        jwt: adminJwtSources(registry, store, config.admin?.jwt),
        resolveTxt: txtResolver(config.domainVerification.resolvers),
        alertRetentionDays: config.alerts.retentionDays,
        forecastInputs,
        audit: audits,
        // Answers once this gateway's snapshot has the change (others hear it through NOTIFY).
        onChange: async (tenantId) => {
          cache.keys.forget(tenantId); // its cache opt-in may have changed; re-read on next use
          // Its request-log opt-in may have changed: re-read now, the old one serving meanwhile
          // (forgetting it would leave the tenant's next requests unlogged until it is re-read).
          await logs.policies.reload(tenantId);
          await refresh.reloadTenant(tenantId);
        },
        onPlansChange: async () => void (await refresh.reloadPlans()),
        onPricesChange: () => prices.refresh(),
      }),
    });
    // Keeps the snapshot fresh from LISTEN/NOTIFY; requests keep reading the registry meanwhile.
    // Started before the port opens, so a failure to listen leaves no server behind.
    const refresh = createConfigRefresh({ store, registry, deployments, logger, tenantModels });
    opened.add(() => refresh.stop());
    await refresh.start();
    server = await startHttpServer({
      host: config.server.host,
      port: config.server.port,
      maxHeaderBytes: config.server.maxHeaderBytes,
      handler,
    });
    const running = server;
    let drained: Promise<void> | undefined;
    const drain = (): Promise<void> => (drained ??= running.shutdown(config.server.shutdownGraceMs, handler.cutAll));
    opened.add(drain);
    ready = true;
    const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${server.port}`;
    logger.info(
      { url, store: store.kind, deployments: deployments.length, tenants: tenancy.tenants.length },
      'gatehouse listening',
    );

    // Crypto-shredding of tenants whose deletion grace period has passed, then the purge of the
    // rows they left. Every replica may run both: each tenant's step is idempotent under its
    // keyring row lock. Both delete as the owner: a gateway that does not own the schema leaves
    // them to `gatehouse keys shred-due` and `gatehouse tenants purge-due`.
    const shredTimer = setInterval(() => {
      if (!schema.owner) return;
      void (async () => {
        try {
          const r = await shredDueTenants(store, { keyrings: [keyring] });
          if (r.shredded.length > 0) logger.info({ tenants: r.shredded.length }, 'tenant data keys destroyed');
          for (const s of r.shredded) cache.keys.forget(s.tenantId); // its cache entries: unreadable now
        } catch (err) {
          logger.error({ err }, 'shred job failed');
        }
        try {
          const p = await purgeDueTenants(store, { purgeUnbilled: config.tenantDeletion.purgeUnbilledUsage });
          if (p.purged.length > 0) logger.info({ tenants: p.purged.length }, 'deleted tenants purged');
          for (const d of p.deferred) logger.warn({ tenant: d.tenantId }, 'deleted tenant not purged yet: it has usage no issued invoice covers (billing close-period)');
        } catch (err) {
          logger.error({ err }, 'tenant purge job failed');
        }
      })();
    }, SHRED_INTERVAL_MS);
    shredTimer.unref();
    opened.add(() => clearInterval(shredTimer));

    // Signed chain heads appended outside the database (DESIGN §12 "Audit"), when configured.
    const he = config.audit.headExport;
    if (he !== undefined) {
      const heads = startHeadExport({ store, signer: headSigner, dir: resolvePath(config.dataDir, he.dir), intervalMs: he.intervalSeconds * 1000, logger });
      opened.add(() => heads.close());
    }

    const alerts = startAlerts({
      store,
      sealer,
      tenants: () => registry.current.tenantsById.values(),
      config: config.alerts,
      forecasts: forecastCache,
      forecastInputs,
      guard: outboundGuard(outbound),
      logger,
    });
    opened.add(() => alerts.close());

    // Issues each tenant's invoice once its month is over (every replica may run it: see close-job.ts).
    const autoClose = config.billing.autoClose;
    if (autoClose.enabled) {
      const closeJob = createCloseJob({ store, intervalMs: autoClose.intervalMinutes * 60_000, graceMs: autoClose.graceMinutes * 60_000, logger });
      opened.add(() => closeJob.stop());
      closeJob.start();
    }

    let closing: Promise<void> | undefined;
    return {
      url,
      port: server.port,
      demoKey: tenancy.demoKey,
      mock,
      logger,
      store,
      metering,
      close() {
        closing ??= (async () => {
          ready = false;
          logger.info({ graceMs: config.server.shutdownGraceMs }, 'gatehouse draining');
          // The listener closes first, before the background jobs opened after it.
          await drain();
          // Cut streams' usage events reach the spool before it closes (bounded: a completion
          // waits on the spool's own write, which gives up on its own).
          await Promise.race([handler.settled(), new Promise((resolve) => setTimeout(resolve, SETTLE_MS).unref())]);
          await opened.closeAll();
          logger.info('gatehouse stopped');
        })();
        return closing;
      },
    };
  } catch (err) {
    await opened.closeAll().catch((e: unknown) => logger.error({ err: e }, 'closing what a failed start had opened failed'));
    throw err;
  }
}
