/** The gateway process caps V8's old-generation growth (src/cli/heap.ts), unless the operator set it. */
import { describe, expect, it } from 'vitest';
import { HEAP_GROWING_PERCENT, limitHeapGrowth } from '../../../src/cli/heap.js';

describe('limitHeapGrowth', () => {
  it('sets --heap-growing-percent', () => {
    const set: string[] = [];
    expect(limitHeapGrowth({ execArgv: ['--enable-source-maps'], setFlags: (f) => set.push(f) })).toBe(true);
    expect(set).toEqual([`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]);
  });

  it("leaves an operator's own setting on the node command line alone, in either spelling", () => {
    for (const given of ['--heap-growing-percent=80', '--heap_growing_percent=80']) {
      const set: string[] = [];
      expect(limitHeapGrowth({ execArgv: [given], setFlags: (f) => set.push(f) })).toBe(false);
      expect(set).toEqual([]);
    }
  });
});
