/**
 * The roles of DESIGN §3. Platform roles act across the fleet and belong to no tenant; tenant
 * roles act only inside the one tenant their credential is bound to.
 */

export const PLATFORM_ROLES = ['platform_admin', 'platform_auditor', 'platform_billing'] as const;
export const TENANT_ROLES = ['tenant_admin', 'tenant_developer', 'tenant_billing', 'tenant_viewer', 'tenant_auditor'] as const;
export const ROLES = [...PLATFORM_ROLES, ...TENANT_ROLES] as const;

export type PlatformRole = (typeof PLATFORM_ROLES)[number];
export type TenantRole = (typeof TENANT_ROLES)[number];
export type Role = PlatformRole | TenantRole;

/**
 * The reserved tenant id under which platform-scope rows (platform admin keys, idempotency
 * records of platform calls) live, so they too sit behind row-level security. Never a real
 * tenant: tenant ids are random v4 UUIDs, and this one has version nibble 0.
 * See src/store/migrations/0003_admin.ts.
 */
export const PLATFORM_SCOPE_ID = '00000000-0000-0000-0000-000000000000';

const PLATFORM: ReadonlySet<string> = new Set(PLATFORM_ROLES);
const TENANT: ReadonlySet<string> = new Set(TENANT_ROLES);

export function isPlatformRole(role: string): role is PlatformRole {
  return PLATFORM.has(role);
}

export function isTenantRole(role: string): role is TenantRole {
  return TENANT.has(role);
}

export function isRole(role: string): role is Role {
  return PLATFORM.has(role) || TENANT.has(role);
}
