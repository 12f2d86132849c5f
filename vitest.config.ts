import { defineConfig } from 'vitest/config';
import LongestFirstSequencer from './test/sequencer.js';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Most files wait on I/O (gateways, PostgreSQL, Redis, child processes, timers), so more files
    // than CPUs run at once; vitest's default is one worker fewer than CPUs (1 on a 2-CPU machine).
    maxWorkers: 4,
    // A worker process runs file after file in one module graph instead of starting a process and
    // importing the sources (PGlite, tokenizers, ...) again for every file: ~40% less CPU.
    isolate: false,
    globalSetup: ['test/global-setup.ts'],
    sequence: { sequencer: LongestFirstSequencer },
  },
});
