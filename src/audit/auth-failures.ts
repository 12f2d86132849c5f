/**
 * Failed uses of credentials on the data plane, as audit entries (issue 4: "every key use
 * failure ... is appended per tenant"). The pipeline reports a failure only when it can name
 * the tenant the credential belongs to (a known key prefix, an issuer one tenant registered);
 * a made-up credential belongs to no one and is not audited, or anyone could write to any log.
 *
 * Reports go through the asynchronous queue (async-appender.ts), throttled per tenant, key and
 * reason, so hammering one key writes one entry per window with the number of attempts.
 */
import type { AuditQueue } from './async-appender.js';
import type { AuditEvent } from './types.js';

export const AUTH_FAILURE_REASONS = [
  /** The prefix is a key's, the rest is not. */
  'wrong_secret',
  'expired',
  /** The whole key matched a key revoked recently (the snapshot keeps those for a while). */
  'revoked',
  'ip_not_allowed',
  'insufficient_scope',
  /** A valid credential used with another tenant's path, header or domain. */
  'tenant_mismatch',
  'tenant_suspended',
  /** JWTs: signature, audience or issuer check failed. */
  'jwt_invalid',
  'jwt_expired',
  /** A verified token whose tenant claim does not name the issuer's tenant. */
  'jwt_wrong_tenant',
  /** A verified token with no role that may use the API. */
  'jwt_no_role',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

/** Refusals of a credential that did authenticate: 'denied'; everything else: 'failure'. */
const DENIED: ReadonlySet<AuthFailureReason> = new Set(['ip_not_allowed', 'insufficient_scope', 'tenant_mismatch', 'tenant_suspended', 'jwt_no_role']);

export interface AuthFailure {
  /** The tenant the credential belongs to. */
  tenantId: string;
  credential: 'api_key' | 'jwt';
  /**
   * The key id; for a JWT, the principal id when the token verified (`jwt:<iss>#<sub>`), else
   * `jwt:<iss>` (an unverified subject is the sender's word). null when several keys of the
   * tenant share the presented prefix (keys declared in foreign formats).
   */
  keyId: string | null;
  /** The public prefix of the presented API key; never more of it. */
  keyPrefix: string | null;
  reason: AuthFailureReason;
  requestId: string;
  /** The client address as the gateway determined it ('' when unknown). */
  sourceIp: string;
}

/** Called by the pipeline on each attributable failure; must return at once and never throw. */
export type AuthFailureHook = (failure: AuthFailure) => void;

export function authFailureEvent(f: AuthFailure): AuditEvent {
  const id = f.keyId ?? (f.keyPrefix === null ? null : `prefix:${f.keyPrefix}`);
  return {
    actor: { kind: f.credential, id },
    action: f.credential === 'api_key' ? 'api_key.auth_failed' : 'jwt.auth_failed',
    target: f.credential === 'api_key' ? { kind: 'api_key', id: f.keyId } : null,
    outcome: DENIED.has(f.reason) ? 'denied' : 'failure',
    sourceIp: f.sourceIp === '' ? null : f.sourceIp,
    requestId: f.requestId,
    after: { reason: f.reason, ...(f.keyPrefix === null ? {} : { key_prefix: f.keyPrefix }) },
  };
}

/** The hook the pipeline is given: each failure queued, throttled per tenant, key and reason. */
export function auditAuthFailures(queue: Pick<AuditQueue, 'enqueue'>): AuthFailureHook {
  return (f) => {
    queue.enqueue(f.tenantId, authFailureEvent(f), `${f.credential}\0${f.keyId ?? f.keyPrefix ?? ''}\0${f.reason}`);
  };
}
