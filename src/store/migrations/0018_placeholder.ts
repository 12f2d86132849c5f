import type { Migration } from './types.js';

/**
 * PLACEHOLDER, not a schema change: migration ids must be consecutive (migrate.ts) and 0018 is
 * reserved for another branch developed at the same time as 0022 (request logs). When merging,
 * drop this file and its line in index.ts in favour of the real 0018.
 */
export const migration0018: Migration = { id: 18, name: 'placeholder', sql: 'SELECT 1;' };
