/**
 * `npm run bench -- noisy-neighbor` (DESIGN §9: one tenant flooding at 20× its share moves a
 * quiet tenant's p99 by ≤ 10%).
 *
 * One gateway (`gatehouse start`, its own process) in front of the mock upstream (its own
 * process), one deployment with a small capacity, two tenants of equal weight with a key each.
 * The quiet tenant sends open-loop traffic at a fixed rate well under its share (a request every
 * 1/rate s whatever the answers do, so a slow gateway cannot slow the sender down and hide its
 * own latency). Solo phase: the quiet tenant alone. Noisy phase: the same traffic while the
 * other tenant floods with factor × its share of concurrent closed-loop clients, from a worker
 * thread. Rounds alternate the order (solo, noisy / noisy, solo) so drift on a shared machine
 * lands on both.
 *
 *   node dist/bench/run.js noisy-neighbor [--quick] [--duration 10] [--rate 100] [--help]
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { Pool, request } from 'undici';
import { checkTarget } from './lib/check.js';
import { installCleanup, stopChild, type Child } from './lib/children.js';
import { cpuSeconds } from './lib/cpu.js';
import type { FloodCommand, FloodCounts, FloodReply, FloodSpec } from './lib/flood.js';
import { benchTenants, startGatehouseFor, startMock } from './lib/servers.js';
import { summarize, type Summary } from './lib/stats.js';
import { fmt, markdownTable, textTable, type Row } from './lib/table.js';
import { MODEL, type Target } from './lib/target.js';

interface Options {
  /** Seconds of measured quiet traffic per phase. */
  duration: number;
  /** Quiet tenant's requests per second. */
  rate: number;
  capacity: number;
  /** Mock upstream latency per request, ms. */
  latencyMs: number;
  /** The flood's concurrency as a multiple of its share (capacity / 2). */
  factor: number;
  rounds: number;
  /** scheduling.maxQueueDepth of the gateway. */
  queueDepth: number;
  /** scheduling.reserveIdleMs of the gateway (0: a share is reserved only while requests wait). */
  reserveIdleMs: number;
  /** Unmeasured seconds of quiet traffic first, and of flood before a noisy phase is measured. */
  warmup: number;
  outDir: string;
  keep: boolean;
}

