/**
 * Stage 2: verify the credential, then settle the tenant. An API key is checked by keyed hash in
 * constant time; a bearer JWT against the keys of a tenant's registered issuer. The credential's
 * tenant must agree with every claim identify collected. A claim naming another tenant or no
 * tenant at all gets the same answer, so the response never tells whether a tenant exists.
 */
import type { AuthFailure, AuthFailureHook, AuthFailureReason } from '../audit/auth-failures.js';
import { hashApiKey, keyPrefix, verifyApiKey } from '../crypto/keys.js';
import { GatewayError } from '../errors.js';
import { claimedIssuer, looksLikeJwt, verifyTenantJwt, type JwtOutcome } from '../identity/jwt.js';
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
  /**
   * Called when a key matched a previous master key's pepper, with its stored hash and its hash
   * under the current pepper (never the key): the key is moved onto the current pepper off the
   * request path (src/tenancy/key-rehash.ts). Once per key and snapshot (verified keys are cached).
   */
  onStaleHash?: (tenantId: string, keyId: string, from: Buffer, to: Buffer) => void;
  /** Called with each authenticated key, for the asynchronous last-used time. */
  onKeyUsed?: (keyId: string, tenantId: string) => void;
  /**
   * Called with each refused credential that belongs to a known tenant (its audit log). Only on
   * the failure path: successful requests never reach it. Must return at once (it queues).
   */
  onAuthFailure?: AuthFailureHook;
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

/**
 * The credential's tenant against the request's other claims, and the tenant's status: why it
 * may not serve this request (another tenant claimed, or suspended), or undefined.
 */
function tenantProblem(ctx: RequestContext, tenant: Tenant): { error: GatewayError; reason: AuthFailureReason } | undefined {
  for (const claim of ctx.claims ?? []) {
    if (claim.tenantId !== tenant.id) {
      return {
        reason: 'tenant_mismatch',
        error: new GatewayError('tenant_mismatch', `The API key does not belong to the tenant named by the request ${claim.source}.`),
      };
    }
  }
  if (tenant.status !== 'active') return { reason: 'tenant_suspended', error: new GatewayError('tenant_suspended', 'This tenant is suspended.') };
  return undefined;
}

type FailureCredential = Pick<AuthFailure, 'tenantId' | 'credential' | 'keyId' | 'keyPrefix'>;

/** Reports a failure to the hook, if any; the hook queues and never throws into the request. */
function report(hook: AuthFailureHook | undefined, ctx: RequestContext, who: FailureCredential, reason: AuthFailureReason): void {
  hook?.({ ...who, reason, requestId: ctx.requestId, sourceIp: ctx.remoteAddress });
}

/**
 * Whose key a refused credential claims to be, for the audit log (failure path only): a match
 * with a recently revoked key, else the owner of the presented prefix. Nothing when the prefix
 * is unknown or shared by keys of several tenants: then the tenant cannot be named.
 */
function attributeUnknownKey(
  snapshot: Snapshot,
  credential: string,
  peppers: readonly Buffer[],
): { who: FailureCredential; reason: AuthFailureReason } | undefined {
  const prefix = keyPrefix(credential);
  const revoked = snapshot.revokedByPrefix.get(prefix) ?? [];
  for (const pepper of peppers) {
    const match = findKey(revoked, credential, pepper);
    if (match !== undefined) {
      return { reason: 'revoked', who: { tenantId: match.tenantId, credential: 'api_key', keyId: match.id, keyPrefix: prefix } };
    }
  }
  const owners = [...(snapshot.keysByPrefix.get(prefix) ?? []), ...revoked];
  const first = owners[0];
  if (first === undefined || owners.some((k) => k.tenantId !== first.tenantId)) return undefined;
  return {
    reason: 'wrong_secret',
    who: { tenantId: first.tenantId, credential: 'api_key', keyId: owners.length === 1 ? first.id : null, keyPrefix: prefix },
  };
}

/** The one tenant that registered the issuer a refused token claims, if exactly one did. */
function attributeJwt(snapshot: Snapshot, token: string): FailureCredential | undefined {
  const iss = claimedIssuer(token);
  const registrations = iss === undefined ? undefined : snapshot.issuersByIss.get(iss);
  const first = registrations?.[0];
  if (first === undefined || registrations?.some((r) => r.tenantId !== first.tenantId)) return undefined;
  return { tenantId: first.tenantId, credential: 'jwt', keyId: `jwt:${first.issuer}`, keyPrefix: null };
}

const JWT_REASONS: Partial<Record<Exclude<JwtOutcome, { ok: true }>['reason'], AuthFailureReason>> = {
  invalid: 'jwt_invalid',
  expired: 'jwt_expired',
  wrong_tenant: 'jwt_wrong_tenant',
  no_role: 'jwt_no_role',
};

