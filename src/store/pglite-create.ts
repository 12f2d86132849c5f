/**
 * A new embedded database is created by a short-lived child process; the gateway then opens it
 * the way it opens an existing one.
 *
 * Why not in process: creating a PGlite database runs initdb in a second WebAssembly instance
 * (its own ~190 MB memory), dumps the new directory into a tarball and unpacks it, and reads
 * PGlite's 9 MB module and 6 MB file bundle once more. In the gateway's process all of that
 * outlived the creation: the garbage waited for the database thread's next collection (the
 * gateway sat at ~900 MB after its first start), and what the C allocator had handed out for it
 * stayed in its arenas for good (~110 MB more resident after a bench run on a new directory
 * than on an existing one). A child process gives all of it back when it exits.
 *
 * Durably: PGlite creates the database with fsync off (pglite-settings.ts), so the child works in
 * a staging directory, `<pgdata>.creating.<pid>-<random>`; every file and directory of it is then
 * fsync'd (~1 s, once) and only then renamed into place. A crash or power loss during creation
 * leaves the staging directory, which the next start throws away before it creates again, never a
 * half-written `pgdata`.
 *
 * The child ends with its gateway. A stop during start-up (`signal`) kills it and waits for it to
 * exit; a gateway that exits otherwise kills it on its way out; and the child kills itself once
 * the gateway is gone (killed outright, kill -9), which a thread of its own checks every 200 ms
 * (initdb holds the main thread for seconds at a time). And each creation stages under a name of
 * its own, so a child still in its last moments when the next start begins writes only into its
 * own directory, which that start throws away. Before, a SIGTERM during the first start killed
 * the gateway at once with its child still creating in `<pgdata>.creating`, and the next start,
 * deleting that directory while the child still wrote to it, failed with ENOTEMPTY (or, deleting
 * it in time, created the new database where the old child was still writing).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fsyncPath } from './fsync.js';
import { embeddedStartParams } from './pglite-settings.js';

/** Run with `node -e`: argv is [node, pgliteUrl, dataDir, startParams as JSON, the gateway's pid]. */
const CREATE_SOURCE = String.raw`
const [pgliteUrl, dataDir, startParams, gatewayPid] = process.argv.slice(1);
// A gateway that is gone leaves this process a new parent: its creation is abandoned.
new (require('node:worker_threads').Worker)(
  "const { workerData } = require('node:worker_threads');" +
    "setInterval(() => { if (process.ppid !== workerData) process.kill(process.pid, 'SIGKILL'); }, 200);",
  { eval: true, workerData: Number(gatewayPid) },
).unref();
(async () => {
  const { PGlite } = await import(pgliteUrl);
  const db = await PGlite.create({ dataDir, startParams: JSON.parse(startParams) });
  await db.close();
})().then(
  () => process.exit(0),
  (err) => { process.stderr.write(String((err && err.stack) || err)); process.exit(1); },
);
`;

/** PostgreSQL writes PG_VERSION into a data directory it has initialized; PGlite checks the same. */
export function isInitialized(pgdata: string): boolean {
  return existsSync(join(pgdata, 'PG_VERSION'));
}

/** fsyncs every file under `dir`, then `dir` itself (a directory's entries are data too). */
async function syncTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  await Promise.all(entries.filter((e) => e.isFile()).map((e) => fsyncPath(join(dir, e.name))));
  for (const e of entries) if (e.isDirectory()) await syncTree(join(dir, e.name));
  await fsyncPath(dir);
}

/**
 * Creates the database in `dir`; errors name `pgdata`, the directory the operator knows. Settles
 * only once the child has exited: aborted by `signal`, it is killed and waited for, then rejects
 * with the signal's reason.
 */
function runCreateChild(dir: string, pgdata: string, signal: AbortSignal | undefined): Promise<void> {
  const pgliteUrl = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  return new Promise<void>((resolve, reject) => {
    const args = ['-e', CREATE_SOURCE, pgliteUrl, dir, JSON.stringify(embeddedStartParams()), String(process.pid)];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    // The staging directory is thrown away: nothing of the child's work is worth a clean stop.
    const kill = () => void child.kill('SIGKILL');
    signal?.addEventListener('abort', kill, { once: true });
    // process.exit() (a second signal, a fatal error) runs 'exit' listeners, synchronously.
    process.once('exit', kill);
    const done = () => {
      signal?.removeEventListener('abort', kill);
      process.off('exit', kill);
    };
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.once('error', (err) => {
      done();
      reject(err);
    });
    child.once('exit', (code, exitSignal) => {
      done();
      if (code === 0) resolve(); // finished before the kill: complete, so it is completed
      else if (signal?.aborted === true) reject(signal.reason);
      else reject(new Error(`creating the embedded database in ${pgdata} failed (${exitSignal ?? `exit code ${String(code)}`}): ${stderr.trim()}`));
    });
  });
}

/**
 * Throws away the staging directories creations before this one left (a crash, kill -9, a power
 * loss): `<pgdata>.creating` (as earlier versions named it) and `<pgdata>.creating.*`. None is a
 * database and none is in the way of this creation's own; one that cannot be removed now (its
 * child still writing as it exits) is tried again at the next start.
 */
async function removeLeftoverStaging(pgdata: string): Promise<void> {
  const prefix = `${basename(pgdata)}.creating`;
  let names: string[];
  try {
    names = await readdir(dirname(pgdata));
  } catch {
    return; // no parent directory: nothing left over (the creation reports what is wrong)
  }
  for (const name of names) {
    if (name !== prefix && !name.startsWith(`${prefix}.`)) continue;
    await rm(join(dirname(pgdata), name), { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }).catch(() => {});
  }
}

/**
 * Creates the database in `pgdata` unless there is one; the caller holds the data directory's
 * lock. `signal` stops a creation in progress (a SIGTERM during start-up): the child is killed
 * and waited for, its staging directory removed, and the call rejects with the signal's reason.
 * A creation whose child has finished is completed (fsync and rename, ~1 s) rather than thrown
 * away.
 */
export async function createDatabaseOutOfProcess(pgdata: string, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  if (isInitialized(pgdata)) return;
  if (existsSync(pgdata)) {
    // Never deleted here: it is not a database, but it is not ours to throw away either.
    if ((await readdir(pgdata)).length > 0) throw new Error(`${pgdata} exists but holds no database (no PG_VERSION): move it away to create a new one`);
    await rm(pgdata, { recursive: true });
  }
  await removeLeftoverStaging(pgdata);
  const staging = `${pgdata}.creating.${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await runCreateChild(staging, pgdata, signal);
  } catch (err) {
    await rm(staging, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }).catch(() => {});
    throw err;
  }
  await syncTree(staging);
  await rename(staging, pgdata);
  await fsyncPath(dirname(pgdata));
}
