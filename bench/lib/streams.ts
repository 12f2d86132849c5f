/**
 * Many concurrent streams through one target: every stream must end with `[DONE]` and carry as
 * many content deltas as the same request made directly to the upstream. The mock paces its
 * tokens so the streams really are open at the same time; the peak overlap is reported to show it.
 */
import { Pool } from 'undici';
import { timedStream, type StreamStats } from './sse.js';
import { summarize, type Summary } from './stats.js';
import type { Target } from './target.js';

export interface ConcurrentStreamsResult {
  target: string;
  requested: number;
  ok: number;
  withDone: number;
  /** Streams with fewer or more content deltas than expected. */
  incomplete: number;
  failed: number;
  expectedContentEvents: number;
  /** Most streams that were open (headers received, not yet ended) at one instant. */
  peakOpen: number;
  ttfbMs: Summary;
  wallMs: number;
  firstError: string | undefined;
}

function peakOverlap(streams: readonly StreamStats[]): number {
  const edges: Array<[bigint, number]> = [];
  for (const s of streams) edges.push([s.openedAtNs, 1], [s.closedAtNs, -1]);
  // Closings sort before openings at the same instant, so touching intervals do not overlap.
  edges.sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));
  let open = 0;
  let peak = 0;
  for (const [, delta] of edges) {
    open += delta;
    peak = Math.max(peak, open);
  }
  return peak;
}

export async function concurrentStreams(target: Target, body: string, count: number, expectedContentEvents: number): Promise<ConcurrentStreamsResult> {
  const pool = new Pool(target.origin, { connections: count, keepAliveTimeout: 60_000 });
  const t0 = Date.now();
  const settled = await Promise.allSettled(Array.from({ length: count }, () => timedStream(pool, target, body)));
  const wallMs = Date.now() - t0;
  await pool.close();
  const streams: StreamStats[] = [];
  let firstError: string | undefined;
  for (const s of settled) {
    if (s.status === 'fulfilled') streams.push(s.value);
    else firstError ??= s.reason instanceof Error ? s.reason.message : String(s.reason);
  }
  const ok = streams.filter((s) => s.status === 200);
  if (firstError === undefined && ok.length < streams.length) {
    firstError = `status ${streams.find((s) => s.status !== 200)?.status ?? '?'}`;
  }
  return {
    target: target.name,
    requested: count,
    ok: ok.length,
    withDone: ok.filter((s) => s.done).length,
    incomplete: ok.filter((s) => s.contentEvents !== expectedContentEvents).length,
    failed: count - ok.length,
    expectedContentEvents,
    peakOpen: peakOverlap(ok),
    ttfbMs: summarize(ok.map((s) => s.ttfbUs / 1000)),
    wallMs,
    firstError,
  };
}
