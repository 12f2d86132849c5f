/**
 * Exclusive lock on an embedded data directory. PGlite takes no lock of its own, and two
 * processes on one directory silently lose committed rows (DESIGN §10), so the second process
 * must refuse to start. The lock is a file created with O_EXCL holding the owner's pid; a lock
 * whose pid is no longer running (a crash, kill -9) is stale and is taken over.
 *
 * Limits, by design: liveness is checked by pid, so the directory must be on a local file
 * system (not shared between hosts); a stale lock whose pid was reused by an unrelated process
 * is reported as in use, and the message says which file to delete.
 */
import { mkdir, open, readFile, rmdir, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export const LOCK_FILE = 'gatehouse.lock';
/** A lock file still empty after this long was left by a crash between create and write. */
const EMPTY_LOCK_GRACE_MS = 2_000;
/** A takeover mutex older than this was left by a process that died mid-takeover. */
const TAKEOVER_STALE_MS = 10_000;
const MAX_ATTEMPTS = 50;

export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly lockFile: string,
  ) {
    super(
      `data directory ${dataDir} is in use by process ${pid}${pid === process.pid ? ' (this process)' : ''}; ` +
        `stop that process first (if no Gatehouse process is running, delete ${lockFile})`,
    );
  }
}

export interface DirLock {
  readonly file: string;
  release(): Promise<void>;
}

/** Lock files held by this process: our own pid in a lock file is not proof that we hold it. */
const held = new Set<string>();

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return errorCode(err) === 'EPERM';
  }
}

/** The file's content, or undefined if it does not exist. */
async function readLock(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

async function ageMs(path: string): Promise<number> {
  try {
    return Date.now() - (await stat(path)).mtimeMs;
  } catch {
    return 0;
  }
}

async function tryCreate(file: string): Promise<boolean> {
  try {
    const fh = await open(file, 'wx', 0o600);
    try {
      await fh.writeFile(`${process.pid}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return true;
  } catch (err) {
    if (errorCode(err) === 'EEXIST') return false;
    throw err;
  }
}

/**
 * Removes a stale lock, but only if it still holds the content we judged stale. Takeovers are
 * serialised by a mutex directory (mkdir is atomic): without it, process A could delete the
 * stale file and create its own lock, and process B, acting on its earlier read, delete A's.
 */
async function removeStale(file: string, staleContent: string): Promise<void> {
  const mutex = `${file}.takeover`;
  try {
    await mkdir(mutex);
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') throw err;
    if ((await ageMs(mutex)) > TAKEOVER_STALE_MS) await rmdir(mutex).catch(() => {});
    return; // someone else is taking over; the caller retries
  }
  try {
    if ((await readLock(file)) === staleContent) await unlink(file).catch(() => {});
  } finally {
    await rmdir(mutex).catch(() => {});
  }
}

export async function lockDataDir(dataDir: string): Promise<DirLock> {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, LOCK_FILE);

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (!held.has(file) && (await tryCreate(file))) {
      held.add(file);
      return { file, release: () => release(file) };
    }
    const content = await readLock(file);
    if (content === undefined) continue; // released meanwhile: try again
    const pid = Number.parseInt(content, 10);
    if (Number.isInteger(pid) && pid > 0) {
      // Our own pid without holding it means a previous incarnation of this process wrote it
      // (containers restart as pid 1): stale.
      const ours = pid === process.pid && !held.has(file);
      if (!ours && isAlive(pid)) throw new DataDirInUseError(dir, pid, file);
      await removeStale(file, content);
    } else if ((await ageMs(file)) > EMPTY_LOCK_GRACE_MS) {
      await removeStale(file, content);
    } else {
      await sleep(50); // another process is between create and write
    }
  }
  throw new Error(`could not lock data directory ${dir}: ${file} keeps changing; is another process starting?`);
}

async function release(file: string): Promise<void> {
  if (!held.delete(file)) return;
  // Only remove the file if it is still ours.
  if ((await readLock(file))?.trim() === String(process.pid)) await unlink(file).catch(() => {});
}
