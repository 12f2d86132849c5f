/**
 * What the embedded store keeps resident (bench/README.md "Resident memory"): PostgreSQL's
 * shared buffers are sized down, on the worker thread and in process, and a new database is
 * created by a child process, so the gateway's own process never holds initdb's memory.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metaRepo, openStore } from '../../../src/store/index.js';
import { createDatabaseOutOfProcess, isInitialized } from '../../../src/store/pglite-create.js';
import { EMBEDDED_SHARED_BUFFERS } from '../../../src/store/pglite-settings.js';
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { removeChildScript, runChild } from './child-store.js';

describe('embedded store memory', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'gatehouse-memory-'));
  });
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
    await removeChildScript();
  });

  it.each(['worker', 'main'] as const)('runs PostgreSQL with %s-thread PGlite on 32 MB of shared buffers, not 128', async (thread) => {
    expect(EMBEDDED_SHARED_BUFFERS).toBe('32MB');
    const store = await openPgliteTestStore(thread);
    try {
      const { rows } = await store.platform((tx) => tx.query<{ v: string }>(`SELECT current_setting('shared_buffers') AS v`));
      expect(rows[0]?.v).toBe('32MB');
    } finally {
      await store.close();
    }
  });

  it('creates a new database in a child process: the opening process peaks far below initdb', async () => {
    const dataDir = join(root, 'peak');
    const child = await runChild(dataDir, 'peak');
    expect(child.stderr).toBe('');
    expect(child.code).toBe(0);
    const peakMb = Number(child.stdout.trim()) / 1024;
    // initdb in process: ~800-950 MB at its peak; opening the created database ~200-300 MB.
    expect(peakMb).toBeGreaterThan(50);
    expect(peakMb).toBeLessThan(500);
    expect(isInitialized(join(dataDir, 'pgdata'))).toBe(true);

    // The directory the child created opens as any existing database, with what was written.
    const store = await openStore({ dataDir });
    try {
      expect(await store.migrate()).toEqual({ applied: [] });
      await store.admin((tx) => metaRepo.set(tx, 'probe', 'kept'));
    } finally {
      await store.close();
    }
    const versionFile = join(dataDir, 'pgdata', 'PG_VERSION');
    const before = (await stat(versionFile)).mtimeMs;
    await createDatabaseOutOfProcess(join(dataDir, 'pgdata')); // an existing database is left alone
    expect((await stat(versionFile)).mtimeMs).toBe(before);
    const reopened = await openStore({ dataDir });
    try {
      expect(await reopened.platform((tx) => metaRepo.get(tx, 'probe'))).toBe('kept');
    } finally {
      await reopened.close();
    }
  });

  it('creates in a staging directory: a leftover one is thrown away, a directory that holds something else is refused', async () => {
    const dataDir = join(root, 'staged');
    const pgdata = join(dataDir, 'pgdata');
    // Creations cut off: as earlier versions named their staging directory, and as this one does.
    for (const leftover of [`${pgdata}.creating`, `${pgdata}.creating.4242-0badf00d`]) {
      await mkdir(join(leftover, 'base'), { recursive: true });
      await writeFile(join(leftover, 'PG_VERSION'), 'half-written');
    }
    await createDatabaseOutOfProcess(pgdata);
    expect(isInitialized(pgdata)).toBe(true);
    expect((await readdir(dataDir)).sort()).toEqual(['pgdata']);
    expect((await readFile(join(pgdata, 'PG_VERSION'), 'utf8')).trim()).toMatch(/^\d+$/);

    const other = join(root, 'other', 'pgdata');
    await mkdir(other, { recursive: true });
    await writeFile(join(other, 'notes.txt'), 'mine');
    await expect(createDatabaseOutOfProcess(other)).rejects.toThrow(`${other} exists but holds no database`);
    expect(await readFile(join(other, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('stops a creation when its signal aborts: the child is killed and waited for, its staging directory removed, the reason thrown', async () => {
    const dataDir = join(root, 'stopped');
    const pgdata = join(dataDir, 'pgdata');
    await mkdir(dataDir, { recursive: true });
    const stop = new AbortController();
    const creating = createDatabaseOutOfProcess(pgdata, stop.signal);
    while ((await readdir(dataDir)).length === 0) await new Promise((r) => setTimeout(r, 10)); // the child has begun
    const reason = new Error('SIGTERM during start-up');
    stop.abort(reason);
    await expect(creating).rejects.toBe(reason);
    expect(await readdir(dataDir)).toEqual([]);
    // Already stopped: no child at all.
    await expect(createDatabaseOutOfProcess(pgdata, stop.signal)).rejects.toBe(reason);
    expect(await readdir(dataDir)).toEqual([]);
  });

  it("reports the child's error when the database cannot be created", async () => {
    const file = join(root, 'not-a-directory');
    await writeFile(file, 'x');
    const pgdata = join(file, 'pgdata');
    await expect(createDatabaseOutOfProcess(pgdata)).rejects.toThrow(`creating the embedded database in ${pgdata} failed (exit code 1)`);
    expect(existsSync(pgdata)).toBe(false);
  });
});
