/** Who is calling the admin API, once authenticated. */
import type { PlatformRole, TenantRole } from './roles.js';

interface PrincipalBase {
  /**
   * Stable id for attribution, audit and idempotency scoping: `bootstrap`, `cli`, or
   * `admin_key:<uuid>`, `jwt:<issuer>#<subject>` (a tenant's provider), `jwt:platform:<subject>`
   * (the platform's, '#' escaped). Never secret.
   */
  readonly id: string;
  /** Shown in audit entries. */
  readonly label: string;
  readonly kind: 'bootstrap' | 'admin_key' | 'cli' | 'jwt';
  /** The admin key's id, when the principal is one. */
  readonly keyId: string | null;
}

export interface PlatformPrincipal extends PrincipalBase {
  readonly scope: 'platform';
  readonly role: PlatformRole;
}

export interface TenantPrincipal extends PrincipalBase {
  readonly scope: 'tenant';
  readonly role: TenantRole;
  /** The only tenant this principal may ever act in. */
  readonly tenantId: string;
  readonly tenantSlug: string;
}

export type AdminPrincipal = PlatformPrincipal | TenantPrincipal;
