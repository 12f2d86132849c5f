/**
 * DESIGN §9 asks the bench to show the gateway's own in-process overhead histogram beside the
 * end-to-end figures. Its metric name is the gateway's business, so this looks for any
 * Prometheus histogram on /metrics whose name mentions "overhead" and estimates p50/p99 from
 * the cumulative buckets (upper bound of the bucket holding the quantile).
 */
import { request } from 'undici';

export interface OverheadReading {
  metric: string;
  count: number;
  p50Ms: number;
  p99Ms: number;
}

function quantile(buckets: ReadonlyArray<[number, number]>, count: number, q: number): number {
  for (const [le, cumulative] of buckets) if (cumulative >= q * count) return le;
  return Number.POSITIVE_INFINITY;
}

export function parseOverhead(text: string): OverheadReading | undefined {
  const buckets = new Map<string, Map<number, number>>();
  const line = /^([a-zA-Z_:][\w:]*overhead[\w:]*)_bucket\{([^}]*)\}\s+(\S+)/;
  for (const raw of text.split('\n')) {
    const m = line.exec(raw);
    if (m === null || m[1] === undefined || m[2] === undefined || m[3] === undefined) continue;
    const le = /le="([^"]+)"/.exec(m[2])?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    // Series with other labels (per tenant, per route) are summed per bucket bound.
    const perMetric = buckets.get(m[1]) ?? new Map<number, number>();
    perMetric.set(bound, (perMetric.get(bound) ?? 0) + Number(m[3]));
    buckets.set(m[1], perMetric);
  }
  for (const [metric, perBound] of buckets) {
    const sorted = [...perBound.entries()].sort((a, b) => a[0] - b[0]);
    const count = sorted[sorted.length - 1]?.[1] ?? 0;
    if (count === 0) continue;
    // Prometheus convention is seconds; a name ending in _ms or _milliseconds is taken at its word.
    const scale = /_(ms|milliseconds)$/.test(metric) ? 1 : 1000;
    return { metric, count, p50Ms: quantile(sorted, count, 0.5) * scale, p99Ms: quantile(sorted, count, 0.99) * scale };
  }
  return undefined;
}

export async function readOverhead(origin: string, headers: Record<string, string>): Promise<OverheadReading | undefined> {
  try {
    const res = await request(`${origin}/metrics`, { method: 'GET', headers, headersTimeout: 5000, bodyTimeout: 5000 });
    const text = await res.body.text();
    return res.statusCode === 200 ? parseOverhead(text) : undefined;
  } catch {
    return undefined;
  }
}
