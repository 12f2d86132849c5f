/**
 * Authenticating admin API callers: the bootstrap platform key from GATEHOUSE_ADMIN_KEY, or an
 * admin key from the store. Outcomes are values (DESIGN §11.5); the admin edge renders them.
 *
 * Both paths compare keyed hashes, never the presented text: the bootstrap key is HMAC-ed once
 * at start and compared with timingSafeEqual; a stored key is found by its HMAC, which an
 * attacker cannot steer byte by byte.
 */
import { timingSafeEqual } from 'node:crypto';
import { hashApiKey } from '../crypto/keys.js';
import { adminKeysRepo, type Store } from '../store/index.js';
import { authenticateAdminJwt, type AdminJwtFailureReason, type AdminJwtSources } from './admin-jwt.js';
import { adminKeyPrefix, adminKeyScope } from './admin-keys.js';
import { looksLikeJwt } from './jwt.js';
import type { AdminPrincipal } from './admin-principal.js';
import { isPlatformRole, isTenantRole, PLATFORM_SCOPE_ID } from './roles.js';

/** Shorter bootstrap keys are refused at start: this key can create and delete tenants. */
export const MIN_BOOTSTRAP_KEY_LENGTH = 32;

export class AdminKeyConfigError extends Error {
  override name = 'AdminKeyConfigError';
}

/** Why an admin credential was refused, in the words of the audit log. */
export type AdminAuthFailureReason =
  /** Not a Bearer credential. */
  | 'malformed'
  /** Neither the bootstrap key nor the prefix of any admin key. */
  | 'unknown_key'
  /** The prefix of an admin key with another secret. */
  | 'wrong_secret'
  | 'expired'
  | 'revoked'
  /** The key's user lost its role or was disabled, or its service account is disabled. */
  | 'owner_inactive'
  | 'tenant_deleting'
  | AdminJwtFailureReason;

/**
 * Who a refused credential claimed to be: the scope (tenant id or PLATFORM_SCOPE_ID) and key,
 * when a stored key matches it or its prefix; else nothing is known (the caller audits it in the
 * platform scope). `prefix` is the public prefix of a well-formed admin key, never more.
 */
export interface AdminAuthFailure {
  reason: AdminAuthFailureReason;
  scopeId: string | null;
  keyId: string | null;
  prefix: string | null;
}

export type AdminAuthOutcome =
  | { ok: true; principal: AdminPrincipal }
  | { ok: false; reason: 'missing' }
  | { ok: false; reason: 'malformed' | 'invalid' | 'expired'; failure: AdminAuthFailure };

export interface AdminAuthenticatorOptions {
  store: Store;
  pepper: Buffer;
  /**
   * Peppers of previous master keys (GATEHOUSE_MASTER_KEY_PREVIOUS): admin keys hashed before a
   * master-key rotation keep working while they are configured. Tried only after a miss.
   */
  previousPeppers?: readonly Buffer[];
  /** GATEHOUSE_ADMIN_KEY; undefined disables the bootstrap key. */
  bootstrapKey: string | undefined;
  now?: () => Date;
  /** Bearer JWTs (tenant and platform identity providers); absent: admin keys only. */
  jwt?: AdminJwtSources;
  /** Called with a key id after a successful authentication (records last use off the response path). */
  onUse?: (scopeId: string, keyId: string) => void;
}

export type AdminAuthenticator = (authorization: string | string[] | undefined) => Promise<AdminAuthOutcome>;

const BOOTSTRAP: AdminPrincipal = {
  scope: 'platform',
  role: 'platform_admin',
  id: 'bootstrap',
  label: 'bootstrap key (GATEHOUSE_ADMIN_KEY)',
  kind: 'bootstrap',
  keyId: null,
};

/** The credential of `Authorization: Bearer <credential>`; undefined if absent, null if not Bearer. */
export function bearer(header: string | string[] | undefined): string | undefined | null {
  if (header === undefined) return undefined;
  if (typeof header !== 'string') return null;
  const m = /^Bearer +([\x21-\x7e]{1,512}) *$/i.exec(header);
  return m?.[1] ?? null;
}

