/**
 * Keeps the hot-path snapshot fresh (DESIGN §2): every committed change to tenants, domains,
 * teams or keys is announced on CONFIG_CHANNEL (migration 0002), and this module answers by
 * re-reading what changed and swapping in a new snapshot with one atomic `registry.replace`.
 * Requests never wait for any of it: they keep reading the previous snapshot until the swap.
 *
 * - A notification naming a tenant re-reads only that tenant (refresh-tenants.ts) and patches its
 *   entries into the last snapshot (patchSnapshot: copy-on-write, the rest is shared); anything
 *   else (a TRUNCATE, a table this version does not know, start, reconnect, the periodic safety
 *   net) reloads tenants and keys in full through the platform role, keys page by page
 *   (snapshot-load.ts).
 * - Bursts coalesce: the first notification starts a short delay (not reset by later ones, so a
 *   steady stream of changes cannot postpone the reload forever); at most one reload runs, and
 *   at most one more is queued behind it, however many notifications arrive meanwhile.
 * - A reload that fails keeps the old snapshot, is logged, and is retried with backoff.
 * - A full reload also runs after the listener reconnects and periodically, because a
 *   notification sent while nobody listened is lost for good.
 */
import type { Logger } from '../observability/logger.js';
import type { Deployment } from '../providers/types.js';
import { CONFIG_CHANNEL, parseConfigChange, type Store, type Unlisten } from '../store/index.js';
import { readTenantChanges, TENANT_SCOPED_TABLES } from './refresh-tenants.js';
import { buildSnapshot, patchSnapshot } from './snapshot-build.js';
import { loadPlans, loadSnapshot } from './snapshot-load.js';
import type { Registry, Snapshot, SnapshotInput } from './snapshot.js';
import type { TenantModelsReader } from './tenant-models.js';

/** The snapshot's database records, as a test's own `load` returns them. */
export type SnapshotRecords = Omit<SnapshotInput, 'deployments'>;

export type ReloadReason = 'start' | 'notify' | 'reconnect' | 'periodic' | 'retry';

export interface ConfigRefreshOptions {
  store: Store;
  registry: Registry;
  /** Deployments are configuration, not database rows: every new snapshot keeps these. */
  deployments: readonly Deployment[];
  logger: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  /** Delay between the first notification of a burst and the reload. */
  debounceMs?: number;
  /**
   * Safety-net full reload interval; 0 disables it. Five minutes by default, not one: with
   * 10,000 tenants a full reload still reads every tenant and 10,000 key digests (~0.2–0.3 s,
   * bench/README.md, "Snapshot memory"), and notifications lost to a dropped connection are
   * already covered by the reload after reconnecting.
   */
  fullReloadMs?: number;
  /** More changed tenants than this in one batch are read by one full reload instead. */
  maxTenantPatch?: number;
  /** First retry delay after a failed reload; doubles up to retryMaxMs. */
  retryMs?: number;
  retryMaxMs?: number;
  /**
   * Reads the snapshot's database records in full for a full reload (tests swap it in; the
   * records go to buildSnapshot). Absent: loadSnapshot, which reads and indexes keys page by
   * page through the platform role and reuses the previous snapshot's unchanged records.
   */
  load?: () => Promise<SnapshotRecords>;
  /**
   * Reads a tenant's dedicated deployments (credentials opened with its key) and aliases, in its
   * own transaction; absent: the snapshot has none (tests, tools without the keyring).
   */
  tenantModels?: TenantModelsReader;
}

export interface RefreshStats {
  /** Full reloads that replaced the snapshot. */
  reloads: number;
  /** Tenant-scoped reloads that replaced the snapshot. */
  patches: number;
  failures: number;
  notifications: number;
  /** Duration of the last successful full reload (load + build), ms. */
  lastReloadMs: number;
  /** Duration of the last successful tenant-scoped reload, ms. */
  lastPatchMs: number;
}

