import type { Migration } from './types.js';

/**
 * The data plane enforces API-key IP allow-lists (0003 added `api_keys.allowed_cidrs`): the
 * start-up snapshot reads them through the platform role. Network ranges are access metadata,
 * not secrets or content.
 */
const sql = /* sql */ `
GRANT SELECT (allowed_cidrs) ON api_keys TO gatehouse_platform;
`;

export const migration0007: Migration = { id: 7, name: 'key_cidrs', sql };
