/**
 * How far V8 lets the old generation grow past what the last full collection left alive, for a
 * gateway process. V8 picks a factor of its own (up to 4× on a machine with a lot of memory)
 * from how fast it collects; with 10,000 tenants and 100,000 keys the snapshot and the rest
 * leave ~105 MB alive, and the old generation then sat 50–150 MB above that between
 * collections: 290–345 MB resident (DESIGN §9 asks ≤ 300). At 1.5× it stays at 243–286 MB
 * (bench/README.md, "Snapshot memory"); the cost is more frequent full collections, which the
 * request path barely sees: none ran in 15 s of `GET /v1/models` load either way, and CPU per
 * request was unchanged within the noise.
 *
 * Set at run time (V8 reads it at every collection), so every way of starting the gateway gets
 * it: `npm start`, `gatehouse start`, `dist/src/cli/run.js`. An operator's own
 * `--heap-growing-percent` on the node command line wins.
 */
import v8 from 'node:v8';

export const HEAP_GROWING_PERCENT = 50;

export interface HeapGrowthOptions {
  execArgv?: readonly string[];
  setFlags?: (flags: string) => void;
}

/** Applies the cap unless the node command line sets one; true when it did. */
export function limitHeapGrowth(opts: HeapGrowthOptions = {}): boolean {
  const execArgv = opts.execArgv ?? process.execArgv;
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return false;
  (opts.setFlags ?? v8.setFlagsFromString)(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
