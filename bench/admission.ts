/**
 * `npm run bench -- admission`: what the admission step (limits, quotas, budgets) costs, in one
 * run, as DESIGN §9 and issue 5 ask: the added latency of the gateway with a tenant that has
 * no rules, the same gateway with a tenant carrying a realistic rule set on the in-process
 * backend, and a second gateway with the same rules on Redis; plus CPU per request under load
 * and the Redis commands each request costs (read from Redis's own INFO commandstats).
 *
 *   node dist/bench/run.js admission [--samples 2000] [--duration 5] [--connections 32]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { installCleanup, stopChild, type Child } from './lib/children.js';
import { runLoad } from './lib/load.js';
import { latencyProbe } from './lib/probe.js';
import { benchTenants, startGatehouseFor, startMock } from './lib/servers.js';
import { summarize } from './lib/stats.js';
import { chatBody, MODEL, type Target } from './lib/target.js';

const log = (line: string) => process.stdout.write(`${line}\n`);

/** Rules a paying tenant typically has: every dimension admission checks, none of them binding. */
const RULES = [
  { id: 'rps', metric: 'requests', window: 'second', limit: 1_000_000 },
  { id: 'rpm', metric: 'requests', window: 'minute', limit: 100_000_000 },
  { id: 'tpm', metric: 'tokens', window: 'minute', limit: 1_000_000_000_000 },
  { id: 'tokens-per-day', metric: 'tokens', window: 'day', limit: 1_000_000_000_000 },
  { id: 'concurrency', metric: 'concurrency', limit: 100_000 },
  { id: 'budget', metric: 'cost', window: 'month', limit: 1_000_000_000_000_000 },
  { id: 'per-key-rpm', scope: 'key', metric: 'requests', window: 'minute', limit: 100_000_000 },
];

interface Args {
  samples: number;
  durationS: number;
  connections: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { samples: 2000, durationS: 5, connections: 32 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = Number(argv[i + 1]);
    if (flag === '--quick') Object.assign(args, { samples: 400, durationS: 2 });
    else if (flag === '--samples' && Number.isInteger(value) && value > 0) args.samples = value;
    else if (flag === '--duration' && value > 0) args.durationS = value;
    else if (flag === '--connections' && Number.isInteger(value) && value > 0) args.connections = value;
    else if (flag === '--help') {
      log('usage: node dist/bench/run.js admission [--quick] [--samples N] [--duration S] [--connections N]');
      process.exit(0);
    } else continue;
    if (flag !== '--quick') i++;
  }
  return args;
}

/** A gateway with the two bench tenants; `limits` is merged into its config (Redis or not). */
async function startGateway(workDir: string, name: string, upstream: string, tenants: Record<string, unknown>[], limits: Record<string, unknown>): Promise<{ child: Child; origin: string }> {
  const dir = join(workDir, name);
  await mkdir(dir, { recursive: true });
  const started = await startGatehouseFor(dir, {
    providers: [{ name: 'upstream', kind: 'openai-compatible', baseUrl: `${upstream}/v1`, apiKey: 'bench-upstream-key' }],
    deployments: [{ model: MODEL, provider: 'upstream', capacity: 4096, prices: { input: 0.15, output: 0.6 }, limitsFailMode: 'closed' }],
    tenants,
    limits,
  });
  if (!started.ok) throw new Error(`${name}: ${started.reason}`);
  return { child: started.started.child, origin: started.started.target.origin };
}

async function redisScriptCalls(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval|fcall):calls=(\d+)/gm)) calls += Number(m[2]);
  return calls;
}

