/**
 * PostgreSQL settings of the embedded store (PGlite), given at every start (initdb's
 * postgresql.conf is left as it is).
 *
 * shared_buffers: PGlite's default is PostgreSQL's 128 MB, and all of it is resident from the
 * first query on (PostgreSQL writes its whole shared memory at start-up, and the WebAssembly
 * memory it lives in never shrinks). For the embedded store that is a second copy of what the
 * kernel's page cache already holds: PGlite reads and writes the data directory's files through
 * the file system, and the page cache, unlike the WebAssembly heap, is given back under memory
 * pressure. Measured (bench/README.md "Resident memory"): in the gateway, the WebAssembly memory
 * went from 189 MB mapped / ~170 MB resident to 128 MB / ~50 MB; ingest's CPU per event was the
 * same at 16, 32, 64 and 128 MB (34–36 µs at 400,000 events, batches of 5,000), but at 16 MB
 * it re-read the unique index from the page cache (6× the reads of 32 MB: random event ids
 * make that whole index the working set). wal_buffers follows (1/32 of it, 1 MB).
 */
import fs from 'node:fs';
import { PGlite } from '@electric-sql/pglite';

export const EMBEDDED_SHARED_BUFFERS = '32MB';

/**
 * Durability: PGlite starts PostgreSQL with `-F` (fsync off), and the Node file system it runs on
 * (Emscripten's NODEFS) passes no fsync on: a data directory's commits reached the kernel's page
 * cache and nothing more, so a power loss or kernel crash could take committed work (usage the
 * spool had already let go of included) or leave the directory inconsistent. Later options win:
 * fsync is turned back on, the WAL is flushed with fsync() (fdatasync() is a no-op in
 * Emscripten, fsync() reaches the file system's stream operation), and enableFsync() gives NODEFS
 * that operation. A commit then costs one fsync of the WAL, like PostgreSQL's.
 */
const DURABILITY = ['-c', 'fsync=on', '-c', 'wal_sync_method=fsync'];

/** PGlite's own start parameters (single-user mode, no parallel workers, ...) plus ours. */
export function embeddedStartParams(): string[] {
  return [...PGlite.defaultStartParams, '-c', `shared_buffers=${EMBEDDED_SHARED_BUFFERS}`, ...DURABILITY];
}

/** The parts of PGlite's Emscripten module enableFsync() touches. */
interface EmscriptenFsModule {
  NODEFS?: { stream_ops: { fsync?: (stream: { nfd?: number }) => void } };
  FS: { ErrnoError: new (errno: number) => Error };
}

/** Emscripten's errno for EIO. */
const EMSCRIPTEN_EIO = 29;

/**
 * Gives PGlite's NODEFS the fsync it lacks (see DURABILITY). A failed fsync reaches PostgreSQL as
 * EIO, which it treats as fatal: nothing may be acknowledged as durable after one. The worker
 * thread's script (pglite-worker-driver.ts) does the same in its own words.
 */
export function enableFsync(db: PGlite): void {
  const mod = (db as unknown as { Module: EmscriptenFsModule }).Module;
  const ops = mod.NODEFS?.stream_ops;
  if (ops === undefined) return;
  ops.fsync = (stream) => {
    if (stream.nfd === undefined) return;
    try {
      fs.fsyncSync(stream.nfd);
    } catch {
      throw new mod.FS.ErrnoError(EMSCRIPTEN_EIO);
    }
  };
}
