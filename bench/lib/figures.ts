/**
 * Turns raw measurements into the DESIGN §9 figures: each a gatehouse value, the bare proxy's
 * value for the same figure (what "nothing but a proxy" costs on this machine), the target
 * and a verdict. Ratios are against the bare proxy; added latency is against the upstream
 * called directly. Differences are of percentiles (p50 of A minus p50 of B), not percentiles
 * of paired differences: the runs are interleaved, not paired.
 */
import type { LoadResult } from './load.js';
import type { ProbeResult, StreamProbeResult } from './probe.js';
import { summarize, type Summary } from './stats.js';
import type { ConcurrentStreamsResult } from './streams.js';
import type { TargetName } from './target.js';

export type Verdict = 'PASS' | 'FAIL' | 'n/a' | 'info';

export interface Figure {
  key: string;
  label: string;
  unit: string;
  gatehouse: number | null;
  bare: number | null;
  target: string;
  verdict: Verdict;
}

export interface LoadAggregate {
  target: TargetName;
  ok: number;
  failed: number;
  rps: number;
  rpsPerRound: number[];
  p50Ms: number;
  p99Ms: number;
  cpuPerReqUs: number;
  upstreamCpuPerReqUs: number;
}

export interface ProbeSummary extends Summary {
  failures: number;
}

export interface StreamSummary extends ProbeSummary {
  contentEventsMedian: number;
  missingDone: number;
}

function median(values: readonly number[]): number {
  return summarize(values).p50;
}

export function aggregateLoad(runs: readonly LoadResult[]): Map<TargetName, LoadAggregate> {
  const out = new Map<TargetName, LoadAggregate>();
  for (const name of new Set(runs.map((r) => r.target))) {
    const mine = runs.filter((r) => r.target === name);
    const ok = mine.reduce((a, r) => a + r.ok, 0);
    const seconds = mine.reduce((a, r) => a + r.durationS, 0);
    const cpu = mine.reduce((a, r) => a + r.cpuS, 0);
    const upCpu = mine.reduce((a, r) => a + r.upstreamCpuS, 0);
    out.set(name, {
      target: name,
      ok,
      failed: mine.reduce((a, r) => a + r.non2xx + r.errors, 0),
      rps: seconds > 0 ? ok / seconds : 0,
      rpsPerRound: mine.map((r) => r.rps),
      p50Ms: median(mine.map((r) => r.p50Ms)),
      p99Ms: median(mine.map((r) => r.p99Ms)),
      cpuPerReqUs: ok > 0 ? (cpu / ok) * 1e6 : Number.NaN,
      upstreamCpuPerReqUs: ok > 0 ? (upCpu / ok) * 1e6 : Number.NaN,
    });
  }
  return out;
}

export function summarizeProbe(probe: ProbeResult): Map<TargetName, ProbeSummary> {
  const out = new Map<TargetName, ProbeSummary>();
  for (const [name, samples] of probe.samplesUs) out.set(name, { ...summarize(samples), failures: probe.failures.get(name) ?? 0 });
  return out;
}

export function summarizeStreamProbe(probe: StreamProbeResult): Map<TargetName, StreamSummary> {
  const out = new Map<TargetName, StreamSummary>();
  for (const [name, s] of summarizeProbe(probe)) {
    out.set(name, { ...s, contentEventsMedian: median(probe.contentEvents.get(name) ?? []), missingDone: probe.missingDone.get(name) ?? 0 });
  }
  return out;
}

function judge(value: number | null, op: '≤' | '≥', limit: number): Verdict {
  if (value === null || !Number.isFinite(value)) return 'n/a';
  return (op === '≤' ? value <= limit : value >= limit) ? 'PASS' : 'FAIL';
}

const finite = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);

