import type { Migration } from './types.js';

/**
 * PLACEHOLDER, not a schema change: migration ids must be consecutive (migrate.ts) and 0017 is
 * reserved for another branch developed at the same time as 0022 (request logs). When merging,
 * drop this file and its line in index.ts in favour of the real 0017.
 */
export const migration0017: Migration = { id: 17, name: 'placeholder', sql: 'SELECT 1;' };
