/**
 * The bench's output: one report object, printed as text tables, written as JSON (everything,
 * for later comparison) and markdown (for humans and PRs).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchOptions } from './args.js';
import type { Figure, LoadAggregate, ProbeSummary, StreamSummary } from './figures.js';
import type { LoadResult } from './load.js';
import type { OverheadReading } from './overhead.js';
import type { ConcurrentStreamsResult } from './streams.js';
import { fmt, markdownTable, textTable, type Row } from './table.js';
import type { TargetName } from './target.js';

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  environment: Record<string, string | number>;
  options: BenchOptions;
  gatehouse: {
    available: boolean;
    reason?: string;
    /** Resident set after the run (after the concurrent streams). */
    rssMb?: number;
    /** Resident set once ready and idle, after the load rounds, and the peak (VmHWM) over the run. */
    rssIdleMb?: number;
    rssAfterLoadMb?: number;
    peakRssMb?: number;
    overhead?: OverheadReading;
  };
  figures: Figure[];
  load: Partial<Record<TargetName, LoadAggregate>>;
  loadRuns: LoadResult[];
  latencyUs: Partial<Record<TargetName, ProbeSummary>>;
  ttfbUs: Partial<Record<TargetName, StreamSummary>>;
  streams: ConcurrentStreamsResult[];
  notes: string[];
}

interface Section {
  title: string;
  header: Row;
  rows: Row[];
}

function figureValue(f: Figure, v: number | null): string {
  if (v === null) return '—';
  if (f.unit === 'streams') return String(v);
  return `${fmt(v, f.unit === 'µs' ? 1 : f.unit === '×' ? 2 : 3)} ${f.unit}`;
}

function sections(r: BenchReport): Section[] {
  const gh = r.gatehouse.available ? 'gatehouse' : 'gatehouse (not available)';
  const out: Section[] = [
    {
      title: 'Figures (DESIGN §9)',
      header: ['figure', gh, 'bare proxy (ref)', 'target', 'result'],
      rows: r.figures.map((f) => [f.label, figureValue(f, f.gatehouse), figureValue(f, f.bare), f.target === '—' ? '—' : `${f.target}${f.unit === 'streams' ? '' : ` ${f.unit}`}`, f.verdict]),
    },
    {
      title: `Load: ${r.options.connections} connections × ${r.options.duration} s × ${r.options.rounds} round(s), non-streaming`,
      header: ['target', 'req/s', 'req/s per round', 'failed', 'p50 ms', 'p99 ms', 'CPU µs/req', 'upstream CPU µs/req'],
      rows: Object.values(r.load).map((a) => [a.target, fmt(a.rps, 0), a.rpsPerRound.map((v) => fmt(v, 0)).join(' / '), String(a.failed), fmt(a.p50Ms, 0), fmt(a.p99Ms, 0), fmt(a.cpuPerReqUs, 1), fmt(a.upstreamCpuPerReqUs, 1)]),
    },
    {
      title: 'One connection, sequential, interleaved (µs, full response)',
      header: ['target', 'n', 'p50', 'p90', 'p99', 'p99.9', 'failures'],
      rows: Object.entries(r.latencyUs).map(([t, s]) => [t, String(s.n), fmt(s.p50, 0), fmt(s.p90, 0), fmt(s.p99, 0), fmt(s.p999, 0), String(s.failures)]),
    },
    {
      title: `Streaming time to first byte, sequential, interleaved (µs, ${r.options.streamTokens} tokens)`,
      header: ['target', 'n', 'p50', 'p90', 'p99', 'content deltas', 'no [DONE]', 'failures'],
      rows: Object.entries(r.ttfbUs).map(([t, s]) => [t, String(s.n), fmt(s.p50, 0), fmt(s.p90, 0), fmt(s.p99, 0), fmt(s.contentEventsMedian, 0), String(s.missingDone), String(s.failures)]),
    },
  ];
  if (r.streams.length > 0) {
    out.push({
      title: 'Concurrent streams',
      header: ['target', 'requested', 'ok', '[DONE]', 'incomplete', 'peak open', 'TTFB p50 ms', 'TTFB p99 ms', 'wall ms'],
      rows: r.streams.map((s) => [s.target, String(s.requested), String(s.ok), String(s.withDone), String(s.incomplete), String(s.peakOpen), fmt(s.ttfbMs.p50, 1), fmt(s.ttfbMs.p99, 1), String(s.wallMs)]),
    });
  }
  return out;
}

function extras(r: BenchReport): string[] {
  const lines: string[] = [];
  if (!r.gatehouse.available) lines.push(`gatehouse: not available — ${r.gatehouse.reason ?? 'unknown reason'}`);
  const o = r.gatehouse.overhead;
  lines.push(o === undefined ? 'gatehouse in-process overhead: no *overhead* histogram on /metrics' : `gatehouse in-process overhead (${o.metric}, ${o.count} obs., bucket bounds): p50 ≤ ${fmt(o.p50Ms, 3)} ms, p99 ≤ ${fmt(o.p99Ms, 3)} ms (target p50 ≤ 0.05 ms)`);
  const g = r.gatehouse;
  if (g.rssMb !== undefined) {
    const phases = [g.rssIdleMb === undefined ? '' : `idle after start ${fmt(g.rssIdleMb, 0)} MB, `, g.rssAfterLoadMb === undefined ? '' : `after the load rounds ${fmt(g.rssAfterLoadMb, 0)} MB, `].join('');
    const peak = g.peakRssMb === undefined ? '' : ` (peak ${fmt(g.peakRssMb, 0)} MB)`;
    lines.push(`gatehouse resident memory: ${phases}after the run ${fmt(g.rssMb, 0)} MB${peak}`);
  }
  lines.push(...r.notes);
  lines.push(`environment: ${Object.entries(r.environment).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  lines.push(`wall time: ${fmt(r.wallSeconds, 0)} s`);
  return lines;
}

export function renderText(r: BenchReport): string {
  const body = sections(r).map((s) => `${s.title}\n${textTable(s.header, s.rows)}`);
  return [...body, extras(r).map((l) => `• ${l}`).join('\n')].join('\n\n');
}

export function renderMarkdown(r: BenchReport): string {
  const body = sections(r).map((s) => `## ${s.title}\n\n${markdownTable(s.header, s.rows)}`);
  return [`# Gatehouse bench — ${r.startedAt}`, ...body, '## Notes', extras(r).map((l) => `- ${l}`).join('\n'), ''].join('\n\n');
}

/** Writes <ISO timestamp>.json / .md and latest.md; returns the paths written. */
export async function writeResults(r: BenchReport, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const stamp = r.startedAt.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const json = join(outDir, `${stamp}.json`);
  const md = join(outDir, `${stamp}.md`);
  const latest = join(outDir, 'latest.md');
  const markdown = renderMarkdown(r);
  await writeFile(json, `${JSON.stringify(r, null, 2)}\n`);
  await writeFile(md, markdown);
  await writeFile(latest, markdown);
  return [json, md, latest];
}
