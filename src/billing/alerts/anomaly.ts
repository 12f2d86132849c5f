/**
 * Anomaly detection on a tenant's hourly series (cost and requests): an exponentially weighted
 * mean and variance (EWMA, EWMVar) over the history, and the latest complete hour is anomalous
 * when its z-score exceeds `zThreshold` AND it exceeds the expected value by at least
 * `absoluteFloor` (so a tenant going from 1 to 9 requests an hour is not an incident).
 *
 * Seasonality: with at least `seasonalAfterHours` (2 weeks) of history the detector works on the
 * week-over-week differences x[t] − x[t−168] instead of the raw values, so a Monday-morning peak
 * is compared with last Monday morning, not with Sunday night. Before that it uses the raw values.
 * Only spikes upward are reported (spend or traffic far above the pattern); drops are not.
 *
 * Robust to its own anomalies: a point further than max(zThreshold σ, absoluteFloor) from the
 * running mean updates the mean and variance as if it were at that distance. Without this, one
 * spike inflates the variance so much that the same flood an hour later scores below the
 * threshold (an anomaly throttle would be lifted while the flood goes on). A lasting change of
 * level is still learnt: each clipped hour multiplies the variance by 2.3 (at z 4), so it is absorbed
 * within hours.
 */
export interface DetectorOptions {
  /** EWMA weight of the newest point (0 < alpha ≤ 1). */
  alpha: number;
  zThreshold: number;
  /** Least excess over the expected value, in the series' units. */
  absoluteFloor: number;
  /** Hours of history before any verdict. */
  minHistoryHours: number;
  /** Hours of history from which the week-over-week (hour-of-week) model is used. */
  seasonalAfterHours: number;
}

export const HOURS_PER_WEEK = 168;

export const DEFAULT_DETECTOR: Omit<DetectorOptions, 'absoluteFloor'> = {
  alpha: 0.1,
  zThreshold: 4,
  minHistoryHours: 24,
  seasonalAfterHours: 2 * HOURS_PER_WEEK,
};

export interface Verdict {
  anomalous: boolean;
  value: number;
  /** What the pattern predicted for the latest hour. */
  expected: number;
  z: number;
  seasonal: boolean;
}

/**
 * EWMA mean and variance of `xs` (in order). `clip`: a deviation beyond max(z σ, floor) counts as
 * that bound (see above); without it every point counts in full.
 */
export function ewma(xs: readonly number[], alpha: number, clip?: { z: number; floor: number }): { mean: number; variance: number } {
  let mean = xs[0] ?? 0;
  let variance = 0;
  for (let i = 1; i < xs.length; i++) {
    let d = (xs[i] as number) - mean;
    if (clip !== undefined) {
      const bound = Math.max(clip.z * Math.sqrt(variance), clip.floor);
      if (bound > 0 && Math.abs(d) > bound) d = Math.sign(d) * bound;
    }
    mean += alpha * d;
    variance = (1 - alpha) * (variance + alpha * d * d);
  }
  return { mean, variance };
}

/**
 * `series`: hourly values, oldest first, the last being the hour to judge; leading hours before
 * the tenant had any usage should be cut off by the caller (they are not history).
 */
export function detect(series: readonly number[], opts: DetectorOptions): Verdict | null {
  const history = series.length - 1;
  if (history < opts.minHistoryHours) return null;
  const value = series[series.length - 1] as number;
  const seasonal = history >= opts.seasonalAfterHours;
  let xs: number[];
  let base = 0;
  if (seasonal) {
    xs = [];
    for (let t = HOURS_PER_WEEK; t < series.length; t++) xs.push((series[t] as number) - (series[t - HOURS_PER_WEEK] as number));
    base = series[series.length - 1 - HOURS_PER_WEEK] as number;
  } else {
    xs = [...series];
  }
  const latest = xs.pop() as number;
  const { mean, variance } = ewma(xs, opts.alpha, { z: opts.zThreshold, floor: opts.absoluteFloor });
  const std = Math.sqrt(variance);
  const excess = latest - mean;
  const z = std > 0 ? excess / std : excess > 0 ? Number.POSITIVE_INFINITY : 0;
  return { anomalous: z > opts.zThreshold && excess >= opts.absoluteFloor, value, expected: base + mean, z, seasonal };
}

/**
 * Hourly totals as a dense series from `fromMs` to `toMs` (exclusive, whole hours), zeros where
 * there was no usage, with the leading empty hours dropped.
 */
export function denseSeries(points: readonly { bucketStart: Date; value: number }[], fromMs: number, toMs: number): number[] {
  const n = Math.max(0, Math.round((toMs - fromMs) / 3_600_000));
  const xs = new Array<number>(n).fill(0);
  for (const p of points) {
    const i = Math.round((p.bucketStart.getTime() - fromMs) / 3_600_000);
    if (i >= 0 && i < n) xs[i] = (xs[i] as number) + p.value;
  }
  const first = xs.findIndex((x) => x !== 0);
  return first === -1 ? [] : xs.slice(first);
}
