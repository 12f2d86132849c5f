/**
 * Stage 2: verify the credential, then settle the tenant. An API key is checked by keyed hash in
 * constant time; a bearer JWT against the keys of a tenant's registered issuer. The credential's
 * tenant must agree with every claim identify collected. A claim naming another tenant or no
 * tenant at all gets the same answer, so the response never tells whether a tenant exists.
 */
import { keyPrefix, verifyApiKey } from '../crypto/keys.js';
import { GatewayError } from '../errors.js';
import { looksLikeJwt, verifyTenantJwt, type JwtOutcome } from '../identity/jwt.js';
import { addressAllowed, type Registry, type Snapshot } from '../tenancy/snapshot.js';
import type { ApiKeyRecord, Principal, Tenant } from '../tenancy/types.js';
import type { RequestContext, Stage } from './context.js';

export interface AuthenticateOptions {
  registry: Registry;
  /** Server secret keying the API-key hashes. */
  pepper: Buffer;
  /**
   * Peppers of previous master keys (GATEHOUSE_MASTER_KEY_PREVIOUS): during a master-key
   * rotation, keys hashed under the old pepper keep working. Tried only after the current one
   * fails, so a rotation costs nothing for keys already under the current pepper.
   */
  previousPeppers?: readonly Buffer[];
  now?: () => number;
  /** Called with each authenticated key, for the asynchronous last-used time. */
  onKeyUsed?: (keyId: string, tenantId: string) => void;
}

/**
 * Keys already verified against a snapshot, so a client's every request does not pay for an
 * HMAC (~5-10 µs on Node 20, the largest single cost of this stage in the benchmark profile).
 * Scoped to one snapshot: a revocation or any other change starts from an empty cache. Only
 * successes are cached, so guessing is no cheaper; bounded, and cleared when full. It holds
 * credentials in process memory, as the request headers already do while a request runs.
 */
const VERIFIED_LIMIT = 10_000;
const verifiedBySnapshot = new WeakMap<Snapshot, Map<string, ApiKeyRecord>>();

function verifiedKeys(snapshot: Snapshot): Map<string, ApiKeyRecord> {
  let verified = verifiedBySnapshot.get(snapshot);
  if (verified === undefined) {
    verified = new Map();
    verifiedBySnapshot.set(snapshot, verified);
  }
  return verified;
}

function findKey(candidates: readonly ApiKeyRecord[] | undefined, credential: string, pepper: Buffer) {
  if (candidates === undefined) return undefined;
  for (const record of candidates) {
    if (verifyApiKey(credential, record.hash, pepper)) return record;
  }
  return undefined;
}

const JWT_ERRORS: Record<Exclude<JwtOutcome, { ok: true }>['reason'], GatewayError> = {
  malformed: new GatewayError('invalid_api_key', 'The bearer token is not a valid JWT.'),
  unknown_issuer: new GatewayError('invalid_api_key', 'The bearer token was not issued by a trusted identity provider.'),
  invalid: new GatewayError('invalid_api_key', 'The bearer token failed verification.'),
  expired: new GatewayError('expired_api_key', 'The bearer token has expired.'),
  wrong_tenant: new GatewayError('invalid_api_key', 'The bearer token does not name a tenant that trusts its issuer.'),
  no_role: new GatewayError('insufficient_scope', 'The bearer token carries no role that may use the API.'),
};

/** The credential's tenant against the request's other claims, and the tenant's status. */
function settleTenant(ctx: RequestContext, tenant: Tenant, principal: Principal): void {
  for (const claim of ctx.claims ?? []) {
    if (claim.tenantId !== tenant.id) {
      throw new GatewayError(
        'tenant_mismatch',
        `The API key does not belong to the tenant named by the request ${claim.source}.`,
      );
    }
  }
  if (tenant.status !== 'active') throw new GatewayError('tenant_suspended', 'This tenant is suspended.');
  ctx.tenant = tenant;
  ctx.principal = principal;
}

async function authenticateJwt(ctx: RequestContext, token: string, snapshot: Snapshot): Promise<void> {
  const outcome = await verifyTenantJwt(token, snapshot.issuersByIss, (issuer, claimed) => {
    const tenant = snapshot.tenantsById.get(issuer.tenantId);
    return tenant !== undefined && (claimed === tenant.slug || claimed === tenant.id);
  });
  if (!outcome.ok) throw JWT_ERRORS[outcome.reason];
  const tenant = snapshot.tenantsById.get(outcome.issuer.tenantId);
  if (tenant === undefined) throw JWT_ERRORS.wrong_tenant;
  settleTenant(ctx, tenant, {
    kind: 'jwt',
    keyId: `jwt:${outcome.issuer.issuer}#${outcome.subject}`,
    tenantId: tenant.id,
    teamId: null,
    subject: outcome.subject,
    roles: outcome.roles,
    scopes: outcome.scopes,
    allowedModels: null,
  });
}

export function authenticate(opts: AuthenticateOptions): Stage {
  const now = opts.now ?? Date.now;
  const previous = opts.previousPeppers ?? [];
  return function authenticateStage(ctx: RequestContext): void | Promise<void> {
    const credential = ctx.credential;
    if (credential === undefined) {
      throw new GatewayError(
        'missing_api_key',
        'You didn\'t provide an API key. Send it as "Authorization: Bearer <api key>".',
      );
    }
    const snapshot = opts.registry.current;
    if (looksLikeJwt(credential) && snapshot.issuersByIss.size > 0) return authenticateJwt(ctx, credential, snapshot);

    const verified = verifiedKeys(snapshot);
    let record = verified.get(credential);
    if (record === undefined) {
      const candidates = snapshot.keysByPrefix.get(keyPrefix(credential));
      record = findKey(candidates, credential, opts.pepper);
      for (const old of previous) {
        if (record !== undefined) break;
        record = findKey(candidates, credential, old);
      }
      if (record === undefined) throw new GatewayError('invalid_api_key', 'Incorrect API key provided.');
      if (verified.size >= VERIFIED_LIMIT) verified.clear();
      verified.set(credential, record);
    }
    if (record.expiresAt !== null && record.expiresAt <= now()) {
      throw new GatewayError('expired_api_key', 'The API key has expired.');
    }
    // The TCP peer: behind a load balancer that is the balancer (a trusted-proxy setting for
    // X-Forwarded-For is not there yet).
    const cidrs = snapshot.cidrsByKey.get(record.id);
    if (cidrs !== undefined && !addressAllowed(cidrs, ctx.remoteAddress)) {
      throw new GatewayError('ip_not_allowed', 'This API key may not be used from this address.');
    }
    const tenant = snapshot.tenantsById.get(record.tenantId);
    if (tenant === undefined) throw new GatewayError('invalid_api_key', 'Incorrect API key provided.');
    settleTenant(ctx, tenant, {
      kind: 'api_key',
      keyId: record.id,
      tenantId: tenant.id,
      teamId: record.teamId,
      scopes: record.scopes,
      allowedModels: record.allowedModels,
    });
    opts.onKeyUsed?.(record.id, tenant.id);
  };
}
