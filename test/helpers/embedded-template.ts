/**
 * A new embedded database for a test gateway without running initdb for each one.
 *
 * A gateway's first start on an empty data directory creates its PGlite database in a child
 * process (src/store/pglite-create.ts): ~3-4 s of CPU, most of a test gateway's start, paid
 * ~150 times per suite. Here that creation runs once per machine, through the same production
 * function, into a cached directory; each test gateway's `<dataDir>/pgdata` is a copy of it. The
 * gateway then starts as on a database created but not yet migrated: it opens it, migrates it
 * and bootstraps its tenants itself, the way it does in production. Only the creation step is
 * skipped; it has its own tests (test/integration/store/embedded*.test.ts) and the CLI tests
 * (`gatehouse start` as a child process) still create their databases.
 *
 * The cache is keyed by the PGlite version, the start parameters and the source of the creating
 * module, so a change to any of them builds a new one. Parallel test processes wait for the
 * one building it instead of building their own.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { createDatabaseOutOfProcess, isInitialized } from '../../src/store/pglite-create.js';
import { embeddedStartParams } from '../../src/store/pglite-settings.js';

const BUILD_WAIT_MS = 120_000;
const SRC_STORE = join(import.meta.dirname, '..', '..', 'src', 'store');

function templateDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = join(dirname(dirname(require.resolve('@electric-sql/pglite'))), 'package.json');
  const key = createHash('sha256')
    .update(readFileSync(pkg))
    .update(JSON.stringify(embeddedStartParams()))
    .update(readFileSync(join(SRC_STORE, 'pglite-create.ts')))
    .update(readFileSync(join(SRC_STORE, 'pglite-settings.ts')))
    .digest('hex')
    .slice(0, 16);
  return join(tmpdir(), 'gatehouse-test', `pgdata-template-${key}`);
}

/** Builds the template unless it is there; another process building it is waited for. */
async function ensureTemplate(dir: string): Promise<void> {
  if (isInitialized(dir)) return;
  await mkdir(dirname(dir), { recursive: true });
  const lock = `${dir}.building`;
  const deadline = Date.now() + BUILD_WAIT_MS;
  for (;;) {
    try {
      await mkdir(lock); // atomic: one builder at a time
      break;
    } catch {
      if (isInitialized(dir)) return;
      // A builder that died leaves its lock: taken over once it is older than a build can be.
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > BUILD_WAIT_MS || Date.now() > deadline) {
        await rmdir(lock).catch(() => {});
        continue;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    if (isInitialized(dir)) return;
    // The production creation, staged under a private name and renamed into place whole.
    const staging = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await createDatabaseOutOfProcess(staging);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } finally {
    await rmdir(lock).catch(() => {});
  }
}

let template: Promise<string> | undefined;

const execFileAsync = promisify(execFile);

/**
 * Puts a newly created (not migrated) embedded database at `<dataDir>/pgdata`, unless the data
 * directory already holds one (a restart on the same directory keeps its data).
 */
export async function seedEmbeddedDatabase(dataDir: string): Promise<void> {
  const pgdata = join(dataDir, 'pgdata');
  if (existsSync(pgdata)) return;
  template ??= (async () => {
    const dir = templateDir();
    await ensureTemplate(dir);
    return dir;
  })();
  const source = await template;
  await mkdir(dataDir, { recursive: true });
  // Into a staging name first: a half-copied pgdata must never look like a database.
  const staging = `${pgdata}.seeding`;
  if (process.platform === 'win32') await cp(source, staging, { recursive: true });
  else await execFileAsync('cp', ['-R', source, staging]); // ~2x faster than fs.cp for its ~1,000 files
  await rename(staging, pgdata);
}
