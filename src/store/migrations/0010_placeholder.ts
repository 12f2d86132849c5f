import type { Migration } from './types.js';

/**
 * PLACEHOLDER, not a schema change: migration ids must be consecutive (migrate.ts) and 0010 belongs
 * to the metering branch, developed at the same time as 0012. When merging, drop this file and
 * its line in index.ts in favour of the real 0010.
 */
export const migration0010: Migration = { id: 10, name: 'placeholder', sql: 'SELECT 1;' };
