/**
 * Bearer JWTs issued by a tenant's own identity provider. A tenant registers an issuer with its
 * JWKS (inline public keys or a URL); a token is verified with jose against exactly the keys of
 * the issuer it names, its tenant claim must name that tenant, and its roles, team and user
 * claims become the principal. Nothing here trusts a claim before the signature is checked.
 */
import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeJwt, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { OutboundGuard } from '../providers/types.js';
import type { JwtClaimNames, JwtIssuer, Scope } from '../tenancy/types.js';
import { guardedJwksFetch } from './jwks-fetch.js';

export const DEFAULT_CLAIMS: JwtClaimNames = { tenant: 'tenant', roles: 'roles', team: 'team', user: 'sub' };

/** Asymmetric algorithms only: a shared secret would have to live in the gateway's store. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** Data-plane scopes of each tenant role a token may carry (DESIGN §3). */
const ROLE_SCOPES: Record<string, readonly Scope[]> = {
  tenant_admin: ['inference', 'models:read'],
  tenant_developer: ['inference', 'models:read'],
  tenant_viewer: ['models:read'],
};

export interface TrustedIssuer extends JwtIssuer {
  readonly keys: JWTVerifyGetKey;
}

/**
 * The issuer with its keys. A remote JWKS is fetched by jose (5 s timeout, no redirects, cached
 * 10 minutes, refetched at most every 30 s for an unknown kid); with `guard`, through the
 * connect-time outbound rules (jwks-fetch.ts), as for every address a tenant sets. The caller
 * decides: the snapshot guards the registrations a tenant made (owner 'tenant').
 */
export function trustIssuer(issuer: JwtIssuer, guard?: OutboundGuard): TrustedIssuer {
  const keys =
    issuer.jwks !== null
      ? createLocalJWKSet(issuer.jwks as Parameters<typeof createLocalJWKSet>[0])
      : createRemoteJWKSet(new URL(issuer.jwksUrl ?? ''), {
          timeoutDuration: 5000,
          cooldownDuration: 30_000,
          ...(guard === undefined ? {} : { [customFetch]: guardedJwksFetch(guard) }),
        });
  return { ...issuer, keys };
}

/** Three base64url segments, the first a JSON header: cheap to tell from an API key. */
export function looksLikeJwt(credential: string): boolean {
  return credential.startsWith('eyJ') && credential.split('.').length === 3;
}

/**
 * The `iss` a token claims, unverified: only to name the tenant whose issuer a failed token
 * claims to come from (its audit log), never to trust anything.
 */
export function claimedIssuer(token: string): string | undefined {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

export type JwtOutcome =
  | { ok: true; issuer: TrustedIssuer; subject: string; roles: string[]; team: string | null; scopes: Scope[] }
  | { ok: false; reason: 'malformed' | 'unknown_issuer' | 'invalid' | 'expired' | 'wrong_tenant' | 'no_role' };

function stringClaim(payload: JWTPayload, name: string): string | undefined {
  const v = payload[name];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function rolesClaim(payload: JWTPayload, name: string): string[] {
  const v = payload[name];
  if (typeof v === 'string') return v.split(/[\s,]+/).filter(Boolean);
  return Array.isArray(v) ? v.filter((r): r is string => typeof r === 'string') : [];
}

function scopesOf(roles: readonly string[]): Scope[] {
  const out = new Set<Scope>();
  for (const role of roles) for (const scope of ROLE_SCOPES[role] ?? []) out.add(scope);
  return [...out];
}

/** A token whose signature, issuer, audience, expiry and tenant claim were verified. */
export type VerifiedJwt =
  | { ok: true; issuer: TrustedIssuer; payload: JWTPayload; roles: string[] }
  | { ok: false; reason: 'malformed' | 'unknown_issuer' | 'invalid' | 'expired' | 'wrong_tenant' };

/**
 * Verifies `token` against the issuers registered under its `iss`. `tenantMatches` says whether
 * a tenant claim value names the issuer's tenant (slug or id); null means the issuers belong to
 * no tenant (the platform's own identity provider) and no tenant claim is read.
 */
export async function verifyJwt(
  token: string,
  issuersByIss: ReadonlyMap<string, readonly TrustedIssuer[]>,
  tenantMatches: ((issuer: TrustedIssuer, claimed: string) => boolean) | null,
): Promise<VerifiedJwt> {
  let iss: string | undefined;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const candidates = iss === undefined ? undefined : issuersByIss.get(iss);
  if (candidates === undefined || candidates.length === 0) return { ok: false, reason: 'unknown_issuer' };
  let last: VerifiedJwt = { ok: false, reason: 'invalid' };
  // Several tenants may trust one IdP (one issuer, a tenant claim per token).
  for (const issuer of candidates) {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, issuer.keys, {
        issuer: issuer.issuer,
        ...(issuer.audience === null ? {} : { audience: issuer.audience }),
        algorithms: ALGORITHMS,
        clockTolerance: 30,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      // Expired means the signature held under this issuer's keys: that says more than another
      // registration's keys not verifying it (another tenant may register the same iss).
      if (code === 'ERR_JWT_EXPIRED') last = { ok: false, reason: 'expired' };
      continue;
    }
    if (tenantMatches !== null) {
      const claimed = stringClaim(payload, issuer.claims.tenant);
      if (claimed === undefined || !tenantMatches(issuer, claimed)) {
        if (last.reason !== 'expired') last = { ok: false, reason: 'wrong_tenant' };
        continue;
      }
    }
    return { ok: true, issuer, payload, roles: rolesClaim(payload, issuer.claims.roles) };
  }
  return last;
}

/** The token's subject under the issuer's user claim. */
export function jwtSubject(issuer: TrustedIssuer, payload: JWTPayload): string {
  return stringClaim(payload, issuer.claims.user) ?? 'unknown';
}

/** A data-plane token: verified, and carrying a role with data-plane scopes. */
export async function verifyTenantJwt(
  token: string,
  issuersByIss: ReadonlyMap<string, readonly TrustedIssuer[]>,
  tenantMatches: (issuer: TrustedIssuer, claimed: string) => boolean,
): Promise<JwtOutcome> {
  const verified = await verifyJwt(token, issuersByIss, tenantMatches);
  if (!verified.ok) return verified;
  const { issuer, payload, roles } = verified;
  const scopes = scopesOf(roles);
  if (scopes.length === 0) return { ok: false, reason: 'no_role' };
  return {
    ok: true,
    issuer,
    subject: jwtSubject(issuer, payload),
    roles,
    team: stringClaim(payload, issuer.claims.team) ?? null,
    scopes,
  };
}
