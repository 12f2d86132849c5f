import type { Migration } from './types.js';

/**
 * Proof of domain ownership. A custom domain identifies its tenant from the Host header, so a
 * claim made through the admin API must be proven before it routes anything: the tenant
 * publishes the claim's challenge in a DNS TXT record and asks for verification
 * (src/admin/services/domains.ts). Until then the row is a pending claim.
 *
 * - Only verified claims are unique, globally: a pending claim squats nothing, so nobody can
 *   block the real owner by claiming its name first, and adding a claim reveals nothing about
 *   other tenants. Verifying a name another tenant verified first violates the index (409).
 * - Claims that existed before this migration were accepted without proof under the rules of
 *   their time (operator configuration, or admins trusted then); they stay verified.
 * - The platform role reads verified_at (the snapshot routes verified domains only), never the
 *   challenge.
 */
const sql = /* sql */ `
ALTER TABLE tenant_domains
  ADD COLUMN verified_at timestamptz,
  ADD COLUMN challenge text CHECK (challenge IS NULL OR challenge ~ '^[A-Za-z0-9_-]{22,128}$'),
  ADD CONSTRAINT tenant_domains_pending_has_challenge CHECK (verified_at IS NOT NULL OR challenge IS NOT NULL);
UPDATE tenant_domains SET verified_at = created_at;

DROP INDEX tenant_domains_domain_key;
CREATE UNIQUE INDEX tenant_domains_domain_key ON tenant_domains (domain) WHERE verified_at IS NOT NULL;

GRANT SELECT (verified_at) ON tenant_domains TO gatehouse_platform;
`;

export const migration0010: Migration = { id: 10, name: 'domain_verification', sql };
