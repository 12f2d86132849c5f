/**
 * Runs the real Redis limit backend in other Node.js processes (each with its own connection),
 * for the cross-process exactness tests. Node 20 cannot run TypeScript, so src/limits is
 * transpiled (types stripped, nothing bundled) into a temporary directory that links the
 * project's node_modules, as test/integration/store/child-store.ts does for the store.
 *
 * Protocol: `node child.js <redisUrl> <keyPrefix>`; the parent writes one JSON scenario per line
 * on stdin, and the child answers each with one JSON result line once all its requests are done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { Charge } from '../../../src/limits/types.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Scenario {
  /** Reservations this process fires at once. */
  count: number;
  charges: Charge[];
  /** Per request, the amount of the first charge (default: its own amount). */
  amounts?: number[];
  /** Per request, what is settled as used for the first charge; absent: no settle. */
  used?: number[];
  leaseMs: number;
  /** Epoch ms at which to fire, so both processes start together. */
  startAt?: number;
}

export interface ScenarioResult {
  /** Per request: admitted or not. */
  ok: boolean[];
  /** Requests whose reserve threw (should be none). */
  errors: string[];
  elapsedMs: number;
}

const ENTRY = `
import { createInterface } from 'node:readline';
import { createRedisBackend } from './src/limits/redis-backend.js';
const [url, keyPrefix] = process.argv.slice(2);
const backend = createRedisBackend({ url, keyPrefix, commandTimeoutMs: 30000 });
await backend.ready();
process.stdout.write('READY\\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const s = JSON.parse(line);
  if (s.startAt) await new Promise((r) => setTimeout(r, Math.max(0, s.startAt - Date.now())));
  const started = Date.now();
  const errors = [];
  const ok = await Promise.all(Array.from({ length: s.count }, async (_, i) => {
    const id = process.pid + '-' + started + '-' + i;
    const charges = s.charges.map((c, j) => (j === 0 && s.amounts ? { ...c, amount: s.amounts[i] } : c));
    try {
      const r = await backend.reserve(id, charges, s.leaseMs);
      if (r.ok && s.used) await backend.settle(id, charges, charges.map((c, j) => (j === 0 ? s.used[i] : c.amount)));
      return r.ok;
    } catch (err) {
      errors.push(String(err && err.message));
      return false;
    }
  }));
  process.stdout.write(JSON.stringify({ ok, errors, elapsedMs: Date.now() - started }) + '\\n');
}
await backend.close();
`;

/**
 * A process that reserves concurrency slots with a short lease and keeps them alive with the
 * lease keeper's heartbeat, until it is killed. Protocol: `node lease-child.js <redisUrl>
 * <keyPrefix> <leaseMs> <key> <limit> <count>`; prints `HELD <n>` once its reservations are made.
 */
const LEASE_ENTRY = `
import { createRedisBackend } from './src/limits/redis-backend.js';
import { createLeaseKeeper } from './src/limits/leases.js';
const [url, keyPrefix, leaseMs, key, limit, count] = process.argv.slice(2);
const backend = createRedisBackend({ url, keyPrefix, commandTimeoutMs: 30000 });
await backend.ready();
const keeper = createLeaseKeeper({ backend, leaseMs: Number(leaseMs) });
const charge = { kind: 'concurrency', key, limit: Number(limit), amount: 1 };
let held = 0;
for (let i = 0; i < Number(count); i++) {
  const id = process.pid + '-' + i;
  const r = await backend.reserve(id, [charge], keeper.leaseMs);
  if (r.ok) {
    keeper.hold(id, [charge], 3600000);
    held++;
  }
}
process.stdout.write('HELD ' + held + '\\n');
setInterval(() => {}, 1000); // lives until killed
`;

let built: Promise<string> | undefined;

function childScript(): Promise<string> {
  built ??= (async () => {
    const out = await mkdtemp(join(tmpdir(), 'gatehouse-limits-child-'));
    await symlink(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
    await writeFile(join(out, 'package.json'), '{"type":"module"}\n');
    const dir = join(ROOT, 'src/limits');
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.ts')) continue;
      const file = join(dir, name);
      const js = ts.transpileModule(await readFile(file, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      }).outputText;
      const target = join(out, relative(ROOT, file)).replace(/\.ts$/, '.js');
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, js);
    }
    await writeFile(join(out, 'child.js'), ENTRY);
    await writeFile(join(out, 'lease-child.js'), LEASE_ENTRY);
    return join(out, 'child.js');
  })();
  return built;
}

export async function removeChildScript(): Promise<void> {
  if (built === undefined) return;
  const script = await built;
  built = undefined;
  await rm(dirname(script), { recursive: true, force: true });
}

export interface LimitsChild {
  run(s: Scenario): Promise<ScenarioResult>;
  stop(): Promise<void>;
}

export async function startLimitsChild(redisUrl: string, keyPrefix: string): Promise<LimitsChild> {
  const child: ChildProcess = spawn(process.execPath, [await childScript(), redisUrl, keyPrefix], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  const buffered: string[] = [];
  lines.on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else buffered.push(line);
  });
  const nextLine = () =>
    new Promise<string>((resolve, reject) => {
      const b = buffered.shift();
      if (b !== undefined) return resolve(b);
      waiting.push(resolve);
      void exited.then(() => reject(new Error(`limits child exited: ${stderr}`)));
    });
  const ready = await nextLine();
  if (ready !== 'READY') throw new Error(`limits child did not start: ${ready} ${stderr}`);
  return {
    async run(s) {
      child.stdin?.write(`${JSON.stringify(s)}\n`);
      return JSON.parse(await nextLine()) as ScenarioResult;
    },
    async stop() {
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface LeaseHolder {
  /** Reservations the child holds. */
  held: number;
  /** kill -9: no settle, no goodbye. */
  kill(): Promise<void>;
}

/** Starts a process holding `count` slots of the concurrency counter `key` with a renewed lease. */
export async function startLeaseHolder(
  redisUrl: string,
  keyPrefix: string,
  opts: { leaseMs: number; key: string; limit: number; count: number },
): Promise<LeaseHolder> {
  const script = join(dirname(await childScript()), 'lease-child.js');
  const args = [script, redisUrl, keyPrefix, String(opts.leaseMs), opts.key, String(opts.limit), String(opts.count)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    void exited.then(() => reject(new Error(`lease child exited: ${stderr}`)));
  });
  const m = /^HELD (\d+)$/.exec(first);
  if (m === null) throw new Error(`lease child did not start: ${first} ${stderr}`);
  return {
    held: Number(m[1]),
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
