import type { Migration } from './types.js';

/**
 * PLACEHOLDER, not a schema change: migration ids must be consecutive (migrate.ts) 0011 belongs
 * to the metering branch, developed at the same time as 0012. When merging, drop this file and
 * its line in index.ts in favour of the real 0011.
 */
export const migration0011: Migration = { id: 11, name: 'placeholder', sql: 'SELECT 1;' };