export async function admissionBench(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const workDir = await mkdtemp(join(tmpdir(), 'gatehouse-bench-admission-'));
  const children: Child[] = [];
  const stopAll = async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    await rm(workDir, { recursive: true, force: true });
  };
  installCleanup(stopAll);
  let redis: Redis | undefined;
  try {
    log(`admission bench: ${cpus().length} CPUs, load ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
    const mock = await startMock(workDir);
    children.push(mock.child);
    const bench = benchTenants(['plain', 'limited']);
    const tenants = bench.yaml.map((t) => (t.slug === 'limited' ? { ...t, limits: RULES } : t));
    const keys = { plain: bench.keys.get('plain') ?? '', limited: bench.keys.get('limited') ?? '' };
    const memory = await startGateway(workDir, 'gatehouse-memory', mock.target.origin, tenants, {});
    children.push(memory.child);
    redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0 });
    let withRedis: { child: Child; origin: string } | undefined;
    try {
      await redis.connect();
      withRedis = await startGateway(workDir, 'gatehouse-redis', mock.target.origin, tenants, { redisUrl });
      children.push(withRedis.child);
    } catch (err) {
      log(`Redis at ${redisUrl} not usable (${err instanceof Error ? err.message : String(err)}): the Redis figures are skipped`);
      redis.disconnect();
      redis = undefined;
    }

    const path = mock.target.path;
    const targets: Target[] = [
      mock.target,
      { name: 'gatehouse', label: 'no rules', origin: memory.origin, path, headers: { authorization: `Bearer ${keys.plain}` }, pid: memory.child.pid },
      { name: 'limits', label: '7 rules, memory', origin: memory.origin, path, headers: { authorization: `Bearer ${keys.limited}` }, pid: memory.child.pid },
    ];
    if (withRedis !== undefined) {
      targets.push({ name: 'limits-redis', label: '7 rules, Redis', origin: withRedis.origin, path, headers: { authorization: `Bearer ${keys.limited}` }, pid: withRedis.child.pid });
    }
    const body = chatBody(16);
    log(`one-connection latency: ${args.samples} requests per target, interleaved`);
    const probe = await latencyProbe(targets, body, args.samples, 200);
    const p = new Map(targets.map((t) => [t.name, summarize(probe.samplesUs.get(t.name) ?? [])]));
    const direct = p.get('direct');
    if (direct === undefined) throw new Error('no direct samples');
    const rows: string[] = ['| target | p50 µs | p99 µs | added p50 µs | added p99 µs | failures |', '|---|---|---|---|---|---|'];
    for (const t of targets) {
      const s = p.get(t.name);
      if (s === undefined) continue;
      const added = t.name === 'direct' ? ['—', '—'] : [(s.p50 - direct.p50).toFixed(0), (s.p99 - direct.p99).toFixed(0)];
      rows.push(`| ${t.label} | ${s.p50.toFixed(0)} | ${s.p99.toFixed(0)} | ${added[0]} | ${added[1]} | ${probe.failures.get(t.name) ?? 0} |`);
    }

    log(`load: ${args.connections} connections × ${args.durationS} s per target`);
    const cpuRows: string[] = ['| target | req/s | CPU µs/request | Redis scripts/request |', '|---|---|---|---|'];
    const cpuPerReq = new Map<string, number>();
    for (const t of targets.filter((x) => x.name !== 'direct')) {
      const before = redis !== undefined && t.name === 'limits-redis' ? await redisScriptCalls(redis) : undefined;
      const r = await runLoad(t, { connections: args.connections, durationS: args.durationS, body }, mock.child.pid, 0);
      const after = before !== undefined && redis !== undefined ? await redisScriptCalls(redis) : undefined;
      const perReq = (r.cpuS / Math.max(1, r.ok)) * 1e6;
      cpuPerReq.set(t.name, perReq);
      const scripts = before !== undefined && after !== undefined ? ((after - before) / Math.max(1, r.ok + r.non2xx)).toFixed(2) : '—';
      cpuRows.push(`| ${t.label} | ${r.rps.toFixed(0)} | ${perReq.toFixed(1)} | ${scripts} |`);
      if (r.non2xx + r.errors > 0) log(`  ${t.label}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    }

    const plain = p.get('gatehouse');
    const limited = p.get('limits');
    const addedPlain = plain === undefined ? Number.NaN : plain.p50 - direct.p50;
    const addedLimited = limited === undefined ? Number.NaN : limited.p50 - direct.p50;
    const ratio = addedLimited / addedPlain;
    const cpuRatio = (cpuPerReq.get('limits') ?? Number.NaN) / (cpuPerReq.get('gatehouse') ?? Number.NaN);
    const lines = [
      `# Admission bench ${new Date().toISOString()}`,
      '',
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load before ${loadavg().map((v) => v.toFixed(1)).join(' ')}`,
      '',
      ...rows,
      '',
      ...cpuRows,
      '',
      `Added p50 with 7 rules (memory) vs no rules: ${ratio.toFixed(3)}× (target ≤ 1.10×); CPU per request ${cpuRatio.toFixed(3)}×.`,
      'Redis: each admitted request runs one script to reserve (the admission round trip) and one to settle (asynchronous, off the response path).',
    ];
    const text = lines.join('\n');
    log(`\n${text}\n`);
    const outDir = join(process.cwd(), 'bench', 'results');
    await mkdir(outDir, { recursive: true });
    const file = join(outDir, `admission-${new Date().toISOString().replace(/:/g, '-').replace(/\..*/, 'Z')}.md`);
    await writeFile(file, `${text}\n`);
    log(`wrote ${file}`);
  } finally {
    redis?.disconnect();
    await stopAll();
  }
}
