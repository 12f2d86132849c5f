/**
 * Judging a tenant's last complete hour (anomaly.ts does the statistics) and what follows from
 * the verdict, in the tenant's transaction:
 *
 * - anomalous: an alert per metric and hour (idempotent per key, so every replica may judge);
 *   with the `throttle` action the tenant also gets a throttle (src/limits/throttle.ts) at
 *   `throttleFraction` of the rate the pattern expected, opened by whichever replica raised the
 *   alert and read by every replica from the snapshot;
 * - back to normal (a verdict that is not anomalous): the metric's open anomaly alerts are
 *   resolved and its throttle lifted;
 * - no verdict (too little history): nothing changes.
 *
 * A throttled tenant's refusals are metered, so its requests-per-hour still shows the demand it
 * refused. Its spend does not (a refusal costs nothing): while a spend throttle is open, the
 * hour's spend is judged as spend + refused requests × the hour's average cost per admitted
 * request. Every 4xx counts as refused there, which errs towards keeping the throttle.
 */
import { appendAudit } from '../../audit/index.js';
import type { AnomalyThrottle, ThrottleMetric } from '../../limits/throttle.js';
import { alertsRepo, anomalyThrottlesRepo, type StoredThrottle, type TenantTx } from '../../store/index.js';
import { DEFAULT_DETECTOR, denseSeries, detect, type Verdict } from './anomaly.js';
import { ALERTS_ACTOR, raiseAlert } from './raise.js';
import type { AnomalyAction } from './settings.js';

const HOUR = 3_600_000;

export interface AnomalyConfig {
  /** Least excess of an hour's spend over the expected, micro-units. */
  costFloorMicros: number;
  /** Least excess of an hour's requests over the expected. */
  requestsFloor: number;
  zThreshold: number;
  alpha: number;
}

export const DEFAULT_ANOMALY: AnomalyConfig = { costFloorMicros: 1_000_000, requestsFloor: 100, zThreshold: DEFAULT_DETECTOR.zThreshold, alpha: DEFAULT_DETECTOR.alpha };

export interface AnomalyPolicy {
  action: Exclude<AnomalyAction, 'off'>;
  /** Share of the expected rate a throttle admits (0..1). */
  throttleFraction: number;
}

export interface JudgedHour {
  raised: number;
  resolved: number;
  opened: number;
  lifted: number;
}

/**
 * The throttle for an anomalous hour: `fraction` of what the pattern expected, never of less than
 * the detector's floor (a tenant with hardly any usual traffic is slowed, not shut out).
 * Requests as a per-minute bucket; spend per hour, since one request may cost a minute's worth.
 */
export function throttleFor(metric: ThrottleMetric, verdict: Pick<Verdict, 'expected'>, floor: number, fraction: number): Omit<AnomalyThrottle, 'alertId'> {
  const perHour = Math.max(verdict.expected, floor);
  if (metric === 'requests') return { metric, window: 'minute', limit: fraction <= 0 ? 0 : Math.max(1, Math.ceil((fraction * perHour) / 60)) };
  return { metric, window: 'hour', limit: fraction <= 0 ? 0 : Math.max(1, Math.ceil(fraction * perHour)) };
}

type HourTotals = { bucketStart: Date; requests: number; refused: number; costMicros: number };

/** The hour's spend with the refused requests priced at the hour's average (a spend throttle hides them). */
export function spendDemand(t: Pick<HourTotals, 'requests' | 'refused' | 'costMicros'>): number {
  const admitted = t.requests - t.refused;
  if (t.refused <= 0 || admitted <= 0) return t.costMicros;
  return Math.round(t.costMicros + (t.refused * t.costMicros) / admitted);
}

async function auditThrottle(tx: TenantTx, action: 'anomaly.throttle_opened' | 'anomaly.throttle_lifted', t: StoredThrottle | AnomalyThrottle, reason?: string): Promise<void> {
  await appendAudit(tx, {
    actor: ALERTS_ACTOR,
    action,
    target: { kind: 'alert', id: t.alertId },
    outcome: 'success',
    after: { metric: t.metric, window: t.window, limit: t.limit, ...(reason === undefined ? {} : { reason }) },
  });
}

