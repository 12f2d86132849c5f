/**
 * Anomaly throttles (issue 6): while a tenant's anomaly with the `throttle` action is open, its
 * requests are admitted at a reduced rate. The throttle is one more token-bucket rule in the
 * tenant's limits, composed into the snapshot from the `anomaly_throttles` table (migration
 * 0019), so admission charges it in the same atomic reserve as every other rule: in Redis the
 * bucket is shared by every replica, and no request pays a lookup of its own for it.
 *
 * Its id cannot collide with a tenant's rule: rule ids are [a-z0-9-] (rules-schema.ts), and
 * this one carries an underscore (and no ':', which counter keys use as a separator).
 */
import type { LimitRule } from './types.js';

export type ThrottleMetric = 'requests' | 'cost';

export interface AnomalyThrottle {
  metric: ThrottleMetric;
  /** Requests are smoothed per minute; spend per hour (a single request may cost a lot). */
  window: 'minute' | 'hour';
  /** Units per window: requests, or micro-units of spend. 0 refuses everything that counts. */
  limit: number;
  /** The open alert that set it; resolving the alert lifts it. */
  alertId: string;
}

const PREFIX = 'anomaly_';

export function throttleRule(t: AnomalyThrottle): LimitRule {
  return { id: `${PREFIX}${t.metric}`, scope: 'tenant', subject: null, metric: t.metric, window: t.window, limit: t.limit, burst: null, models: null };
}

/** True for the rule an anomaly throttle adds (never for a rule a tenant or plan defined). */
export function isThrottleRule(rule: Pick<LimitRule, 'id'>): boolean {
  return rule.id.startsWith(PREFIX);
}
