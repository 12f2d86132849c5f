/**
 * The periodic alert job: for each tenant, in one tenant transaction, measure its calendar
 * budgets from the rollups, raise threshold crossings, compute exhaustion forecasts (kept in the
 * in-memory cache the data plane reads), judge the last complete hour for anomalies (opening and
 * lifting throttles, anomalies.ts) and, about once an hour, resolve ended alerts and apply the
 * retention (retention.ts). Every replica may run it: raising is idempotent per alert key,
 * resolving and deleting are idempotent, so the work is repeated, not its effects.
 */
import type { CounterReader, TenantLimits } from '../../limits/types.js';
import type { Logger } from '../../observability/logger.js';
import { alertsRepo, usageRepo, type Store, type TenantTx } from '../../store/index.js';
import { DEFAULT_ANOMALY, judgeLastHour, liftAllThrottles, type AnomalyConfig } from './anomalies.js';
import { crossings, exhaustionForecasts, raiseCrossings, raiseForecasts } from './budgets.js';
import { DEFAULT_LOOKBACK_HOURS, counterKeyOf, forecasts, lookbackStart, userForecasts, withCounters, type Forecast, type ForecastCache } from './forecast.js';
import { periodicRounds, type PeriodicRounds } from '../../periodic.js';
import { alertHousekeeping, type Housekeeping } from './retention.js';
import { effectiveSettings } from './settings.js';
import { earliestStart, forecastRules, windowUsage, type CalendarRule, type WeightOf, type WindowUsage } from './usage.js';

export { DEFAULT_ANOMALY, type AnomalyConfig } from './anomalies.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface TenantToEvaluate {
  id: string;
  limits?: TenantLimits | undefined;
}

export interface TenantEvaluation {
  raised: number;
  forecasts: Forecast[];
  /** Anomaly throttles opened and lifted this round. */
  throttlesOpened: number;
  throttlesLifted: number;
  /** When housekeeping ran. */
  housekeeping?: Housekeeping;
}

/** What forecasts read besides the store (forecast.ts says what each adds). */
export interface ForecastInputs {
  /** The limits backend's window counters: reservations, and usage the rollups do not have yet. */
  counters?: CounterReader;
  weightOf?: WeightOf;
}

/** Groups of end-user raw events read for one forecast (the busiest first). */
const END_USER_GROUPS = 1000;

/**
 * Forecasts of the tenant's day/month rules (given): tenant, team and key rules from the rollups,
 * end-user rules from the counters and the lookback's raw events, every one with its counter's
 * reservations when the counters can be read. `usage`: the rollup measurements (budget crossings).
 */
export async function tenantForecasts(
  tx: TenantTx,
  rules: readonly CalendarRule[],
  timeZone: string,
  nowMs: number,
  lookbackHours = DEFAULT_LOOKBACK_HOURS,
  inputs: ForecastInputs = {},
): Promise<{ usage: WindowUsage[]; forecasts: Forecast[] }> {
  const measured = rules.filter((r) => r.scope !== 'user');
  const users = inputs.counters === undefined ? [] : rules.filter((r) => r.scope === 'user');
  let usage: WindowUsage[] = [];
  const fs: Forecast[] = [];
  if (measured.length > 0) {
    const dayRows = await usageRepo.rollups(tx, { granularity: 'day', from: new Date(earliestStart(measured, nowMs, timeZone)), to: new Date(nowMs + DAY) });
    const hourRows = await usageRepo.rollups(tx, { granularity: 'hour', from: new Date(lookbackStart(nowMs, lookbackHours)), to: new Date(nowMs + HOUR) });
    usage = windowUsage(measured, dayRows, nowMs, timeZone, inputs.weightOf);
    fs.push(...forecasts(usage, hourRows, nowMs, lookbackHours, inputs.weightOf));
  }
  if (users.length > 0) {
    const recent = await alertsRepo.endUserTotals(tx, new Date(lookbackStart(nowMs, lookbackHours)), new Date(nowMs + HOUR), END_USER_GROUPS);
    fs.push(...userForecasts(users, recent, nowMs, timeZone, lookbackHours, inputs.weightOf));
  }
  if (inputs.counters === undefined || fs.length === 0) return { usage, forecasts: fs };
  const userRules = new Set(users.map((r) => r.id));
  const counters = await inputs.counters.peekWindows(fs.map((f) => counterKeyOf(tx.tenantId, f)));
  return { usage, forecasts: withCounters(tx.tenantId, fs, counters, (f) => userRules.has(f.ruleId), nowMs) };
}

export interface EvaluateOptions {
  /** Judge the last complete hour (default true; the job does it once per tenant and hour). */
  anomalies?: boolean;
  /** Resolve ended alerts and delete past retention, with this default retention (days). */
  housekeeping?: { defaultRetentionDays: number };
  forecast?: ForecastInputs;
}

