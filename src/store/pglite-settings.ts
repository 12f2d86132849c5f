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
import { PGlite } from '@electric-sql/pglite';

export const EMBEDDED_SHARED_BUFFERS = '32MB';

/** PGlite's own start parameters (single-user mode, no parallel workers, ...) plus ours. */
export function embeddedStartParams(): string[] {
  return [...PGlite.defaultStartParams, '-c', `shared_buffers=${EMBEDDED_SHARED_BUFFERS}`];
}
