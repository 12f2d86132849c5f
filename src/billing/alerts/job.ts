/**
 * The periodic alert job: for each tenant, in one tenant transaction, measure its calendar
 * budgets from the rollups, raise threshold crossings, compute exhaustion forecasts (kept in the
 * in-memory cache the data plane reads) and check the last complete hour for anomalies. Every
 * replica may run it: raising is idempotent per alert key, so the work is repeated, not the alerts.
 */
import type { TenantLimits } from '../../limits/types.js';
import type { Logger } from '../../observability/logger.js';
import { alertsRepo, usageRepo, type Store, type TenantTx } from '../../store/index.js';
import { DEFAULT_DETECTOR, denseSeries, detect, type DetectorOptions } from './anomaly.js';
import { crossings, raiseCrossings } from './budgets.js';
import { DEFAULT_LOOKBACK_HOURS, forecasts, lookbackStart, type Forecast, type ForecastCache } from './forecast.js';
import { periodicRounds, type PeriodicRounds } from './periodic.js';
import { raiseAlert } from './raise.js';
import { effectiveSettings } from './settings.js';
import { calendarRules, earliestStart, windowUsage, type CalendarRule } from './usage.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface TenantToEvaluate {
  id: string;
  limits?: TenantLimits | undefined;
}

export interface AnomalyConfig {
  /** Least excess of an hour's spend over the expected, micro-units. */
  costFloorMicros: number;
  /** Least excess of an hour's requests over the expected. */
  requestsFloor: number;
  zThreshold: number;
  alpha: number;
}

export const DEFAULT_ANOMALY: AnomalyConfig = { costFloorMicros: 1_000_000, requestsFloor: 100, zThreshold: DEFAULT_DETECTOR.zThreshold, alpha: DEFAULT_DETECTOR.alpha };

export interface TenantEvaluation {
  raised: number;
  forecasts: Forecast[];
}

/** Forecasts of the tenant's calendar budgets (rules given), from the rollups. */
export async function tenantForecasts(tx: TenantTx, rules: readonly CalendarRule[], timeZone: string, nowMs: number, lookbackHours = DEFAULT_LOOKBACK_HOURS) {
  if (rules.length === 0) return { usage: [], forecasts: [] as Forecast[] };
  const dayRows = await usageRepo.rollups(tx, { granularity: 'day', from: new Date(earliestStart(rules, nowMs, timeZone)), to: new Date(nowMs + DAY) });
  const hourRows = await usageRepo.rollups(tx, { granularity: 'hour', from: new Date(lookbackStart(nowMs, lookbackHours)), to: new Date(nowMs + HOUR) });
  const usage = windowUsage(rules, dayRows, nowMs, timeZone);
  return { usage, forecasts: forecasts(usage, hourRows, nowMs, lookbackHours) };
}

async function checkAnomalies(tx: TenantTx, nowMs: number, cfg: AnomalyConfig): Promise<number> {
  const to = Math.floor(nowMs / HOUR) * HOUR; // the last complete hour ends here
  const from = to - (2 * 168 + 24) * HOUR; // two weeks and a day: enough for the seasonal model
  const totals = await alertsRepo.hourlyTotals(tx, new Date(from), new Date(to));
  const hour = new Date(to - HOUR).toISOString();
  let raised = 0;
  for (const [metric, floor] of [
    ['cost', cfg.costFloorMicros],
    ['requests', cfg.requestsFloor],
  ] as const) {
    const series = denseSeries(totals.map((t) => ({ bucketStart: t.bucketStart, value: metric === 'cost' ? t.costMicros : t.requests })), from, to);
    const v = detect(series, { ...DEFAULT_DETECTOR, alpha: cfg.alpha, zThreshold: cfg.zThreshold, absoluteFloor: floor });
    if (v === null || !v.anomalous) continue;
    const alert = await raiseAlert(tx, 'usage.anomaly', `anomaly:${metric}:${hour}`, {
      metric: metric === 'cost' ? 'cost_micros_per_hour' : 'requests_per_hour',
      hour_start: hour,
      value: v.value,
      expected: Math.round(v.expected * 100) / 100,
      z_score: Number.isFinite(v.z) ? Math.round(v.z * 100) / 100 : null,
      seasonal: v.seasonal,
      action: 'notify',
    });
    if (alert !== null) raised++;
  }
  return raised;
}

export async function evaluateTenant(
  tx: TenantTx,
  tenant: TenantToEvaluate,
  nowMs: number,
  anomaly: AnomalyConfig = DEFAULT_ANOMALY,
  opts: { anomalies?: boolean } = {},
): Promise<TenantEvaluation> {
  const settings = effectiveSettings(await alertsRepo.settings(tx));
  let raised = 0;
  let fs: Forecast[] = [];
  if (tenant.limits !== undefined) {
    const rules = calendarRules(tenant.limits);
    const { usage, forecasts: f } = await tenantForecasts(tx, rules, tenant.limits.timeZone, nowMs);
    raised += await raiseCrossings(tx, crossings(usage, settings.budgetThresholds));
    fs = f;
  }
  if (opts.anomalies !== false && settings.anomalyAction === 'notify') raised += await checkAnomalies(tx, nowMs, anomaly);
  return { raised, forecasts: fs };
}

export interface AlertJobOptions {
  store: Pick<Store, 'withTenant'>;
  tenants: () => Iterable<TenantToEvaluate>;
  cache: ForecastCache;
  intervalMs: number;
  anomaly?: AnomalyConfig;
  now?: () => number;
  logger?: Logger;
}

export type AlertJob = PeriodicRounds;

/**
 * The anomaly verdict changes once an hour: each tenant's last complete hour is judged once,
 * a few minutes into the next (so the metering shipper has landed that hour's last events).
 */
const ANOMALY_SETTLE_MS = 5 * 60_000;

export function createAlertJob(opts: AlertJobOptions): AlertJob {
  const now = opts.now ?? Date.now;
  const judgedHour = new Map<string, number>();

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
        const r = await opts.store.withTenant(t.id, (tx) => evaluateTenant(tx, t, at, opts.anomaly, { anomalies }));
        if (anomalies) judgedHour.set(t.id, hour);
        opts.cache.set(t.id, r.forecasts);
        raised += r.raised;
      } catch (err) {
        opts.logger?.error({ err, tenantId: t.id }, 'alert evaluation failed');
      }
    }
    opts.cache.retain(seen);
    for (const id of judgedHour.keys()) if (!seen.has(id)) judgedHour.delete(id);
    return raised;
  }

  return periodicRounds(round, {
    intervalMs: opts.intervalMs,
    onError: (err) => opts.logger?.error({ err }, 'alert job failed'),
  });
}
