import type { Migration } from './types.js';

/**
 * Purging a deleted tenant's rows once its data keys are shredded (src/tenancy/purge.ts,
 * DESIGN §13 "Tenant purge").
 *
 * tenant_keyrings.purged_at: when the purge removed the tenant's rows. The keyring row already
 * records the deletion's schedule (shred_requested_at, shred_after) and its first step
 * (shredded_at); it is one of the rows the purge keeps, so the whole history of a deletion stays
 * in one place. A purge comes after shredding, never before (CHECK).
 *
 * The tenant role gets no grant on the column: only the owner's purge job sets it. The platform
 * role reads it (metadata), as it reads the other schedule columns, for fleet views.
 */
const sql = /* sql */ `
ALTER TABLE tenant_keyrings
  ADD COLUMN purged_at timestamptz,
  ADD CONSTRAINT tenant_keyrings_purged_after_shredded CHECK (purged_at IS NULL OR shredded_at IS NOT NULL);

GRANT SELECT (purged_at) ON tenant_keyrings TO gatehouse_platform;
`;

export const migration0016: Migration = { id: 16, name: 'tenant_purge', sql };
