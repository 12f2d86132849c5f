/**
 * Embedded mode on disk: data persists in dataDir/pgdata, and the directory is locked, because
 * PGlite does not lock it and two processes on one directory silently lose rows (DESIGN §10), and
 * commits are fsync'd, which PGlite on its own never does.
 */
import fs, { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DataDirInUseError, metaRepo, openStore } from '../../../src/store/index.js';
import { MIGRATIONS } from '../../../src/store/migrations/index.js';
import { removeChildScript, runChild, startHolder, waitForExit } from './child-store.js';

describe('embedded store on a data directory', () => {
  let root: string;
  let dataDir: string;

  // Creating a PGlite database on disk takes ~9 s, reopening it ~0.5 s: the tests share one.
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'gatehouse-data-'));
    dataDir = join(root, 'nested', 'data'); // openStore creates missing directories
    const store = await openStore({ dataDir });
    try {
      expect(store.kind).toBe('embedded');
      expect(await store.migrate()).toEqual({ applied: MIGRATIONS.map((m) => m.id) });
    } finally {
      await store.close();
    }
  });
  afterAll(async () => {
    if (root !== undefined) await rm(root, { recursive: true, force: true });
    await removeChildScript();
  });

  it('persists across reopen and refuses a second opener in this and another process', async () => {
    const store = await openStore({ dataDir });
    try {
      expect(existsSync(join(dataDir, 'pgdata'))).toBe(true);
      expect((await readFile(join(dataDir, 'gatehouse.lock'), 'utf8')).trim()).toBe(String(process.pid));
      await store.admin((tx) => metaRepo.set(tx, 'greeting', 'hello'));

      await expect(openStore({ dataDir })).rejects.toThrow(DataDirInUseError);
      const child = await runChild(dataDir, 'open');
      expect(child.code).toBe(3);
      expect(child.stdout).not.toContain('OPENED');
      expect(child.stderr).toContain(`data directory ${dataDir} is in use by process ${process.pid}`);
    } finally {
      await store.close();
    }
    expect(existsSync(join(dataDir, 'gatehouse.lock'))).toBe(false);

    const reopened = await openStore({ dataDir });
    try {
      expect(await reopened.migrate()).toEqual({ applied: [] });
      expect(await reopened.platform((tx) => metaRepo.get(tx, 'greeting'))).toBe('hello');
    } finally {
      await reopened.close();
    }
  });

  it('makes commits durable: fsync on, the WAL flushed with fsync(), and that fsync reaching the disk', async () => {
    for (const thread of ['worker', 'main'] as const) {
      const store = await openStore({ dataDir, thread });
      try {
        const settings = await store.admin(async (tx) => (await tx.query<{ f: string; m: string }>("SELECT current_setting('fsync') AS f, current_setting('wal_sync_method') AS m")).rows[0]);
        expect(settings).toEqual({ f: 'on', m: 'fsync' });
        if (thread === 'main') {
          // In this thread the file system's fsync can be watched: a commit must call it.
          const spy = vi.spyOn(fs, 'fsyncSync');
          try {
            await store.admin((tx) => metaRepo.set(tx, 'durable', thread));
            expect(spy).toHaveBeenCalled();
          } finally {
            spy.mockRestore();
          }
        }
      } finally {
        await store.close();
      }
    }
  });

  it('refuses while another process holds the directory, and takes over once it has died', async () => {
    const holder = await startHolder(dataDir);
    try {
      const refused = openStore({ dataDir });
      await expect(refused).rejects.toThrow(DataDirInUseError);
      await expect(refused).rejects.toThrow(`is in use by process ${holder.pid}`);
    } finally {
      holder.kill('SIGKILL'); // a crash: no clean release, the lock file stays behind
      await waitForExit(holder);
    }
    expect((await readFile(join(dataDir, 'gatehouse.lock'), 'utf8')).trim()).toBe(String(holder.pid));

    const store = await openStore({ dataDir });
    try {
      // The holder's committed row survived its kill -9.
      expect(await store.platform((tx) => metaRepo.get(tx, 'written-by'))).toBe(String(holder.pid));
      expect((await readFile(join(dataDir, 'gatehouse.lock'), 'utf8')).trim()).toBe(String(process.pid));
    } finally {
      await store.close();
    }
  });
});
