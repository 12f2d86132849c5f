/**
 * PostgreSQL settings of the embedded store (PGlite), given at every start (initdb's
 * postgresql.conf is left as it is).
 *
 * shared_buffers: PGlite's default is PostgreSQL's 128 MB, and all of it is resident from the
 * first query on (PostgreSQL writes its whole shared memory at start-up, and the WebAssembly
 * memory it lives in never shrinks). For the embedded store that is a second copy of what the
 * kernel's page cache already holds: PGlite reads and writes the data directory's files through
 * the file system, and the page cache, unlike the WebAssembly heap, is given back under memory
 * pressure. Measured on a gateway data directory (bench/README.md "Resident memory"): 128 MB →
 * 32 MB took ~130 MB off the resident set (the heap no longer grows past its initial 128 MB at
 * start) and did not change the ingest's CPU per event (35–40 µs at 400,000 events, batches of
 * 5,000); 16 MB saved 16 MB more but re-read the unique index from the page cache (6× the
 * reads at 400,000 events), since random event ids make its whole index the working set.
 * wal_buffers follows (1/32 of it, 1 MB).
 */
import { PGlite } from '@electric-sql/pglite';

export const EMBEDDED_SHARED_BUFFERS = '32MB';

/** PGlite's own start parameters (single-user mode, no parallel workers, ...) plus ours. */
export function embeddedStartParams(): string[] {
  return [...PGlite.defaultStartParams, '-c', `shared_buffers=${EMBEDDED_SHARED_BUFFERS}`];
}