export async function evaluateTenant(
  tx: TenantTx,
  tenant: TenantToEvaluate,
  nowMs: number,
  anomaly: AnomalyConfig = DEFAULT_ANOMALY,
  opts: EvaluateOptions = {},
): Promise<TenantEvaluation> {
  const settings = effectiveSettings(await alertsRepo.settings(tx));
  const out: TenantEvaluation = { raised: 0, forecasts: [], throttlesOpened: 0, throttlesLifted: 0 };
  if (tenant.limits !== undefined) {
    const rules = forecastRules(tenant.limits);
    const { usage, forecasts: f } = await tenantForecasts(tx, rules, tenant.limits.timeZone, nowMs, DEFAULT_LOOKBACK_HOURS, opts.forecast);
    // Thresholds are of cost budgets measured from the rollups (usage): what is billed.
    out.raised += await raiseCrossings(tx, crossings(usage, settings.budgetThresholds));
    out.raised += await raiseForecasts(tx, exhaustionForecasts(f, nowMs));
    out.forecasts = f;
  }
  if (opts.anomalies !== false) {
    if (settings.anomalyAction === 'off') {
      out.throttlesLifted += await liftAllThrottles(tx, 'action_changed');
    } else {
      const judged = await judgeLastHour(tx, nowMs, anomaly, { action: settings.anomalyAction, throttleFraction: settings.throttleFraction });
      out.raised += judged.raised;
      out.throttlesOpened += judged.opened;
      out.throttlesLifted += judged.lifted;
    }
  }
  if (opts.housekeeping !== undefined) {
    out.housekeeping = await alertHousekeeping(tx, nowMs, settings.retentionDays ?? opts.housekeeping.defaultRetentionDays);
  }
  return out;
}

/**
 * Whether evaluating the tenant this round can do anything: measure a calendar budget, judge an
 * hour or sweep. Without any, evaluateTenant only reads the tenant's alert settings and uses
 * none of them; at 10,000 tenants that was 10,000 transactions a minute, ~1.5–3 s of the
 * gateway's CPU per round competing with requests (bench/README.md, "Snapshot memory").
 */
export function roundHasWork(tenant: TenantToEvaluate, anomalies: boolean, sweep: boolean): boolean {
  return anomalies || sweep || (tenant.limits !== undefined && forecastRules(tenant.limits).length > 0);
}

export interface AlertJobOptions {
  store: Pick<Store, 'withTenant'>;
  tenants: () => Iterable<TenantToEvaluate>;
  cache: ForecastCache;
  intervalMs: number;
  anomaly?: AnomalyConfig;
  /** Days resolved alerts and finished deliveries are kept unless a tenant sets its own; default 90. */
  retentionDays?: number;
  /** Reservations and compute-unit weights for the forecasts. */
  forecast?: ForecastInputs;
  now?: () => number;
  logger?: Logger;
}

export type AlertJob = PeriodicRounds;

/**
 * The anomaly verdict changes once an hour: each tenant's last complete hour is judged once,
 * a few minutes into the next (so the metering shipper has landed that hour's last events).
 */
const ANOMALY_SETTLE_MS = 5 * 60_000;
/** Housekeeping (resolving ended alerts, retention) runs per tenant about this often. */
const HOUSEKEEPING_EVERY_MS = HOUR;
export const DEFAULT_ALERT_RETENTION_DAYS = 90;

export function createAlertJob(opts: AlertJobOptions): AlertJob {
  const now = opts.now ?? Date.now;
  const judgedHour = new Map<string, number>();
  const sweptAt = new Map<string, number>();
  const housekeeping = { defaultRetentionDays: opts.retentionDays ?? DEFAULT_ALERT_RETENTION_DAYS };

  async function round(stopped: () => boolean): Promise<number> {
    let raised = 0;
    const seen = new Set<string>();
    for (const t of opts.tenants()) {
      if (stopped()) return raised;
      seen.add(t.id);
      try {
        const at = now();
        const hour = Math.floor(at / HOUR) * HOUR;
        const anomalies = at - hour >= ANOMALY_SETTLE_MS && judgedHour.get(t.id) !== hour;
        const sweep = at - (sweptAt.get(t.id) ?? -Infinity) >= HOUSEKEEPING_EVERY_MS;
        if (!roundHasWork(t, anomalies, sweep)) {
          opts.cache.set(t.id, []); // what the evaluation would have found: no forecasts
          continue;
        }
        const r = await opts.store.withTenant(t.id, (tx) =>
          evaluateTenant(tx, t, at, opts.anomaly, { anomalies, ...(sweep ? { housekeeping } : {}), ...(opts.forecast ? { forecast: opts.forecast } : {}) }),
        );
        if (anomalies) judgedHour.set(t.id, hour);
        if (sweep) sweptAt.set(t.id, at);
        opts.cache.set(t.id, r.forecasts);
        raised += r.raised;
        if (r.throttlesOpened + r.throttlesLifted > 0) {
          opts.logger?.info({ tenantId: t.id, opened: r.throttlesOpened, lifted: r.throttlesLifted }, 'anomaly throttles changed');
        }
        const h = r.housekeeping;
        if (h !== undefined && h.alertsDeleted + h.deliveriesDeleted > 0) {
          opts.logger?.info({ tenantId: t.id, alerts: h.alertsDeleted, deliveries: h.deliveriesDeleted }, 'alert retention');
        }
      } catch (err) {
        opts.logger?.error({ err, tenantId: t.id }, 'alert evaluation failed');
      }
    }
    opts.cache.retain(seen);
    for (const id of judgedHour.keys()) if (!seen.has(id)) judgedHour.delete(id);
    for (const id of sweptAt.keys()) if (!seen.has(id)) sweptAt.delete(id);
    return raised;
  }

  return periodicRounds(round, {
    intervalMs: opts.intervalMs,
    onError: (err) => opts.logger?.error({ err }, 'alert job failed'),
  });
}
