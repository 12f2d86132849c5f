/**
 * `npm run bench`: Gatehouse against a bare Node.js proxy and the upstream called directly,
 * side by side in one run, on the DESIGN §9 figures. Each server is its own child process;
 * this process only generates load and reads /proc.
 *
 *   node dist/bench/run.js [--quick] [--duration 5] [--connections 50] [--help]
 *   node dist/bench/run.js noisy-neighbor [--quick] [--help]    (bench/noisy-neighbor.ts)
 *   node dist/bench/run.js admission [--quick] [--help]         (bench/admission.ts)
 *   node dist/bench/run.js metering [--quick] [--help]          (bench/metering.ts)
 *   node dist/bench/run.js request-log [--quick]                 (bench/request-log.ts)
 *   node dist/bench/run.js paired --baseline <checkout> [--pin]  (bench/paired.ts)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseBenchArgs } from './lib/args.js';
import { checkTarget } from './lib/check.js';
import { installCleanup, stopChild, type Child } from './lib/children.js';
import { peakRssBytes, rssBytes } from './lib/cpu.js';
import { aggregateLoad, buildFigures, summarizeProbe, summarizeStreamProbe } from './lib/figures.js';
import { runLoad, type LoadResult } from './lib/load.js';
import { readOverhead } from './lib/overhead.js';
import { latencyProbe, ttfbProbe } from './lib/probe.js';
import { renderText, writeResults, type BenchReport } from './lib/report.js';
import { startGatehouse, startMock, startProxy } from './lib/servers.js';
import { rotate } from './lib/stats.js';
import { concurrentStreams, type ConcurrentStreamsResult } from './lib/streams.js';
import { chatBody, streamBody, type Target } from './lib/target.js';

const LOAD_TOKENS = 16;
// Paced streams for the concurrency check: ~4 s each, slow enough that all of them are open at
// once even while a loaded 2-CPU machine is still accepting connections (2 s was not enough).
const PACED = { tokens: 40, latencyMs: 200, tokensPerSecond: 10 };

const log = (line: string) => process.stdout.write(`${line}\n`);

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** The first line and the most telling log line of a start-up failure: enough for a report row. */
function shortReason(reason: string): string {
  const lines = reason.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const telling = lines.slice(1).find((l) => /error|fail|cannot|refus/i.test(l)) ?? lines[1];
  return [lines[0], telling].filter((l) => l !== undefined).join(' … ').slice(0, 300);
}

function toRecord<K extends string, V>(map: Map<K, V>): Partial<Record<K, V>> {
  return Object.fromEntries(map) as Partial<Record<K, V>>;
}

