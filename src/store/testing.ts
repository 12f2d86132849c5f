/**
 * Test databases, for this folder's tests and for every other suite that needs a store.
 *
 * PGlite: creating a database costs ~3-4 s and ~700 MB, loading a dump ~0.4 s (DESIGN §10). So
 * one migrated template is built per machine and schema, cached in the OS temp directory under
 * a name derived from the PGlite version and the migrations' checksums, and every test store
 * is an in-memory PGlite loaded from it.
 *
 * PostgreSQL: a fresh database per suite (not a schema: roles and the tenant function are then
 * exactly as in production), dropped afterwards.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { migrationChecksum } from './migrate.js';
import { MIGRATIONS } from './migrations/index.js';
import { createPgliteInstance, pgliteDriver } from './pglite-driver.js';
import { openStore, storeFromDriver } from './store.js';
import type { EmbeddedThread, Store } from './types.js';

const BUILD_WAIT_MS = 90_000;

function pgliteVersion(): string {
  const require = createRequire(import.meta.url);
  // dist/index.cjs -> package root
  const pkg = join(dirname(dirname(require.resolve('@electric-sql/pglite'))), 'package.json');
  const parsed: unknown = JSON.parse(readFileSync(pkg, 'utf8'));
  return typeof parsed === 'object' && parsed !== null && 'version' in parsed ? String(parsed.version) : 'unknown';
}

function templatePath(): string {
  const key = createHash('sha256')
    .update(pgliteVersion())
    .update(MIGRATIONS.map(migrationChecksum).join(','))
    .digest('hex')
    .slice(0, 16);
  return join(tmpdir(), 'gatehouse-test', `pglite-template-${key}.tgz`);
}

async function buildTemplate(): Promise<Buffer> {
  const db = await createPgliteInstance(undefined);
  const store = storeFromDriver(pgliteDriver(db));
  try {
    await store.migrate();
    const dump = await db.dumpDataDir('gzip');
    return Buffer.from(await dump.arrayBuffer());
  } finally {
    await store.close();
  }
}

async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch {
    return undefined;
  }
}

/**
 * The migrated template, built by the first test process that needs it. Parallel test
 * processes wait for it instead of each spending 700 MB on their own build.
 */
async function loadOrBuildTemplate(): Promise<Buffer> {
  const file = templatePath();
  const cached = await readIfExists(file);
  if (cached !== undefined) return cached;
  await mkdir(dirname(file), { recursive: true });
  const buildLock = `${file}.building`;
  let mine = false;
  try {
    await (await open(buildLock, 'wx')).close();
    mine = true;
  } catch {
    // Another process is building it (or died doing so: the lock file is then old).
    const deadline = Date.now() + BUILD_WAIT_MS;
    while (Date.now() < deadline) {
      const ready = await readIfExists(file);
      if (ready !== undefined) return ready;
      const age = await stat(buildLock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > BUILD_WAIT_MS) break;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    const built = await buildTemplate();
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await writeFile(tmp, built);
    await rename(tmp, file); // atomic: readers never see half a file
    return built;
  } finally {
    if (mine) await unlink(buildLock).catch(() => {});
  }
}

let template: Promise<Buffer> | undefined;

/** A migrated in-memory PGlite store of its own (~0.4 s once the template exists). */
export async function openPgliteTestStore(thread: EmbeddedThread = 'main'): Promise<Store> {
  template ??= loadOrBuildTemplate();
  const bytes = await template;
  return openStore({ memory: true, loadDataDir: new Blob([bytes]), thread });
}

export interface PostgresTestDatabase {
  readonly name: string;
  readonly url: string;
  /** Closes `store` if given, then drops the database. */
  drop(store?: Store): Promise<void>;
}

const TEST_DB_PREFIX = 'gh_test_';
/** Databases left by killed test runs are swept once older than this. */
const LEFTOVER_AGE_S = 3600;

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** An empty database (not migrated) named gh_test_<epoch seconds>_<random>. */
export async function createPostgresTestDatabase(serverUrl: string): Promise<PostgresTestDatabase> {
  const now = Math.floor(Date.now() / 1000);
  const name = `${TEST_DB_PREFIX}${now}_${randomBytes(5).toString('hex')}`;
  await withClient(serverUrl, async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'gh\\_test\\_%' AND datname <> $1",
      [name],
    );
    for (const { datname } of rows) {
      const created = Number(/^gh_test_(\d+)_/.exec(datname)?.[1] ?? now);
      // Without FORCE: a database still in use by a live run is left alone.
      if (now - created > LEFTOVER_AGE_S) await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(datname)}`).catch(() => {});
    }
    await c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`);
  });
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return {
    name,
    url: u.toString(),
    async drop(store?: Store) {
      if (store !== undefined) await store.close();
      await withClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`));
    },
  };
}

/** A migrated PostgreSQL store on a fresh database; `drop()` closes it and drops the database. */
export async function openPostgresTestStore(
  serverUrl: string,
  opts: { poolSize?: number } = {},
): Promise<{ store: Store; db: PostgresTestDatabase; drop(): Promise<void> }> {
  const db = await createPostgresTestDatabase(serverUrl);
  const store = await openStore({ databaseUrl: db.url, poolSize: opts.poolSize });
  try {
    await store.migrate();
  } catch (err) {
    await db.drop(store);
    throw err;
  }
  return { store, db, drop: () => db.drop(store) };
}
