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
import { adminKeyScope } from './admin-keys.js';
import type { AdminPrincipal } from './admin-principal.js';
import { isPlatformRole, isTenantRole, PLATFORM_SCOPE_ID } from './roles.js';

/** Shorter bootstrap keys are refused at start: this key can create and delete tenants. */
export const MIN_BOOTSTRAP_KEY_LENGTH = 32;

export class AdminKeyConfigError extends Error {
  override name = 'AdminKeyConfigError';
}

export type AdminAuthOutcome =
  | { ok: true; principal: AdminPrincipal }
  | { ok: false; reason: 'missing' | 'malformed' | 'invalid' | 'expired' };

export interface AdminAuthenticatorOptions {
  store: Store;
  pepper: Buffer;
  /** GATEHOUSE_ADMIN_KEY; undefined disables the bootstrap key. */
  bootstrapKey: string | undefined;
  now?: () => Date;
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

/** The credential of `Authorization: Bearer <credential>`; undefined if absent or not Bearer. */
function bearer(header: string | string[] | undefined): string | undefined | null {
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
    if (credential === null) return { ok: false, reason: 'malformed' };
    const hash = hashApiKey(credential, opts.pepper);
    if (bootstrapHash !== undefined && timingSafeEqual(hash, bootstrapHash)) return { ok: true, principal: BOOTSTRAP };

    const scopeId = adminKeyScope(credential);
    if (scopeId === undefined) return { ok: false, reason: 'invalid' };
    const found = await opts.store.withTenant(scopeId, (tx) => adminKeysRepo.findCredential(tx, hash));
    if (found === null || found.revoked || !found.ownerActive || found.tenantDeleting) return { ok: false, reason: 'invalid' };
    if (found.expiresAt !== null && found.expiresAt.getTime() <= now().getTime()) return { ok: false, reason: 'expired' };
    opts.onUse?.(scopeId, found.id);

    const base = { id: `admin_key:${found.id}`, kind: 'admin_key' as const, keyId: found.id };
    if (scopeId === PLATFORM_SCOPE_ID && isPlatformRole(found.role)) {
      return { ok: true, principal: { ...base, scope: 'platform', role: found.role, label: `admin key ${found.id}` } };
    }
    if (scopeId !== PLATFORM_SCOPE_ID && isTenantRole(found.role) && found.tenantSlug !== null) {
      return {
        ok: true,
        principal: { ...base, scope: 'tenant', role: found.role, tenantId: scopeId, tenantSlug: found.tenantSlug, label: `admin key ${found.id}` },
      };
    }
    // A row contradicting its scope (prevented by a CHECK constraint): refuse, never guess.
    return { ok: false, reason: 'invalid' };
  };
}
