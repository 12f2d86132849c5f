/**
 * `gatehouse start` as a child process, the way an operator runs it: waits for the "listening"
 * log line (level info or lower) and returns the URL it names.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'gatehouse.js');

export interface CliGateway {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** The first start may compile the sources (bin/gatehouse.js): `timeoutMs` allows for it. */
export async function startCli(env: Record<string, string>, timeoutMs = 150_000): Promise<CliGateway> {
  const child = spawn(process.execPath, [BIN, 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = /"url":"(http:\/\/[^"]+)"/.exec(out);
    if (match?.[1]) return { child, url: match[1], output: () => out, exited };
    if (child.exitCode !== null) throw new Error(`gatehouse exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`gatehouse did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function stopCli(g: CliGateway | undefined): Promise<void> {
  if (g === undefined || g.child.exitCode !== null) return;
  g.child.kill('SIGTERM');
  await g.exited;
}
