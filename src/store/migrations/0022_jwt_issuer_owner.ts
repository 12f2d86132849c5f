import type { Migration } from './types.js';

/**
 * Who registered an identity provider (DESIGN §13 "JWKS fetches of registered issuers"), in the
 * words of limit_rules.owner (0020):
 *
 * - 'platform': declared in the operator's configuration (`tenants[].jwt`, written by every
 *   start). Its JWKS URL is the operator's, like a deployment in the file, and is fetched without
 *   the outbound address rules: an internal IdP keeps working with no `security.outbound` change.
 * - 'tenant': registered by a tenant admin through the admin API. Its JWKS URL is a tenant-set
 *   address, fetched through the connect-time guard of src/routing/ssrf.ts (DNS rebinding, a
 *   name that turned private after it was saved).
 *
 * Existing rows become 'tenant' (guarded): one start of this version marks the configuration's
 * issuers 'platform' again before it serves, and a registration the file no longer declares is
 * no longer the operator's. The platform role reads it: the snapshot decides from it.
 */
const sql = /* sql */ `
ALTER TABLE tenant_jwt_issuers
  ADD COLUMN owner text NOT NULL DEFAULT 'tenant' CONSTRAINT tenant_jwt_issuers_owner_known CHECK (owner IN ('tenant', 'platform'));

GRANT SELECT (owner) ON tenant_jwt_issuers TO gatehouse_platform;
`;

export const migration0022: Migration = { id: 22, name: 'jwt_issuer_owner', sql };