export interface ConfigRefresh {
  /** Listens, starts the periodic reload, and reloads once to cover changes made before LISTEN. */
  start(): Promise<void>;
  /** Asks for a full reload; coalesced with any already asked for. */
  request(reason: ReloadReason): void;
  /**
   * Re-reads one tenant now (coalesced like a notification) and resolves once a reload that
   * covers it has finished: for writers in this process that must see their own change on the
   * hot path (the admin API) without waiting for, or paying for, a full reload. A failed reload
   * resolves too, leaving the old snapshot (it is retried).
   */
  reloadTenant(tenantId: string): Promise<void>;
  /** The same for the plan catalogue (after a plan change): every tenant on a changed plan. */
  reloadPlans(): Promise<void>;
  /** The same for everything: resolves after a full reload that started after this call. */
  reloadAll(): Promise<void>;
  /** Resolves once no reload is running or queued (tests, shutdown). */
  settled(): Promise<void>;
  stats(): RefreshStats;
  /** Stops listening and timers; waits for a running reload. Idempotent. */
  stop(): Promise<void>;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** What the next reload must cover. */
interface Pending {
  full: Set<ReloadReason>;
  tenants: Set<string>;
  plans: boolean;
}

/** The table whose notifications name no tenant but are answered without a full reload. */
const PLANS_TABLE = 'plans';

export function createConfigRefresh(opts: ConfigRefreshOptions): ConfigRefresh {
  const debounceMs = opts.debounceMs ?? 50;
  const fullReloadMs = opts.fullReloadMs ?? 300_000;
  const maxTenantPatch = opts.maxTenantPatch ?? 100;
  const retryMs = opts.retryMs ?? 250;
  const retryMaxMs = opts.retryMaxMs ?? 5_000;
  const models = opts.tenantModels;
  const { logger, registry } = opts;

  /** A whole new snapshot. The one it replaces lends its unchanged key records. */
  async function loadAll(previous: Snapshot): Promise<Snapshot> {
    if (opts.load === undefined) return loadSnapshot(opts.store, { deployments: opts.deployments, previous, tenantModels: models });
    // Deployments last: configuration, never from the database.
    return buildSnapshot({ ...(await opts.load()), deployments: opts.deployments, jwksGuard: previous.jwksGuard });
  }

  const stats: RefreshStats = { reloads: 0, patches: 0, failures: 0, notifications: 0, lastReloadMs: 0, lastPatchMs: 0 };
  let pending: Pending = { full: new Set(), tenants: new Set(), plans: false };
  /** The snapshot this refresher made last; tenant patches are applied to it. */
  let last: Snapshot | undefined;
  let timer: NodeJS.Timeout | undefined;
  let periodic: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let unlisten: Unlisten | undefined;
  let failuresInRow = 0;
  let stopped = false;
  let waiters: (() => void)[] = [];
  /** Reloads started and finished so far, and who waits for which one. */
  let runsStarted = 0;
  let runsDone = 0;
  let runWaiters: { run: number; resolve: () => void }[] = [];

  /** Resolves when the next reload to start (not one already running) has finished. */
  function afterNextRun(): Promise<void> {
    if (stopped) return Promise.resolve();
    const run = runsStarted + 1;
    return new Promise<void>((resolve) => runWaiters.push({ run, resolve }));
  }

  function wakeRunWaiters(all: boolean): void {
    const ready = runWaiters.filter((w) => all || w.run <= runsDone);
    runWaiters = runWaiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve();
  }

  const idle = (): boolean => running === undefined && timer === undefined;
  const hasPending = (): boolean => pending.full.size > 0 || pending.tenants.size > 0 || pending.plans;

  function wakeWaiters(): void {
    if (!idle()) return;
    const ready = waiters;
    waiters = [];
    for (const resolve of ready) resolve();
  }

  function schedule(ms: number): void {
    if (stopped || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      run();
    }, ms);
    timer.unref(); // never what keeps the process alive
  }

  /** While a reload runs, what is pending waits and run() schedules the next one. */
  function kick(): void {
    if (!stopped && running === undefined) schedule(debounceMs);
  }

  function request(reason: ReloadReason): void {
    if (stopped) return;
    pending.full.add(reason);
    kick();
  }

  function requestTenant(tenantId: string): void {
    if (stopped) return;
    pending.tenants.add(tenantId);
    kick();
  }

  function requestPlans(): void {
    if (stopped) return;
    pending.plans = true;
    kick();
  }