const HELP = `noisy-neighbor flags:
  --quick              short smoke run (duration 3, rate 50, 1 round)
  --duration <s>       measured seconds per phase (default 4)
  --rate <n>           quiet tenant's requests per second, open loop (default 100)
  --capacity <n>       deployment capacity (default 8)
  --latency <ms>       upstream latency per request (default 20)
  --factor <n>         flood concurrency = factor × share (capacity/2) (default 20)
  --rounds <n>         solo+noisy pairs, order alternating (default 8)
  --queue-depth <n>    gateway scheduling.maxQueueDepth (default 1000)
  --reserve-idle <ms>  gateway scheduling.reserveIdleMs (default 1000; 0 = control run: the
                       quiet tenant's idle share is lent out between its requests)
  --warmup <s>         warm-up seconds (default 2)
  --out <dir>          results directory (default bench/results)
  --keep               keep the temp dir (config, child logs)`;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      rate: { type: 'string' },
      capacity: { type: 'string' },
      latency: { type: 'string' },
      factor: { type: 'string' },
      rounds: { type: 'string' },
      'queue-depth': { type: 'string' },
      'reserve-idle': { type: 'string' },
      warmup: { type: 'string' },
      out: { type: 'string', default: 'bench/results' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const num = (v: string | undefined, fallback: number, name: string, min: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} wants a number ≥ ${min}, got ${v}`);
    return n;
  };
  const q = values.quick;
  return {
    duration: num(values.duration, q ? 3 : 4, 'duration', 1),
    rate: num(values.rate, q ? 50 : 100, 'rate', 1),
    capacity: Math.round(num(values.capacity, 8, 'capacity', 2)),
    latencyMs: num(values.latency, 20, 'latency', 0),
    factor: num(values.factor, 20, 'factor', 1),
    rounds: Math.round(num(values.rounds, q ? 1 : 8, 'rounds', 1)),
    queueDepth: Math.round(num(values['queue-depth'], 1000, 'queue-depth', 0)),
    reserveIdleMs: Math.round(num(values['reserve-idle'], 1000, 'reserve-idle', 0)),
    warmup: num(values.warmup, q ? 1 : 2, 'warmup', 0),
    outDir: values.out,
    keep: values.keep,
  };
}

const log = (line: string) => process.stdout.write(`${line}\n`);

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function body(latencyMs: number): string {
  return JSON.stringify({
    model: MODEL,
    messages: [{ role: 'user', content: 'Say hello in one short sentence.' }],
    max_tokens: 16,
    mock: { tokens: 16, latencyMs },
  });
}

interface QuietRun {
  sent: number;
  failures: number;
  /** From the moment the request was sent to the end of the response body, ms. */
  latencyMs: number[];
  /** From the moment it was due (open-loop schedule) to the end of the body, ms: sender lag included. */
  fromDueMs: number[];
  /** x-gatehouse-queue-ms of the requests that waited for a slot in the gateway. */
  queuedMs: number[];
  /** Most quiet requests in flight at once: above its share, it has to queue beside a flood. */
  peakInFlight: number;
}

/** Open loop: request i is sent at t0 + i/rate, whether or not earlier ones have answered. */
async function quietTraffic(pool: Pool, target: Target, payload: string, rate: number, seconds: number): Promise<QuietRun> {
  const run: QuietRun = { sent: 0, failures: 0, latencyMs: [], fromDueMs: [], queuedMs: [], peakInFlight: 0 };
  let inFlight = 0;
  const headers = { 'content-type': 'application/json', ...target.headers };
  const interval = 1000 / rate;
  const total = Math.round(rate * seconds);
  const pending: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    if (wait >= 1) await sleep(wait);
    run.sent += 1;
    pending.push(
      (async () => {
        const sentAt = performance.now();
        inFlight += 1;
        if (inFlight > run.peakInFlight) run.peakInFlight = inFlight;
        try {
          const res = await pool.request({ method: 'POST', path: target.path, headers, body: payload });
          await res.body.dump();
          if (res.statusCode !== 200) {
            run.failures += 1;
            return;
          }
          const end = performance.now();
          run.latencyMs.push(end - sentAt);
          run.fromDueMs.push(end - due);
          const queued = res.headers['x-gatehouse-queue-ms'];
          if (typeof queued === 'string') run.queuedMs.push(Number(queued));
        } catch {
          run.failures += 1;
        } finally {
          inFlight -= 1;
        }
      })(),
    );
  }
  await Promise.all(pending);
  return run;
}

class Flood {
  private readonly worker: Worker;
  private waiting: ((c: FloodCounts) => void)[] = [];

  constructor(spec: FloodSpec) {
    this.worker = new Worker(new URL('./lib/flood.js', import.meta.url), { workerData: spec });
    this.worker.on('message', (msg: FloodReply) => this.waiting.shift()?.(msg.counts));
  }

  private send(cmd: FloodCommand): Promise<FloodCounts> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.worker.postMessage(cmd);
    });
  }

  start(): void {
    this.worker.postMessage({ type: 'start' } satisfies FloodCommand);
  }

  count(): Promise<FloodCounts> {
    return this.send({ type: 'count' });
  }

  async stop(): Promise<FloodCounts> {
    const counts = await this.send({ type: 'stop' });
    await this.worker.terminate();
    return counts;
  }
}

interface Phase {
  round: number;
  kind: 'solo' | 'noisy';
  quiet: {
    sent: number;
    failures: number;
    latency: Summary;
    fromDue: Summary;
    /** Requests that waited in the gateway's queue, and the longest wait (ms). */
    queued: number;
    maxQueuedMs: number;
    peakInFlight: number;
  };
  noisy?: { ok: number; rateLimited: number; otherStatus: number; errors: number; okPerSecond: number };
  gatewayCpuS: number;
  /** gatehouse_deployment_capacity_effective at the end of the phase. */
  effectiveCapacity: number | undefined;
}

async function effectiveCapacity(origin: string): Promise<number | undefined> {
  try {
    const res = await request(`${origin}/metrics`);
    const text = await res.body.text();
    const m = /^gatehouse_deployment_capacity_effective\{[^}]*\} (\d+(?:\.\d+)?)$/m.exec(text);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

function diff(a: FloodCounts, b: FloodCounts): FloodCounts {
  return { ok: b.ok - a.ok, rateLimited: b.rateLimited - a.rateLimited, otherStatus: b.otherStatus - a.otherStatus, errors: b.errors - a.errors };
}

interface NoisyReport {
  startedAt: string;
  finishedAt: string;
  environment: Record<string, string | number>;
  options: Options;
  floodConnections: number;
  phases: Phase[];
  solo: Summary;
  noisy: Summary;
  p50Ratio: number;
  p99Ratio: number;
  /** Per round, noisy p99 / solo p99 of that round; their median (robust to one stalled phase). */
  roundP99Ratios: number[];
  medianRoundP99Ratio: number;
  verdict: 'PASS' | 'FAIL';
  notes: string[];
}

function sections(r: NoisyReport): { title: string; header: Row; rows: Row[] }[] {
  const ms = (v: number) => fmt(v, 2);
  return [
    {
      title: `Quiet tenant latency, all rounds (ms, request sent → response body end; ${r.options.rate} req/s open loop)`,
      header: ['phase', 'n', 'p50', 'p90', 'p99', 'p99.9', 'max'],
      rows: [
        ['solo', String(r.solo.n), ms(r.solo.p50), ms(r.solo.p90), ms(r.solo.p99), ms(r.solo.p999), ms(r.solo.max)],
        ['with flood', String(r.noisy.n), ms(r.noisy.p50), ms(r.noisy.p90), ms(r.noisy.p99), ms(r.noisy.p999), ms(r.noisy.max)],
        ['ratio', '', `${fmt(r.p50Ratio, 3)} ×`, '', `${fmt(r.p99Ratio, 3)} ×`, '', ''],
      ],
    },
    {
      title: 'Per phase',
      header: ['round', 'phase', 'quiet sent', 'quiet failed', 'p50 ms', 'p99 ms', 'p99 from due ms', 'quiet peak in flight', 'quiet queued (max ms)', 'flood 200/s', 'flood 429', 'flood other', 'gateway CPU s', 'eff. capacity'],
      rows: r.phases.map((p) => [
        String(p.round + 1),
        p.kind,
        String(p.quiet.sent),
        String(p.quiet.failures),
        ms(p.quiet.latency.p50),
        ms(p.quiet.latency.p99),
        ms(p.quiet.fromDue.p99),
        String(p.quiet.peakInFlight),
        `${p.quiet.queued} (${fmt(p.quiet.maxQueuedMs, 1)})`,
        p.noisy === undefined ? '—' : fmt(p.noisy.okPerSecond, 0),
        p.noisy === undefined ? '—' : String(p.noisy.rateLimited),
        p.noisy === undefined ? '—' : String(p.noisy.otherStatus + p.noisy.errors),
        fmt(p.gatewayCpuS, 2),
        p.effectiveCapacity === undefined ? '—' : String(p.effectiveCapacity),
      ]),
    },
  ];
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function queuedLine(r: NoisyReport, kind: Phase['kind']): string {
  const phases = r.phases.filter((p) => p.kind === kind);
  const n = phases.reduce((a, p) => a + p.quiet.queued, 0);
  const sent = phases.reduce((a, p) => a + p.quiet.sent, 0);
  const max = Math.max(0, ...phases.map((p) => p.quiet.maxQueuedMs));
  return `${n} of ${sent}${n > 0 ? ` (longest ${fmt(max, 1)} ms)` : ''}`;
}

function extras(r: NoisyReport): string[] {
  const o = r.options;
  return [
    `target (DESIGN §9): quiet p99 with flood ≤ 1.10 × solo — ${r.verdict} (${fmt(r.p99Ratio, 3)} ×, pooled samples)`,
    `p99 ratio per round: ${r.roundP99Ratios.map((x) => fmt(x, 2)).join(', ')}; median ${fmt(r.medianRoundP99Ratio, 3)} ×`,
    `quiet requests that waited for a slot in the gateway (x-gatehouse-queue-ms): ${queuedLine(r, 'solo')} solo, ${queuedLine(r, 'noisy')} with the flood`,
    `setup: deployment capacity ${o.capacity}, upstream latency ${o.latencyMs} ms, 2 tenants of weight 1 (share ${o.capacity / 2} each); flood ${r.floodConnections} closed-loop connections (${o.factor} × share) honouring Retry-After; gateway maxQueueDepth ${o.queueDepth}, reserveIdleMs ${o.reserveIdleMs}`,
    ...r.notes,
    `environment: ${Object.entries(r.environment).map(([k, v]) => `${k}=${v}`).join(', ')}`,
  ];
}

function renderText(r: NoisyReport): string {
  return [...sections(r).map((s) => `${s.title}\n${textTable(s.header, s.rows)}`), extras(r).map((l) => `• ${l}`).join('\n')].join('\n\n');
}

function renderMarkdown(r: NoisyReport): string {
  const body = sections(r).map((s) => `## ${s.title}\n\n${markdownTable(s.header, s.rows)}`);
  return [`# Gatehouse noisy-neighbor bench — ${r.startedAt}`, ...body, '## Notes', extras(r).map((l) => `- ${l}`).join('\n'), ''].join('\n\n');
}

