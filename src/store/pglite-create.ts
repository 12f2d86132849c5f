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
 * `<pgdata>.creating`; every file and directory of it is then fsync'd (~1 s, once) and only then
 * renamed into place. A crash or power loss during creation leaves the staging directory, which
 * the next start throws away and creates again, never a half-written `pgdata`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fsyncPath } from './fsync.js';
import { embeddedStartParams } from './pglite-settings.js';

/** Run with `node -e`: argv is [node, pgliteUrl, dataDir, startParams as JSON]. */
const CREATE_SOURCE = String.raw`
(async () => {
  const [pgliteUrl, dataDir, startParams] = process.argv.slice(1);
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

/** Creates the database in `dir`; errors name `pgdata`, the directory the operator knows. */
function runCreateChild(dir: string, pgdata: string): Promise<void> {
  const pgliteUrl = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  return new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CREATE_SOURCE, pgliteUrl, dir, JSON.stringify(embeddedStartParams())], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`creating the embedded database in ${pgdata} failed (${signal ?? `exit code ${String(code)}`}): ${stderr.trim()}`));
    });
  });
}

/** Creates the database in `pgdata` unless there is one; the caller holds the data directory's lock. */
export async function createDatabaseOutOfProcess(pgdata: string): Promise<void> {
  if (isInitialized(pgdata)) return;
  if (existsSync(pgdata)) {
    // Never deleted here: it is not a database, but it is not ours to throw away either.
    if ((await readdir(pgdata)).length > 0) throw new Error(`${pgdata} exists but holds no database (no PG_VERSION): move it away to create a new one`);
    await rm(pgdata, { recursive: true });
  }
  const staging = `${pgdata}.creating`;
  if (existsSync(staging)) await rm(staging, { recursive: true, force: true });
  await runCreateChild(staging, pgdata);
  await syncTree(staging);
  await rename(staging, pgdata);
  await fsyncPath(dirname(pgdata));
}
