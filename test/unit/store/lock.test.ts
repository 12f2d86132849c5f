import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirInUseError, lockDataDir, LOCK_FILE } from '../../../src/store/lock.js';

let dir: string;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});
const fresh = async () => (dir = await mkdtemp(join(tmpdir(), 'gatehouse-lock-')));
const lockFile = () => join(dir, LOCK_FILE);
const content = async () => (await readFile(lockFile(), 'utf8')).trim();

/** The pid of a process that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid ?? 999_999;
}

describe('lockDataDir', () => {
  it('creates the directory and a lock file with our pid; release removes it', async () => {
    await fresh();
    const sub = join(dir, 'a', 'b');
    const lock = await lockDataDir(sub);
    expect((await readFile(join(sub, LOCK_FILE), 'utf8')).trim()).toBe(String(process.pid));
    await lock.release();
    expect(existsSync(join(sub, LOCK_FILE))).toBe(false);
    await lock.release(); // idempotent
  });

  it('refuses a second lock in the same process, naming it', async () => {
    await fresh();
    const lock = await lockDataDir(dir);
    try {
      await expect(lockDataDir(dir)).rejects.toThrow(`data directory ${dir} is in use by process ${process.pid} (this process)`);
    } finally {
      await lock.release();
    }
    await (await lockDataDir(dir)).release();
  });

  it('refuses while another live process holds it', async () => {
    await fresh();
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
    try {
      await writeFile(lockFile(), `${other.pid}\n`);
      const err = await lockDataDir(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataDirInUseError);
      expect(err).toMatchObject({ pid: other.pid, lockFile: lockFile() });
      expect(String(err)).toContain(`delete ${lockFile()}`);
      expect(await content()).toBe(String(other.pid)); // untouched
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('takes over the lock of a process that has died', async () => {
    await fresh();
    await writeFile(lockFile(), `${deadPid()}\n`);
    const lock = await lockDataDir(dir);
    expect(await content()).toBe(String(process.pid));
    await lock.release();
  });

  it('takes over a lock holding our own pid that this process does not hold (restarted container, pid 1)', async () => {
    await fresh();
    await writeFile(lockFile(), `${process.pid}\n`);
    const lock = await lockDataDir(dir);
    expect(await content()).toBe(String(process.pid));
    await lock.release();
  });

  it('takes over an unreadable lock once it is old, and waits while it may still be being written', async () => {
    await fresh();
    await writeFile(lockFile(), '');
    const old = new Date(Date.now() - 60_000);
    await utimes(lockFile(), old, old);
    await (await lockDataDir(dir)).release();

    await writeFile(lockFile(), 'garbage');
    const started = Date.now();
    const lock = await lockDataDir(dir);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    await lock.release();
  });

  it('does not delete a lock file that is no longer ours', async () => {
    await fresh();
    const lock = await lockDataDir(dir);
    await writeFile(lockFile(), '424242\n');
    await lock.release();
    expect(await content()).toBe('424242');
  });
});