async function writeReport(r: NoisyReport, outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const stamp = r.startedAt.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const json = join(outDir, `noisy-neighbor-${stamp}.json`);
  const md = join(outDir, `noisy-neighbor-${stamp}.md`);
  const latest = join(outDir, 'noisy-neighbor-latest.md');
  const markdown = renderMarkdown(r);
  await writeFile(json, `${JSON.stringify(r, null, 2)}\n`);
  await writeFile(md, markdown);
  await writeFile(latest, markdown);
  return [json, md, latest];
}

export async function noisyNeighbor(argv: string[]): Promise<void> {
  const opts = parseOptions(argv);
  const started = new Date();
  const workDir = await mkdtemp(join(tmpdir(), 'gatehouse-noisy-'));
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
    loadavgBefore: loadavg().map((v) => v.toFixed(2)).join(' '),
    commit: gitCommit(),
  };
  const [load1] = loadavg();
  if (load1 !== undefined && load1 > cpus().length) notes.push(`machine busy before the run (load ${load1.toFixed(1)} on ${cpus().length} CPUs)`);

  const share = opts.capacity / 2;
  const floodConnections = Math.max(1, Math.round(opts.factor * share));
  const payload = body(opts.latencyMs);
  try {
    log(`work dir ${workDir}`);
    const mock = await startMock(workDir);
    children.push(mock.child);
    const tenants = benchTenants(['quiet', 'noisy']);
    const gh = await startGatehouseFor(workDir, {
      scheduling: { maxQueueDepth: opts.queueDepth, queueTimeoutMs: 30_000, reserveIdleMs: opts.reserveIdleMs, adaptive: true },
      providers: [{ name: 'upstream', kind: 'openai-compatible', baseUrl: `${mock.target.origin}/v1`, apiKey: 'bench-upstream-key' }],
      deployments: [{ model: MODEL, provider: 'upstream', capacity: opts.capacity }],
      tenants: tenants.yaml,
    });
    if (!gh.ok) {
      if (gh.child !== undefined) children.push(gh.child);
      throw new Error(`gatehouse did not start: ${gh.reason}`);
    }
    children.push(gh.started.child);
    const base = gh.started.target;
    const as = (slug: string): Target => ({ ...base, headers: { authorization: `Bearer ${tenants.keys.get(slug) ?? ''}` } });
    const quiet = as('quiet');
    const noisy = as('noisy');
    for (const t of [quiet, noisy]) {
      const problem = await checkTarget(t, payload);
      if (problem !== undefined) throw new Error(`gatehouse: ${problem}`);
    }
    log(`gatehouse ready at ${base.origin}; capacity ${opts.capacity}, flood ${floodConnections} connections`);

    const pool = new Pool(base.origin, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });
    if (opts.warmup > 0) await quietTraffic(pool, quiet, payload, opts.rate, opts.warmup);

    const phases: Phase[] = [];
    const samples = new Map<Phase, number[]>();
    for (let round = 0; round < opts.rounds; round++) {
      const order: Phase['kind'][] = round % 2 === 0 ? ['solo', 'noisy'] : ['noisy', 'solo'];
      for (const kind of order) {
        let flood: Flood | undefined;
        let before: FloodCounts | undefined;
        if (kind === 'noisy') {
          flood = new Flood({ origin: base.origin, path: noisy.path, headers: noisy.headers, body: payload, connections: floodConnections, honorRetryAfter: true });
          flood.start();
          // The flood's queue fills up while the quiet tenant keeps sending (unmeasured): steady
          // traffic has no pause in which its idle share would be lent to the flood.
          await quietTraffic(pool, quiet, payload, opts.rate, Math.max(1, opts.warmup));
          before = await flood.count();
        }
        const cpu0 = cpuSeconds(base.pid);
        const t0 = performance.now();
        const run = await quietTraffic(pool, quiet, payload, opts.rate, opts.duration);
        const seconds = (performance.now() - t0) / 1000;
        const cpu = cpuSeconds(base.pid) - cpu0;
        let noisyCounts: FloodCounts | undefined;
        if (flood !== undefined && before !== undefined) {
          noisyCounts = diff(before, await flood.count());
          await flood.stop();
        }
        const phase: Phase = {
          round,
          kind,
          quiet: {
            sent: run.sent,
            failures: run.failures,
            latency: summarize(run.latencyMs),
            fromDue: summarize(run.fromDueMs),
            queued: run.queuedMs.length,
            maxQueuedMs: Math.max(0, ...run.queuedMs),
            peakInFlight: run.peakInFlight,
          },
          gatewayCpuS: cpu,
          effectiveCapacity: await effectiveCapacity(base.origin),
        };
        if (noisyCounts !== undefined) phase.noisy = { ...noisyCounts, okPerSecond: noisyCounts.ok / seconds };
        phases.push(phase);
        samples.set(phase, run.latencyMs);
        log(
          `round ${round + 1}/${opts.rounds} ${kind.padEnd(5)} quiet p50 ${fmt(phase.quiet.latency.p50)} ms p99 ${fmt(phase.quiet.latency.p99)} ms failed ${run.failures}` +
            (phase.noisy === undefined ? '' : `  flood ${fmt(phase.noisy.okPerSecond, 0)} ok/s, ${phase.noisy.rateLimited} × 429`),
        );
        // Let the flood's queue drain and its activity expire before the next phase.
        await sleep(1500);
      }
    }
    await pool.close();

    // The raw samples of all rounds, pooled per kind: a percentile of percentiles would not be one.
    const pooled = (kind: Phase['kind']) => summarize(phases.filter((p) => p.kind === kind).flatMap((p) => samples.get(p) ?? []));
    const soloAll = pooled('solo');
    const noisyAll = pooled('noisy');
    const p99Ratio = noisyAll.p99 / soloAll.p99;
    const roundP99Ratios = Array.from({ length: opts.rounds }, (_, round) => {
      const of = (kind: Phase['kind']) => phases.find((p) => p.round === round && p.kind === kind)?.quiet.latency.p99 ?? Number.NaN;
      return of('noisy') / of('solo');
    });
    const report: NoisyReport = {
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      environment: { ...environment, loadavgAfter: loadavg().map((v) => v.toFixed(2)).join(' ') },
      options: opts,
      floodConnections,
      phases,
      solo: soloAll,
      noisy: noisyAll,
      p50Ratio: noisyAll.p50 / soloAll.p50,
      p99Ratio,
      roundP99Ratios,
      medianRoundP99Ratio: medianOf(roundP99Ratios),
      verdict: p99Ratio <= 1.1 ? 'PASS' : 'FAIL',
      notes,
    };
    log(`\n${renderText(report)}\n`);
    for (const path of await writeReport(report, opts.outDir)) log(`wrote ${path}`);
  } finally {
    await stopAll();
  }
}