  /** The plans first: a tenant read afterwards may bring a newer copy of its own plan. */
  async function patch(base: Snapshot, work: Pending): Promise<Snapshot> {
    const plans = work.plans ? await opts.store.platform((tx) => loadPlans(tx)) : undefined;
    const tenants = work.tenants.size > 0 ? await readTenantChanges(opts.store, [...work.tenants], models) : undefined;
    return patchSnapshot(base, { ...(plans === undefined ? {} : { plans }), ...(tenants === undefined ? {} : { tenants }) });
  }

  async function reload(work: Pending): Promise<boolean> {
    const started = performance.now();
    // A full reload also covers every tenant named so far: it reads after their commits.
    const full = work.full.size > 0 || last === undefined || work.tenants.size > maxTenantPatch;
    try {
      // Before the first reload of its own, the registry's start-up snapshot lends its records.
      const next = full ? await loadAll(last ?? registry.current) : await patch(last as Snapshot, work);
      if (stopped) return true;
      registry.replace(next);
      last = next;
      const ms = performance.now() - started;
      if (full) {
        stats.reloads += 1;
        stats.lastReloadMs = ms;
      } else {
        stats.patches += 1;
        stats.lastPatchMs = ms;
      }
      logger.debug(
        {
          version: next.version,
          full,
          tenants: next.tenantsById.size,
          prefixes: next.keysByPrefix.size,
          ms: Math.round(ms),
          reasons: [...work.full],
          changed: work.tenants.size,
          plans: work.plans,
        },
        'configuration snapshot reloaded',
      );
      return true;
    } catch (err) {
      stats.failures += 1;
      logger.error({ err: message(err), full, reasons: [...work.full] }, 'configuration reload failed; keeping the previous snapshot');
      // Retried as it was (what arrived meanwhile is pending already).
      for (const id of work.tenants) pending.tenants.add(id);
      if (work.plans) pending.plans = true;
      if (full) pending.full.add('retry');
      return false;
    }
  }

  function run(): void {
    if (stopped || running !== undefined || !hasPending()) return;
    const work = pending;
    pending = { full: new Set(), tenants: new Set(), plans: false };
    runsStarted += 1;
    running = reload(work).then((ok) => {
      running = undefined;
      runsDone = runsStarted;
      wakeRunWaiters(false);
      if (ok) {
        failuresInRow = 0;
        if (hasPending()) schedule(debounceMs); // changes arrived during the reload
      } else {
        failuresInRow += 1;
        schedule(Math.min(retryMaxMs, retryMs * 2 ** (failuresInRow - 1)));
      }
      wakeWaiters();
    });
  }

  function onNotification(payload: string): void {
    stats.notifications += 1;
    const change = parseConfigChange(payload);
    if (change !== undefined && change.tenantId !== null && TENANT_SCOPED_TABLES.has(change.table)) {
      requestTenant(change.tenantId);
      return;
    }
    if (change !== undefined && change.table === PLANS_TABLE) {
      requestPlans();
      return;
    }
    // TRUNCATE, a table this version does not patch, or a payload it does not understand: all.
    if (change === undefined) logger.debug('unrecognised configuration notification');
    request('notify');
  }

  return {
    async start() {
      if (stopped) throw new Error('this configuration refresh was stopped');
      unlisten = await opts.store.listen(CONFIG_CHANNEL, onNotification, {
        onReconnect: () => {
          logger.warn('configuration listener reconnected; reloading in full (changes made meanwhile were not announced)');
          request('reconnect');
        },
        onError: (err) => logger.warn({ err: err.message }, 'configuration listener lost its connection; reconnecting'),
      });
      if (fullReloadMs > 0) {
        periodic = setInterval(() => request('periodic'), fullReloadMs);
        periodic.unref();
      }
      request('start');
    },

    request,

    reloadTenant(tenantId) {
      const done = afterNextRun();
      requestTenant(tenantId);
      return done;
    },

    reloadPlans() {
      const done = afterNextRun();
      requestPlans();
      return done;
    },

    reloadAll() {
      const done = afterNextRun();
      request('notify');
      return done;
    },

    settled() {
      if (idle()) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push(resolve));
    },

    stats: () => ({ ...stats }),

    async stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (periodic !== undefined) clearInterval(periodic);
      periodic = undefined;
      const stopListening = unlisten;
      unlisten = undefined;
      await stopListening?.().catch((err: unknown) => logger.warn({ err: message(err) }, 'configuration listener did not stop cleanly'));
      await running;
      wakeWaiters();
      wakeRunWaiters(true);
    },
  };
}