/** Lifts every throttle of the tenant whose action no longer throttles (a safety net for the settings change). */
export async function liftAllThrottles(tx: TenantTx, reason: string): Promise<number> {
  const lifted = await anomalyThrottlesRepo.lift(tx, null);
  for (const t of lifted) await auditThrottle(tx, 'anomaly.throttle_lifted', t, reason);
  return lifted.length;
}

/** Judges the hour that ended at the last whole hour before `nowMs`, and acts on the verdict. */
export async function judgeLastHour(tx: TenantTx, nowMs: number, cfg: AnomalyConfig, policy: AnomalyPolicy): Promise<JudgedHour> {
  const out: JudgedHour = { raised: 0, resolved: 0, opened: 0, lifted: 0 };
  const to = Math.floor(nowMs / HOUR) * HOUR; // the last complete hour ends here
  const from = to - (2 * 168 + 24) * HOUR; // two weeks and a day: enough for the seasonal model
  const totals = await alertsRepo.hourlyTotals(tx, new Date(from), new Date(to));
  const open = new Map((await anomalyThrottlesRepo.list(tx)).map((t) => [t.metric, t]));
  if (policy.action !== 'throttle') {
    for (const t of open.values()) {
      await anomalyThrottlesRepo.lift(tx, t.metric);
      await auditThrottle(tx, 'anomaly.throttle_lifted', t, 'action_changed');
      out.lifted++;
    }
    open.clear();
  }
  const hour = new Date(to - HOUR).toISOString();
  for (const [metric, floor] of [
    ['cost', cfg.costFloorMicros],
    ['requests', cfg.requestsFloor],
  ] as const) {
    const throttled = open.get(metric);
    const value = (t: HourTotals) => (metric === 'requests' ? t.requests : throttled !== undefined ? spendDemand(t) : t.costMicros);
    const series = denseSeries(totals.map((t) => ({ bucketStart: t.bucketStart, value: value(t) })), from, to);
    const v = detect(series, { ...DEFAULT_DETECTOR, alpha: cfg.alpha, zThreshold: cfg.zThreshold, absoluteFloor: floor });
    if (v === null) continue;
    if (!v.anomalous) {
      const ended = await alertsRepo.resolveOpen(tx, 'usage.anomaly', `anomaly:${metric}:`, 'system:pattern_normal');
      out.resolved += ended.length;
      if (throttled === undefined) continue;
      for (const t of await anomalyThrottlesRepo.lift(tx, metric)) {
        await auditThrottle(tx, 'anomaly.throttle_lifted', t, 'pattern_normal');
        out.lifted++;
      }
      continue;
    }
    const payload: Record<string, unknown> = {
      metric: metric === 'cost' ? 'cost_micros_per_hour' : 'requests_per_hour',
      hour_start: hour,
      value: v.value,
      expected: Math.round(v.expected * 100) / 100,
      z_score: Number.isFinite(v.z) ? Math.round(v.z * 100) / 100 : null,
      seasonal: v.seasonal,
      action: policy.action,
    };
    // The rate goes into the alert (what the tenant's receivers are told), which is raised before
    // the throttle row that points at it.
    const planned = policy.action === 'throttle' ? throttleFor(metric, v, floor, policy.throttleFraction) : null;
    if (planned !== null) payload.throttle = { window: planned.window, limit: planned.limit };
    const alert = await raiseAlert(tx, 'usage.anomaly', `anomaly:${metric}:${hour}`, payload);
    if (alert === null) continue; // raised before (by this or another replica)
    out.raised++;
    if (planned !== null) {
      const t = await anomalyThrottlesRepo.open(tx, { ...planned, alertId: alert.id });
      await auditThrottle(tx, 'anomaly.throttle_opened', t);
      out.opened++;
    }
  }
  return out;
}
