/**
 * A signal during the first start, while the embedded database is being created by a child
 * process (src/store/pglite-create.ts). The signal's default action killed the gateway (exit 143)
 * and left the child creating on its own; a restart then deleted its staging directory while it
 * still wrote there and once failed with ENOTEMPTY. Now SIGTERM and SIGINT stop the start: the
 * child is killed and waited for, exit 0 with a line saying so; a gateway killed outright takes
 * its child with it; and the next start creates the database from scratch either way.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, startCli, stopCli, type CliGateway } from '../helpers/cli.js';
import { DEMO_KEY } from '../helpers/gateway.js';

const SLOW = 180_000;

const dirs: string[] = [];
const running: CliGateway[] = [];
afterEach(async () => {
  for (const g of running.splice(0)) await stopCli(g);
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pids of the processes whose command line names `text` (the creating child names its staging directory). */
async function processesNaming(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(join('/proc', name, 'cmdline'), 'utf8').catch(() => '');
    if (cmdline.includes(text)) pids.push(Number(name));
  }
  return pids;
}

const staged = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((n) => n.startsWith('pgdata.creating'));

/** Starts `gatehouse start` on a new data directory and returns once the database is being created. */
async function startCreating(dir: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [BIN, 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + 150_000;
  for (;;) {
    if (existsSync(dir) && (await staged(dir)).length > 0 && (await processesNaming(join(dir, 'pgdata.creating'))).length > 0) break;
    if (child.exitCode !== null) throw new Error(`gatehouse exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`gatehouse never began creating its database:\n${out}`);
    await sleep(20);
  }
  return { child, exited, output: () => out };
}

async function newDir(): Promise<{ dir: string; env: Record<string, string> }> {
  const root = await mkdtemp(join(tmpdir(), 'gatehouse-start-interrupted-'));
  dirs.push(root);
  const dir = join(root, 'data');
  return { dir, env: { GATEHOUSE_DATA_DIR: dir, GATEHOUSE_PORT: '0', GATEHOUSE_HOST: '127.0.0.1', GATEHOUSE_DEMO_KEY: DEMO_KEY } };
}

/** The next start on `dir` serves, and leaves no staging directory behind. */
async function restartServes(dir: string, env: Record<string, string>): Promise<void> {
  const gw = await startCli(env);
  running.push(gw);
  const res = await request(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
  expect(res.statusCode).toBe(200);
  await res.body.text();
  expect(await staged(dir)).toEqual([]);
  gw.child.kill('SIGTERM');
  expect(await gw.exited).toBe(0);
}

describe.skipIf(!existsSync('/proc'))('a signal while the first start creates the embedded database', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s stops the start: the creating child is killed and waited for, exit 0 with a message, nothing left; the next start succeeds',
    async (signal) => {
      const { dir, env } = await newDir();
      const gw = await startCreating(dir, env);
      gw.child.kill(signal);
      const { code } = await gw.exited;
      expect(code, gw.output()).toBe(0);
      expect(gw.output()).toContain(`gatehouse: ${signal} during start-up: stopped before serving`);
      // Waited for, not merely signalled: nothing of it runs once the gateway has exited.
      expect(await processesNaming(dir)).toEqual([]);
      // Its staging directory is gone and the lock released; no half-made database.
      expect(await readdir(dir)).not.toContain('gatehouse.lock');
      expect(await staged(dir)).toEqual([]);
      expect(existsSync(join(dir, 'pgdata'))).toBe(false);
      await restartServes(dir, env);
    },
    SLOW,
  );

  it('a gateway killed outright (kill -9) takes its creating child with it, and a start right after creates the database anew', async () => {
    const { dir, env } = await newDir();
    const gw = await startCreating(dir, env);
    const [orphanStaging] = await staged(dir);
    gw.child.kill('SIGKILL');
    expect((await gw.exited).signal).toBe('SIGKILL');
    // The child notices its gateway is gone (a thread of its own checks every 200 ms) and ends,
    // well before its creation would have finished (seconds: it had only begun).
    const deadline = Date.now() + 2_000;
    while ((await processesNaming(dir)).length > 0 && Date.now() < deadline) await sleep(50);
    expect(await processesNaming(dir)).toEqual([]);
    expect(await staged(dir)).toEqual([orphanStaging]); // what the crash left
    // The leftover is thrown away, never taken for a database; the new one is created whole.
    await restartServes(dir, env);
  }, SLOW);

  it('a start right after kill -9, while the old child may still be running, succeeds', async () => {
    const { dir, env } = await newDir();
    const gw = await startCreating(dir, env);
    gw.child.kill('SIGKILL');
    await gw.exited;
    await restartServes(dir, env);
    expect(await processesNaming(dir)).toEqual([]);
  }, SLOW);
});