async function main(): Promise<void> {
  const opts = parseBenchArgs(process.argv.slice(2));
  const started = new Date();
  const workDir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-'));
  const children: Child[] = [];
  const stopAll = async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    if (!opts.keep) await rm(workDir, { recursive: true, force: true });
  };
  installCleanup(stopAll);
  const notes: string[] = [];
  const environment: Record<string, string | number> = {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadavgBefore: loadavg().map((v) => v.toFixed(2)).join(' '),
    commit: gitCommit(),
  };
  const [load1] = loadavg();
  if (load1 !== undefined && load1 > cpus().length) {
    notes.push(`machine busy before the run (load ${load1.toFixed(1)} on ${cpus().length} CPUs): wall-clock figures (req/s, latency) are unreliable; compare CPU per request, or run again`);
  }
  if (cpus().length < 4) {
    notes.push(`only ${cpus().length} CPUs: load generator, upstream and proxy compete for cores, so req/s and at-load latency are contended; CPU per request is the robust figure`);
  }

  try {
    log(`work dir ${workDir}`);
    const mock = await startMock(workDir);
    children.push(mock.child);
    const profileDir = join(opts.outDir, `profiles-${started.toISOString().replace(/:/g, '-')}`);
    const nodeArgs = opts.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    if (opts.profile) notes.push(`--profile: CPU profiles in ${profileDir}; profiling slows the proxies, so these figures are distorted`);
    const bare = await startProxy(workDir, mock.target.origin, 'bare', nodeArgs);
    children.push(bare.child);
    const targets: Target[] = [mock.target, bare.target];
    for (const t of targets) {
      const problem = await checkTarget(t, chatBody(LOAD_TOKENS));
      if (problem !== undefined) throw new Error(`${t.label}: ${problem}`);
    }

    const gh = await startGatehouse(workDir, mock.target.origin, opts.streams, nodeArgs);
    let gatehouse: BenchReport['gatehouse'] = { available: false, reason: 'not started' };
    if (gh.ok) {
      children.push(gh.started.child);
      const problem = await checkTarget(gh.started.target, chatBody(LOAD_TOKENS));
      if (problem === undefined) {
        targets.push(gh.started.target);
        gatehouse = { available: true };
      } else {
        gatehouse = { available: false, reason: problem };
      }
    } else {
      if (gh.child !== undefined) children.push(gh.child);
      gatehouse = { available: false, reason: gh.reason };
    }
    log(gatehouse.available ? `gatehouse ready at ${gh.ok ? gh.started.target.origin : ''}` : `gatehouse: not available — ${gatehouse.reason ?? ''}`);
    if (gatehouse.reason !== undefined) gatehouse.reason = shortReason(gatehouse.reason);

    // Resident memory by phase: the platform running the gateway sees these (bench/README.md "Resident memory").
    const ghRss = (): number | undefined => {
      const b = gh.ok ? rssBytes(gh.started.child.pid) : null;
      return b === null ? undefined : b / 2 ** 20;
    };
    if (gatehouse.available) gatehouse.rssIdleMb = ghRss();
    const spec = { connections: opts.connections, durationS: opts.duration, body: chatBody(LOAD_TOKENS) };
    if (opts.warmup > 0) {
      log(`warm-up: ${opts.warmup} s per target`);
      for (const t of targets) await runLoad(t, { ...spec, durationS: opts.warmup }, mock.child.pid, -1);
    }
    const runs: LoadResult[] = [];
    for (let round = 0; round < opts.rounds; round += 1) {
      for (const t of rotate(targets, round)) {
        const r = await runLoad(t, spec, mock.child.pid, round);
        runs.push(r);
        log(`round ${round + 1}/${opts.rounds} ${t.name.padEnd(9)} ${r.rps.toFixed(0).padStart(6)} req/s  cpu ${((r.cpuS / Math.max(1, r.ok)) * 1e6).toFixed(1)} µs/req  failed ${r.non2xx + r.errors}`);
      }
    }

    if (gatehouse.available) gatehouse.rssAfterLoadMb = ghRss();
    log(`one-connection latency: ${opts.samples} requests per target`);
    const latency = summarizeProbe(await latencyProbe(targets, chatBody(LOAD_TOKENS), opts.samples, Math.min(200, opts.samples)));
    log(`streaming TTFB: ${opts.streamSamples} requests per target`);
    const ttfb = summarizeStreamProbe(await ttfbProbe(targets, streamBody(opts.streamTokens), opts.streamSamples, 20));

    const streams: ConcurrentStreamsResult[] = [];
    let ghStreams: ConcurrentStreamsResult | undefined;
    let bareStreams: ConcurrentStreamsResult | undefined;
    if (opts.streams > 0) {
      const paced = streamBody(PACED.tokens, PACED.latencyMs, PACED.tokensPerSecond);
      // The expected delta count is whatever the upstream sends for this body when asked directly.
      const [reference] = (await ttfbProbe([mock.target], paced, 1, 0)).contentEvents.get('direct') ?? [];
      const expected = reference ?? PACED.tokens;
      for (const t of targets.filter((x) => x.name !== 'direct')) {
        log(`${opts.streams} concurrent streams through ${t.name}`);
        const r = await concurrentStreams(t, paced, opts.streams, expected);
        streams.push(r);
        if (r.peakOpen < r.requested) notes.push(`${t.name}: only ${r.peakOpen} of ${r.requested} streams were open at the same instant (the machine was slow to open them)`);
        if (t.name === 'gatehouse') ghStreams = r;
        if (t.name === 'bare') bareStreams = r;
      }
    }

    if (gatehouse.available && gh.ok) {
      const rss = rssBytes(gh.started.child.pid);
      if (rss !== null) gatehouse.rssMb = rss / 2 ** 20;
      const peak = peakRssBytes(gh.started.child.pid);
      if (peak !== null) gatehouse.peakRssMb = peak / 2 ** 20;
      const overhead = await readOverhead(gh.started.target.origin, gh.started.target.headers);
      if (overhead !== undefined) gatehouse.overhead = overhead;
    }

    const load = aggregateLoad(runs);
    const finished = new Date();
    environment.loadavgAfter = loadavg().map((v) => v.toFixed(2)).join(' ');
    const ttfbDirect = ttfb.get('direct')?.contentEventsMedian;
    for (const [name, s] of ttfb) {
      if (ttfbDirect !== undefined && s.contentEventsMedian !== ttfbDirect) {
        notes.push(`${name} streams carried ${s.contentEventsMedian} content deltas vs ${ttfbDirect} direct: the upstream did different work (is the body's "mock" field forwarded?)`);
      }
    }
    const report: BenchReport = {
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      wallSeconds: (finished.getTime() - started.getTime()) / 1000,
      environment,
      options: opts,
      gatehouse,
      figures: buildFigures({ load, latency, ttfb, streams: ghStreams, bareStreams }),
      load: toRecord(load),
      loadRuns: runs,
      latencyUs: toRecord(latency),
      ttfbUs: toRecord(ttfb),
      streams,
      notes,
    };
    log(`\n${renderText(report)}\n`);
    for (const path of await writeResults(report, opts.outDir)) log(`wrote ${path}`);
  } finally {
    await stopAll();
  }
}

/** Sub-commands: `npm run bench -- noisy-neighbor`; no sub-command runs the default bench. */
const SUBCOMMANDS: Record<string, () => Promise<(argv: string[]) => Promise<void>>> = {
  'noisy-neighbor': async () => (await import('./noisy-neighbor.js')).noisyNeighbor,
  admission: async () => (await import('./admission.js')).admissionBench,
  metering: async () => (await import('./metering.js')).meteringBench,
  'request-log': async () => (await import('./request-log.js')).requestLogBench,
  paired: async () => (await import('./paired.js')).pairedBench,
};

async function dispatch(): Promise<void> {
  const [first, ...rest] = process.argv.slice(2);
  const sub = first === undefined ? undefined : SUBCOMMANDS[first];
  if (sub !== undefined) return (await sub())(rest);
  return main();
}

dispatch().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
