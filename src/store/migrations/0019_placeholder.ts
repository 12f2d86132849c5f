import type { Migration } from './types.js';

/**
 * PLACEHOLDER, not a schema change: migration ids must be consecutive (migrate.ts) and 0019 is
 * reserved for another branch developed at the same time as 0022 (request logs). When merging,
 * drop this file and its line in index.ts in favour of the real 0019.
 */
export const migration0019: Migration = { id: 19, name: 'placeholder', sql: 'SELECT 1;' };