async function authenticateJwt(ctx: RequestContext, token: string, snapshot: Snapshot, hook: AuthFailureHook | undefined): Promise<void> {
  const outcome = await verifyTenantJwt(token, snapshot.issuersByIss, (issuer, claimed) => {
    const tenant = snapshot.tenantsById.get(issuer.tenantId);
    return tenant !== undefined && (claimed === tenant.slug || claimed === tenant.id);
  });
  if (!outcome.ok) {
    const reason = JWT_REASONS[outcome.reason];
    const who = hook === undefined || reason === undefined ? undefined : attributeJwt(snapshot, token);
    if (who !== undefined && reason !== undefined) report(hook, ctx, who, reason);
    throw JWT_ERRORS[outcome.reason];
  }
  const tenant = snapshot.tenantsById.get(outcome.issuer.tenantId);
  if (tenant === undefined) throw JWT_ERRORS.wrong_tenant;
  const keyId = `jwt:${outcome.issuer.issuer}#${outcome.subject}`;
  const problem = tenantProblem(ctx, tenant);
  if (problem !== undefined) {
    report(hook, ctx, { tenantId: tenant.id, credential: 'jwt', keyId, keyPrefix: null }, problem.reason);
    throw problem.error;
  }
  ctx.tenant = tenant;
  ctx.principal = {
    kind: 'jwt',
    keyId,
    tenantId: tenant.id,
    teamId: null,
    subject: outcome.subject,
    roles: outcome.roles,
    scopes: outcome.scopes,
    allowedModels: null,
  };
}

function keyOf(record: ApiKeyRecord): FailureCredential {
  return { tenantId: record.tenantId, credential: 'api_key', keyId: record.id, keyPrefix: record.prefix };
}

export function authenticate(opts: AuthenticateOptions): Stage {
  const now = opts.now ?? Date.now;
  const previous = opts.previousPeppers ?? [];
  const hook = opts.onAuthFailure;
  const allPeppers = [opts.pepper, ...previous];
  return function authenticateStage(ctx: RequestContext): void | Promise<void> {
    const credential = ctx.credential;
    if (credential === undefined) {
      throw new GatewayError(
        'missing_api_key',
        'You didn\'t provide an API key. Send it as "Authorization: Bearer <api key>".',
      );
    }
    const snapshot = opts.registry.current;
    if (looksLikeJwt(credential) && snapshot.issuersByIss.size > 0) return authenticateJwt(ctx, credential, snapshot, hook);

    const verified = verifiedKeys(snapshot);
    let record = verified.get(credential);
    if (record === undefined) {
      const candidates = snapshot.keysByPrefix.get(keyPrefix(credential));
      record = findKey(candidates, credential, opts.pepper);
      for (const old of previous) {
        if (record !== undefined) break;
        record = findKey(candidates, credential, old);
        if (record !== undefined) opts.onStaleHash?.(record.tenantId, record.id, record.hash, hashApiKey(credential, opts.pepper));
      }
      if (record === undefined) {
        const attributed = hook === undefined ? undefined : attributeUnknownKey(snapshot, credential, allPeppers);
        if (attributed !== undefined) report(hook, ctx, attributed.who, attributed.reason);
        throw new GatewayError('invalid_api_key', 'Incorrect API key provided.');
      }
      if (verified.size >= VERIFIED_LIMIT) verified.clear();
      verified.set(credential, record);
    }
    if (record.expiresAt !== null && record.expiresAt <= now()) {
      report(hook, ctx, keyOf(record), 'expired');
      throw new GatewayError('expired_api_key', 'The API key has expired.');
    }
    // The client address the server decided once: the peer, or behind trusted proxies the
    // address their forwarding header names (src/server/client-address.ts).
    const cidrs = snapshot.cidrsByKey.get(record.id);
    if (cidrs !== undefined && !addressAllowed(cidrs, ctx.remoteAddress)) {
      report(hook, ctx, keyOf(record), 'ip_not_allowed');
      throw new GatewayError('ip_not_allowed', 'This API key may not be used from this address.');
    }
    const tenant = snapshot.tenantsById.get(record.tenantId);
    if (tenant === undefined) throw new GatewayError('invalid_api_key', 'Incorrect API key provided.');
    const problem = tenantProblem(ctx, tenant);
    if (problem !== undefined) {
      report(hook, ctx, keyOf(record), problem.reason);
      throw problem.error;
    }
    ctx.tenant = tenant;
    ctx.principal = {
      kind: 'api_key',
      keyId: record.id,
      tenantId: tenant.id,
      teamId: record.teamId,
      scopes: record.scopes,
      allowedModels: record.allowedModels,
    };
    opts.onKeyUsed?.(record.id, tenant.id);
  };
}
