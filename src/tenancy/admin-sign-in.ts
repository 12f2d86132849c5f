/**
 * Where admin sign-in with JWTs finds its issuers (src/identity/admin-jwt.ts): tenant issuers
 * from the live snapshot, the platform issuer from the configuration, and whether a tenant is
 * being deleted from the store (its staff then sign in no more, as with admin keys).
 */
import type { AdminJwtSources } from '../identity/admin-jwt.js';
import { DEFAULT_CLAIMS, trustIssuer, type TrustedIssuer } from '../identity/jwt.js';
import { PLATFORM_SCOPE_ID } from '../identity/roles.js';
import type { JwtIssuerConfig } from '../config/schema.js';
import { tenantsManageRepo, type Store } from '../store/index.js';
import type { Registry } from './snapshot.js';

export function adminJwtSources(registry: Registry, store: Store, platform: JwtIssuerConfig | undefined): AdminJwtSources {
  const platformIssuers = new Map<string, TrustedIssuer[]>();
  if (platform !== undefined) {
    platformIssuers.set(platform.issuer, [
      trustIssuer({
        tenantId: PLATFORM_SCOPE_ID,
        issuer: platform.issuer,
        audience: platform.audience ?? null,
        jwks: platform.jwks ?? null,
        jwksUrl: platform.jwksUrl ?? null,
        claims: { ...DEFAULT_CLAIMS, ...platform.claims },
        owner: 'platform',
      }),
    ]);
  }
  return {
    tenantIssuers: () => registry.current.issuersByIss,
    tenantSlug(issuer, claimed) {
      const tenant = registry.current.tenantsById.get(issuer.tenantId);
      return tenant !== undefined && (claimed === tenant.slug || claimed === tenant.id) ? tenant.slug : undefined;
    },
    platformIssuers,
    async isDeleting(tenantId) {
      const tenant = await store.withTenant(tenantId, (tx) => tenantsManageRepo.get(tx));
      return tenant === null || tenant.deletionRequestedAt !== null;
    },
  };
}
