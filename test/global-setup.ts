/**
 * Runs once before any test file (vitest.config.ts globalSetup).
 *
 * bin/gatehouse.js compiles the sources into dist/ when the build is missing or older than them.
 * Several test files run `gatehouse` as a child process, and with files running in parallel two
 * of them could both find the build stale and compile at once, one process loading dist/ while
 * another rewrites it. So the first such start happens here, alone: `gatehouse --version` goes
 * through the same check (and the same compilation) as every later start, which then finds the
 * build current.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  const bin = join(import.meta.dirname, '..', 'bin', 'gatehouse.js');
  const started = Date.now();
  const r = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
  if (r.status !== 0) {
    // The tests that run the CLI fail with the reason; the others need no build.
    console.warn(`\n  NOTICE: gatehouse --version failed (exit ${String(r.status)}): ${r.stderr.trim()}\n`);
  } else if (r.stderr.includes('compiling')) {
    console.log(`  built dist/ for the CLI tests in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}
