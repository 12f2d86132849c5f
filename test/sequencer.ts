/**
 * The order test files are handed to the workers (vitest.config.ts `sequence.sequencer`).
 *
 * With files running in parallel, a long file that starts last is the whole run's tail. Vitest
 * puts the files that took longest first, but only from its cache of earlier runs, which a fresh
 * clone (CI) does not have: there it goes by file size, and the longest files are not the
 * largest (the embedded-store suites are a few lines each). So these files, the longest ones as
 * measured (each 15 s or more with the suite running in parallel), start first, longest first;
 * the rest follow in vitest's own order. A file missing from the list only starts later.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const LONGEST_FIRST = [
  'test/e2e/audit-heads-cli.test.ts',
  'test/e2e/lifecycle.test.ts',
  'test/integration/admin/limits.test.ts',
  'test/integration/admin/cli.test.ts',
  'test/integration/store/embedded-memory.test.ts',
  'test/e2e/metering-durability.test.ts',
  'test/e2e/keys-cli.test.ts',
  'test/integration/admin/matrix.test.ts',
  'test/integration/admin/audit.test.ts',
  'test/e2e/billing-cli.test.ts',
  'test/integration/store/pglite-worker.test.ts',
  'test/integration/store/pglite.test.ts',
  'test/integration/store/postgres.test.ts',
  'test/e2e/audit-cli.test.ts',
  'test/integration/store/embedded.test.ts',
  'test/integration/admin/storage-quota.test.ts',
  'test/e2e/start-failure.test.ts',
  'test/e2e/anthropic-sdk.test.ts',
];

export default class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (spec: TestSpecification): number => {
      const i = LONGEST_FIRST.indexOf(relative(spec.project.config.root, spec.moduleId).split('\\').join('/'));
      return i === -1 ? LONGEST_FIRST.length : i;
    };
    const group = (spec: TestSpecification): number => spec.project.config.sequence.groupOrder ?? 0;
    return sorted
      .map((spec, i) => ({ spec, i, group: group(spec), rank: rank(spec) }))
      .sort((a, b) => a.group - b.group || a.rank - b.rank || a.i - b.i)
      .map((x) => x.spec);
  }
}