export interface FigureInputs {
  load: Map<TargetName, LoadAggregate>;
  latency: Map<TargetName, ProbeSummary>;
  ttfb: Map<TargetName, StreamSummary>;
  streams: ConcurrentStreamsResult | undefined;
  bareStreams: ConcurrentStreamsResult | undefined;
}

function streamsOk(r: ConcurrentStreamsResult | undefined): number | null {
  return r === undefined ? null : r.requested - Math.max(r.failed, r.requested - r.withDone, r.incomplete);
}

export function buildFigures(inp: FigureInputs): Figure[] {
  const load = (t: TargetName) => inp.load.get(t);
  const ratio = (f: (a: LoadAggregate) => number, t: TargetName) => {
    const a = load(t);
    const b = load('bare');
    return a === undefined || b === undefined ? null : finite(f(a) / f(b));
  };
  // Added latency in ms over the upstream called directly, for one target, from one summary.
  const added = (m: Map<TargetName, Summary>, t: TargetName, pick: (s: Summary) => number) => {
    const a = m.get(t);
    const d = m.get('direct');
    return a === undefined || d === undefined || a.n === 0 ? null : finite((pick(a) - pick(d)) / 1000);
  };
  const atLoad = (t: TargetName, pick: (a: LoadAggregate) => number) => {
    const a = load(t);
    const d = load('direct');
    return a === undefined || d === undefined ? null : finite(pick(a) - pick(d));
  };
  const fig = (key: string, label: string, unit: string, g: number | null, b: number | null, op: '≤' | '≥' | null, limit: number): Figure => ({
    key,
    label,
    unit,
    gatehouse: g,
    bare: b,
    target: op === null ? '—' : `${op} ${limit}`,
    verdict: op === null ? (g === null ? 'n/a' : 'info') : judge(g, op, limit),
  });
  const n = inp.streams?.requested ?? inp.bareStreams?.requested ?? 0;
  return [
    fig('throughput_ratio', 'throughput / bare proxy', '×', ratio((a) => a.rps, 'gatehouse'), 1, '≥', 0.85),
    fig('cpu_per_request_ratio', 'CPU per request / bare proxy', '×', ratio((a) => a.cpuPerReqUs, 'gatehouse'), 1, '≤', 1.3),
    fig('added_p50_1conn', 'added latency p50, 1 connection', 'ms', added(inp.latency, 'gatehouse', (s) => s.p50), added(inp.latency, 'bare', (s) => s.p50), '≤', 0.5),
    fig('added_p99_1conn', 'added latency p99, 1 connection', 'ms', added(inp.latency, 'gatehouse', (s) => s.p99), added(inp.latency, 'bare', (s) => s.p99), '≤', 2),
    fig('added_p50_one_at_a_time', 'added p50, one request at a time', 'ms', added(inp.latency, 'gatehouse', (s) => s.p50), added(inp.latency, 'bare', (s) => s.p50), '≤', 0.15),
    fig('ttfb_overhead_p50', 'streaming TTFB overhead p50', 'ms', added(inp.ttfb, 'gatehouse', (s) => s.p50), added(inp.ttfb, 'bare', (s) => s.p50), '≤', 1),
    fig('concurrent_streams_complete', `concurrent streams complete (of ${n})`, 'streams', streamsOk(inp.streams), streamsOk(inp.bareStreams), '≥', n),
    fig('added_p50_at_load', 'added latency p50 at load (autocannon, 1 ms res.)', 'ms', atLoad('gatehouse', (a) => a.p50Ms), atLoad('bare', (a) => a.p50Ms), null, 0),
    fig('added_p99_at_load', 'added latency p99 at load (autocannon, 1 ms res.)', 'ms', atLoad('gatehouse', (a) => a.p99Ms), atLoad('bare', (a) => a.p99Ms), null, 0),
    fig('cpu_per_request', 'proxy CPU per request', 'µs', finite(load('gatehouse')?.cpuPerReqUs), finite(load('bare')?.cpuPerReqUs), null, 0),
  ];
}
