/**
 * `npm run bench -- paired --baseline <checkout>`: this build's gateway against another build's,
 * side by side in one run. On a shared 2-CPU machine two runs of the same build differ by up to
 * ±25 % in CPU per request, so a change of a few percent is only visible in pairs: both gateways
 * start against one mock, the load alternates between them in short rounds, and the figure is
 * the median of the per-round ratios (each round's pair saw the same machine). `--pin` puts the
 * gateways (and the bare proxy) on the last CPU and the load generator and mock on the first, so
 * a gateway's CPU time is not inflated by sharing a core with the load it serves.
 *
 *   git worktree add ../base <rev> && (cd ../base && npm ci && npm run build)
 *   node dist/bench/run.js paired --baseline ../base [--rounds 8] [--duration 4] [--pin]
 *
 * With DATABASE_URL set, both gateways run in PostgreSQL mode, each on a database of its own
 * created (and dropped afterwards) on that server.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { installCleanup, stopChild, type Child } from './lib/children.js';
import { runLoad } from './lib/load.js';
import { startGatehouse, startMock, startProxy, type GatehouseStart } from './lib/servers.js';
import { chatBody, type Target } from './lib/target.js';

const log = (line: string) => process.stdout.write(`${line}\n`);

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** Moves every thread of `pid` to `cpu`; false when taskset is missing or refuses. */
function pin(pid: number, cpu: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function pairedBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      baseline: { type: 'string' },
      rounds: { type: 'string', default: '8' },
      duration: { type: 'string', default: '4' },
      connections: { type: 'string', default: '100' },
      pin: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help || values.baseline === undefined) {
    log('usage: node dist/bench/run.js paired --baseline <checkout with a built dist/> [--rounds 8] [--duration 4] [--connections 100] [--pin]');
    if (values.baseline === undefined && !values.help) process.exitCode = 2;
    return;
  }
  const baseServers = join(resolve(values.baseline), 'dist/bench/lib/servers.js');
  if (!existsSync(baseServers)) throw new Error(`${baseServers} is missing: build the baseline checkout first (npm run build)`);
  const base = (await import(pathToFileURL(baseServers).href)) as { startGatehouse: typeof startGatehouse };
  const rounds = Number(values.rounds);
  const durationS = Number(values.duration);
  const connections = Number(values.connections);

  const work = await mkdtemp(join(tmpdir(), 'gatehouse-paired-'));
  const children: Child[] = [];
  const pgBase = process.env.DATABASE_URL;
  const databases: string[] = [];
  const cleanup = async () => {
    await Promise.all(children.map((c) => stopChild(c)));
    await rm(work, { recursive: true, force: true });
    if (pgBase !== undefined) await dropDatabases(pgBase, databases.splice(0));
  };
  installCleanup(cleanup);
  try {
    const mock = await startMock(work);
    children.push(mock.child);
    const bare = await startProxy(work, mock.target.origin, 'bare');
    children.push(bare.child);
    const started = async (name: string, start: () => Promise<GatehouseStart>): Promise<Target> => {
      // PostgreSQL mode: each gateway its own database (one shared database would let the second
      // gateway's configuration replace the first one's bench key). The child reads the
      // environment when it is spawned, so this works for a baseline of any age.
      if (pgBase !== undefined) process.env.DATABASE_URL = await freshDatabase(pgBase, `${name}_${process.pid}`, databases);
      const g = await start();
      if (!g.ok) throw new Error(`${name} gateway did not start: ${g.reason}`);
      children.push(g.started.child);
      return g.started.target;
    };
    await mkdir(join(work, 'base'));
    await mkdir(join(work, 'this'));
    const targets: [string, Target][] = [
      ['bare', bare.target],
      ['baseline', await started('baseline', () => base.startGatehouse(join(work, 'base'), mock.target.origin, 0))],
      ['this', await started('this', () => startGatehouse(join(work, 'this'), mock.target.origin, 0))],
    ];
    if (values.pin) {
      const last = cpus().length - 1;
      const ok = last > 0 && [process.pid, mock.child.pid].every((p) => pin(p, 0)) && targets.every(([, t]) => pin(t.pid, last));
      log(ok ? `pinned: load generator and mock on CPU 0, proxies on CPU ${last}` : 'could not pin (taskset missing or one CPU): unpinned run');
    }
    const spec = { connections, durationS, body: chatBody(16) };
    for (const [, t] of targets) await runLoad(t, { ...spec, durationS: 2 }, mock.child.pid, -1);
    const cpu = new Map<string, number[]>(targets.map(([n]) => [n, []]));
    for (let r = 0; r < rounds; r++) {
      const order = [...targets.slice(r % targets.length), ...targets.slice(0, r % targets.length)];
      const line: string[] = [];
      for (const [name, t] of order) {
        const res = await runLoad(t, spec, mock.child.pid, r);
        const us = (res.cpuS / Math.max(1, res.ok)) * 1e6;
        cpu.get(name)?.push(us);
        line.push(`${name} ${us.toFixed(1)} µs ${res.rps.toFixed(0)} req/s`);
      }
      log(`round ${r + 1}/${rounds}: ${line.join(' | ')}`);
    }
    const thisCpu = cpu.get('this') ?? [];
    const baseCpu = cpu.get('baseline') ?? [];
    const bareCpu = cpu.get('bare') ?? [];
    const ratios = thisCpu.map((v, i) => v / (baseCpu[i] ?? v));
    log(`\nCPU per request, this build / baseline, per round: ${ratios.map((x) => x.toFixed(3)).join(' ')}`);
    log(`median ${median(ratios).toFixed(3)} × (this ${median(thisCpu).toFixed(1)} µs, baseline ${median(baseCpu).toFixed(1)} µs, bare proxy ${median(bareCpu).toFixed(1)} µs)`);
  } finally {
    await cleanup();
    if (pgBase !== undefined) process.env.DATABASE_URL = pgBase;
  }
}

/** A new, empty database named `paired_<suffix>` on the server of `url`; its URL. */
async function freshDatabase(url: string, suffix: string, made: string[]): Promise<string> {
  const name = `paired_${suffix}`.replace(/[^a-z0-9_]/gi, '_').toLowerCase();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${name}`);
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  made.push(name);
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function dropDatabases(url: string, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const name of names) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}