export function createAdminAuthenticator(opts: AdminAuthenticatorOptions): AdminAuthenticator {
  const now = opts.now ?? (() => new Date());
  let bootstrapHash: Buffer | undefined;
  if (opts.bootstrapKey !== undefined && opts.bootstrapKey !== '') {
    if (opts.bootstrapKey.length < MIN_BOOTSTRAP_KEY_LENGTH) {
      throw new AdminKeyConfigError(
        `GATEHOUSE_ADMIN_KEY must be at least ${MIN_BOOTSTRAP_KEY_LENGTH} characters; generate one with: openssl rand -base64 36`,
      );
    }
    bootstrapHash = hashApiKey(opts.bootstrapKey, opts.pepper);
  }

  return async function authenticateAdmin(authorization) {
    const credential = bearer(authorization);
    if (credential === undefined) return { ok: false, reason: 'missing' };
    if (credential === null) return { ok: false, reason: 'malformed', failure: { reason: 'malformed', scopeId: null, keyId: null, prefix: null } };
    const hash = hashApiKey(credential, opts.pepper);
    if (bootstrapHash !== undefined && timingSafeEqual(hash, bootstrapHash)) return { ok: true, principal: BOOTSTRAP };

    if (opts.jwt !== undefined && looksLikeJwt(credential)) {
      const signedIn = await authenticateAdminJwt(credential, opts.jwt);
      if (signedIn.ok) return signedIn;
      return { ok: false, reason: signedIn.client, failure: { reason: signedIn.reason, scopeId: signedIn.scopeId, keyId: null, prefix: null } };
    }

    const scopeId = adminKeyScope(credential);
    const prefix = adminKeyPrefix(credential) ?? null;
    const refuse = (reason: AdminAuthFailureReason, keyId: string | null, client: 'invalid' | 'expired' = 'invalid'): AdminAuthOutcome => ({
      ok: false,
      reason: client,
      failure: { reason, scopeId: keyId === null ? null : (scopeId ?? null), keyId, prefix },
    });
    if (scopeId === undefined) return refuse('unknown_key', null);
    const found = await opts.store.withTenant(scopeId, async (tx) => {
      let match = await adminKeysRepo.findCredential(tx, hash);
      for (const old of opts.previousPeppers ?? []) {
        if (match !== null) break;
        const oldHash = hashApiKey(credential, old);
        match = await adminKeysRepo.findCredential(tx, oldHash);
        // Hashed before a master-key rotation: move it onto the current key, so the previous
        // one can be dropped once every key in use has moved.
        if (match !== null && !match.revoked) await adminKeysRepo.rehash(tx, match.id, oldHash, hash);
      }
      // Failure path only: which key of the scope the caller claimed to be, for the audit log.
      const claimed = match === null && prefix !== null ? await adminKeysRepo.idsByPrefix(tx, prefix) : [];
      return { match, claimed };
    });
    const k = found.match;
    if (k === null) return refuse(found.claimed.length === 1 ? 'wrong_secret' : 'unknown_key', found.claimed.length === 1 ? (found.claimed[0] ?? null) : null);
    if (k.revoked) return refuse('revoked', k.id);
    if (!k.ownerActive) return refuse('owner_inactive', k.id);
    if (k.tenantDeleting) return refuse('tenant_deleting', k.id);
    if (k.expiresAt !== null && k.expiresAt.getTime() <= now().getTime()) return refuse('expired', k.id, 'expired');
    opts.onUse?.(scopeId, k.id);

    const base = { id: `admin_key:${k.id}`, kind: 'admin_key' as const, keyId: k.id };
    if (scopeId === PLATFORM_SCOPE_ID && isPlatformRole(k.role)) {
      return { ok: true, principal: { ...base, scope: 'platform', role: k.role, label: `admin key ${k.id}` } };
    }
    if (scopeId !== PLATFORM_SCOPE_ID && isTenantRole(k.role) && k.tenantSlug !== null) {
      return {
        ok: true,
        principal: { ...base, scope: 'tenant', role: k.role, tenantId: scopeId, tenantSlug: k.tenantSlug, label: `admin key ${k.id}` },
      };
    }
    // A row contradicting its scope (prevented by a CHECK constraint): refuse, never guess.
    return refuse('unknown_key', null);
  };
}
