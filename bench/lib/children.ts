/**
 * Child processes for the bench: every measured server runs in its own process so its CPU time
 * can be read from /proc/<pid>/stat and so the load generator never shares an event loop with
 * what it measures. Children write their output straight to a log file (not a pipe), so a
 * chatty child can never block on a full pipe and the driver spends no CPU relaying it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  logFile: string;
}

const live = new Set<ChildProcess>();

/** Ask the kernel for a free port. Racy in theory; fine on a bench machine. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

export interface StartOptions {
  name: string;
  /** Absolute path of the compiled entry point, run with this Node binary. */
  script: string;
  args?: string[];
  /** Flags for node itself, e.g. --cpu-prof. */
  nodeArgs?: string[];
  env?: Record<string, string>;
  logFile: string;
}

export function startChild(opts: StartOptions): Child {
  const fd = openSync(opts.logFile, 'a');
  // Spawn node directly (no shell, no npm) so proc.pid is the process doing the work.
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.script, ...(opts.args ?? [])], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  if (proc.pid === undefined) throw new Error(`${opts.name}: failed to spawn ${opts.script}`);
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return { name: opts.name, proc, pid: proc.pid, logFile: opts.logFile };
}

function hasExited(child: Child): boolean {
  return child.proc.exitCode !== null || child.proc.signalCode !== null;
}

export function logTail(child: Child, bytes = 2000): string {
  try {
    const size = statSync(child.logFile).size;
    const text = readFileSync(child.logFile, 'utf8');
    return (size > bytes ? '…' : '') + text.slice(-bytes).trimEnd();
  } catch {
    return '(no log)';
  }
}

function exitedError(child: Child): Error {
  const how = child.proc.exitCode !== null ? `code ${child.proc.exitCode}` : `signal ${child.proc.signalCode}`;
  return new Error(`${child.name} exited (${how}) before it was ready:\n${logTail(child)}`);
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function waitForPort(child: Child, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (hasExited(child)) throw exitedError(child);
    if (await tryConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`${child.name}: port ${port} not open after ${timeoutMs} ms:\n${logTail(child)}`);
}

/** Poll a GET endpoint until it answers 200 (e.g. /readyz while the store opens). */
export async function waitForHttp200(child: Child, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (hasExited(child)) throw exitedError(child);
    try {
      const res = await request(url, { method: 'GET', headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      if (res.statusCode === 200) return;
      last = `status ${res.statusCode}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`${child.name}: ${url} not ready after ${timeoutMs} ms (${last}):\n${logTail(child)}`);
}

export async function stopChild(child: Child, graceMs = 3000): Promise<void> {
  if (hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.proc.once('exit', () => resolve()));
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Kill every child we started, and only those, when the driver goes away for any reason. */
export function installCleanup(onSignal: () => Promise<void>): void {
  process.once('exit', () => {
    for (const proc of live) proc.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping children…\n`);
      void onSignal().finally(() => process.exit(130));
    });
  }
}
