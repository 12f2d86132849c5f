/**
 * Admin sign-in with bearer JWTs (DESIGN §3): tenant staff with a token from an issuer their
 * tenant registered, the operator's staff with a token from the platform issuer
 * (`admin.jwt` in the configuration). The token's roles claim names Gatehouse roles; the most
 * capable admin role it carries becomes the principal's role, so a token never gains a role its
 * identity provider did not grant.
 *
 * Tenant issuers come from the data plane's snapshot (the same registrations verify data-plane
 * tokens), so a change reaches every replica through the snapshot's NOTIFY refresh.
 */
import { PLATFORM_SCOPE_ID, type PlatformRole, type TenantRole } from './roles.js';
import type { AdminPrincipal } from './admin-principal.js';
import { jwtSubject, verifyJwt, type TrustedIssuer } from './jwt.js';

/** Most capable first: the first of these a token carries is its admin role. */
const TENANT_PRECEDENCE: readonly TenantRole[] = ['tenant_admin', 'tenant_developer', 'tenant_billing', 'tenant_auditor', 'tenant_viewer'];
const PLATFORM_PRECEDENCE: readonly PlatformRole[] = ['platform_admin', 'platform_billing', 'platform_auditor'];

export interface AdminJwtSources {
  /** The tenant issuers of the current snapshot, by `iss`. */
  tenantIssuers(): ReadonlyMap<string, readonly TrustedIssuer[]>;
  /** The slug of the tenant `claimed` (slug or id) names, when it is `issuer`'s own tenant. */
  tenantSlug(issuer: TrustedIssuer, claimed: string): string | undefined;
  /** The platform's identity provider, by `iss` (at most one); empty when none is configured. */
  platformIssuers: ReadonlyMap<string, readonly TrustedIssuer[]>;
  /** Whether the tenant is marked for deletion (its staff may no longer sign in). */
  isDeleting(tenantId: string): Promise<boolean>;
}

export type AdminJwtFailureReason = 'jwt_malformed' | 'jwt_unknown_issuer' | 'jwt_invalid' | 'jwt_expired' | 'jwt_wrong_tenant' | 'jwt_no_role' | 'tenant_deleting';

export type AdminJwtOutcome =
  | { ok: true; principal: AdminPrincipal }
  /**
   * `scopeId`: the tenant whose identity provider signed the token, only when the signature held
   * (an unverified `iss` must not let anyone write into a tenant's audit log).
   */
  | { ok: false; reason: AdminJwtFailureReason; scopeId: string | null; client: 'invalid' | 'expired' };

function pick<R extends string>(roles: readonly string[], precedence: readonly R[]): R | undefined {
  return precedence.find((r) => roles.includes(r));
}

export async function authenticateAdminJwt(token: string, sources: AdminJwtSources): Promise<AdminJwtOutcome> {
  const fail = (reason: AdminJwtFailureReason, scopeId: string | null = null, client: 'invalid' | 'expired' = 'invalid'): AdminJwtOutcome => ({
    ok: false,
    reason,
    scopeId,
    client,
  });

  if (sources.platformIssuers.size > 0) {
    const platform = await verifyJwt(token, sources.platformIssuers, null);
    if (platform.ok) {
      const role = pick(platform.roles, PLATFORM_PRECEDENCE);
      if (role === undefined) return fail('jwt_no_role', PLATFORM_SCOPE_ID);
      const subject = jwtSubject(platform.issuer, platform.payload);
      return {
        ok: true,
        principal: { scope: 'platform', role, id: `jwt:platform:${subject.replaceAll('%', '%25').replaceAll('#', '%23')}`, label: `${subject} (platform sign-in)`, kind: 'jwt', keyId: null },
      };
    }
    if (platform.reason !== 'unknown_issuer') return failure(platform.reason);
  }

  const verified = await verifyJwt(token, sources.tenantIssuers(), (issuer, claimed) => sources.tenantSlug(issuer, claimed) !== undefined);
  if (!verified.ok) return failure(verified.reason);
  const { issuer, payload } = verified;
  const tenantId = issuer.tenantId;
  const slug = sources.tenantSlug(issuer, issuer.tenantId);
  const role = pick(verified.roles, TENANT_PRECEDENCE);
  if (role === undefined || slug === undefined) return fail('jwt_no_role', tenantId);
  if (await sources.isDeleting(tenantId)) return fail('tenant_deleting', tenantId);
  const subject = jwtSubject(issuer, payload);
  // A principal id names who acted (audit actor, created_by) and owns Idempotency-Key records.
  // A tenant's subjects are its provider's word, so they are qualified by the issuer, as on the
  // data plane (`jwt:<iss>#<sub>`): a tenant's token can then never carry the id of another of
  // its providers' users, nor a platform principal's (`jwt:platform:<sub>`, '#' escaped there).
  return {
    ok: true,
    principal: { scope: 'tenant', role, tenantId, tenantSlug: slug, id: `jwt:${issuer.issuer}#${subject}`, label: `${subject} (${issuer.issuer})`, kind: 'jwt', keyId: null },
  };

  /**
   * No scope: these tokens either failed verification or (wrong_tenant) were signed by an issuer
   * several tenants share without naming one of them, so no tenant's log is theirs to write to.
   */
  function failure(reason: 'malformed' | 'unknown_issuer' | 'invalid' | 'expired' | 'wrong_tenant'): AdminJwtOutcome {
    return fail(`jwt_${reason}`, null, reason === 'expired' ? 'expired' : 'invalid');
  }
}
