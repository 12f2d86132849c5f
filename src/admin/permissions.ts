/**
 * What each role may do in the admin API (DESIGN §3): the single source the router enforces and
 * the role-matrix test reads. Per-field rules (what a permitted role sees of a resource) live
 * in views.ts.
 *
 * Principles:
 * - platform_admin operates tenants and sees metadata: never users (personal data), policies
 *   (tenant configuration), key material or audit content. It may issue a tenant's admin keys,
 *   so a tenant can be onboarded (and recovered) in one call; that issuance is audited in the
 *   tenant's own log.
 * - Auditors read the audit log and nothing else. The platform scope's own log (platform admin
 *   keys, admin logins no tenant can be named for) is read by platform auditors only.
 * - tenant_billing sees money-relevant metadata only (tenant plan and limits, team and key names
 *   for chargeback), never key material or policies.
 * - tenant_viewer reads everything a developer can, changes nothing.
 * - Provider credentials and webhook signing secrets are write-only for everyone: the routes
 *   return metadata, never a secret, whatever the role.
 * - Dedicated deployments and model aliases (the tenant's own upstreams) are tenant
 *   configuration like credentials: tenant_admin writes, developers and viewers read, the
 *   platform admin neither (it operates the platform's catalogue in the configuration file).
 * - Plans (the limit bundles tenants are on) are a platform catalogue: platform_admin reads and
 *   writes them; a tenant sees its own plan through its effective limits, never the catalogue.
 *   platform_auditor does not read them either: auditors read the audit log and nothing else.
 * - A tenant's limits carry no secrets: every tenant role but the auditor reads them (billing
 *   needs the budgets). tenant_admin writes the tenant's own rules only within what its plan
 *   allows (src/admin/services/limits.ts); platform_admin writes any value, which is how a
 *   platform raises one tenant above its plan.
 * - PATCH of a tenant needs `tenants.settings` (the tenant's own settings: time zone, budget
 *   action, response-cache and request-log opt-ins, which a tenant_admin may set); every other field (name, plan, regions, models) also
 *   needs `tenants.update`, which only platform_admin holds. Checked per field in the service.
 * - Alerts (budget thresholds, anomalies), their delivery status and budget forecasts are money
 *   matters of the tenant: tenant_admin and tenant_billing read them; only tenant_admin changes
 *   the alert settings. Auditors read the audit log (where alerts are recorded), nothing else.
 * - Usage, invoices and chargeback are money: tenant_admin and tenant_billing read their own
 *   tenant's. platform_admin reads invoices' totals only (through the platform role's column
 *   grants: never their lines), fleet-wide usage aggregates (no team, key or tag) and writes the
 *   price book. Developers, viewers and auditors see none of it.
 * - platform_billing is the operator's finance staff: it reads every tenant's usage, invoices
 *   (with their lines), drafts and chargeback (in the tenant's own transaction, as that tenant's
 *   billing role would), fleet aggregates, the price book and plans, and closes billing periods.
 *   It changes nothing else: no tenant, plan, limit, key, deployment, price or secret. Closing
 *   (`invoices.close`) is platform work: platform_admin may do it too, tenants may not (an
 *   invoice issued early could not be reissued).
 * - Stored request logs (the tenant's opt-in, src/logs/) are the tenant's traffic and, when it logs
 *   content, its prompts and answers. tenant_admin reads entries and their content (each content
 *   read is audited); tenant_auditor lists entries (who called what, when, with which outcome) but
 *   never their content: DESIGN §1 gives auditors no access to prompts. The platform roles never
 *   read either, nor do developers, viewers or billing. The opt-in is a tenant setting.
 */
import type { Role } from '../identity/roles.js';

export const PERMISSIONS = [
  'self.read',
  'fleet.read',
  'tenants.list',
  'tenants.create',
  'tenants.read',
  'tenants.update',
  'tenants.settings',
  'tenants.lifecycle',
  'plans.read',
  'plans.write',
  'limits.read',
  'limits.write',
  'platform_keys.read',
  'platform_keys.write',
  'teams.read',
  'teams.write',
  'users.read',
  'users.write',
  'service_accounts.read',
  'service_accounts.write',
  'api_keys.read',
  'api_keys.write',
  'admin_keys.read',
  'admin_keys.write',
  'policies.read',
  'policies.write',
  'domains.read',
  'domains.write',
  'jwt_issuers.read',
  'jwt_issuers.write',
  'provider_credentials.read',
  'provider_credentials.write',
  'webhooks.read',
  'webhooks.write',
  'deployments.read',
  'deployments.write',
  'alerts.read',
  'alerts.write',
  'audit.read',
  'platform_audit.read',
  'usage.read',
  'invoices.read',
  'invoices.close',
  'chargeback.read',
  'platform_usage.read',
  'price_book.read',
  'price_book.write',
  'request_logs.read',
  'request_logs.content',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

const GRANTS: Record<Role, readonly Permission[]> = {
  platform_admin: [
    'self.read',
    'fleet.read',
    'tenants.list',
    'tenants.create',
    'tenants.read',
    'tenants.update',
    'tenants.settings',
    'tenants.lifecycle',
    'plans.read',
    'plans.write',
    'limits.read',
    'limits.write',
    'platform_keys.read',
    'platform_keys.write',
    'teams.read',
    'api_keys.read',
    'admin_keys.read',
    'admin_keys.write',
    'domains.read',
    'invoices.read',
    'invoices.close',
    'platform_usage.read',
    'price_book.read',
    'price_book.write',
  ],
  platform_auditor: ['self.read', 'audit.read', 'platform_audit.read'],
  platform_billing: [
    'self.read',
    'tenants.list',
    'tenants.read',
    'plans.read',
    'usage.read',
    'invoices.read',
    'invoices.close',
    'chargeback.read',
    'platform_usage.read',
    'price_book.read',
  ],
  tenant_admin: [
    'self.read',
    'tenants.read',
    'tenants.settings',
    'limits.read',
    'limits.write',
    'teams.read',
    'teams.write',
    'users.read',
    'users.write',
    'service_accounts.read',
    'service_accounts.write',
    'api_keys.read',
    'api_keys.write',
    'admin_keys.read',
    'admin_keys.write',
    'policies.read',
    'policies.write',
    'domains.read',
    'domains.write',
    'jwt_issuers.read',
    'jwt_issuers.write',
    'provider_credentials.read',
    'provider_credentials.write',
    'webhooks.read',
    'webhooks.write',
    'deployments.read',
    'deployments.write',
    'alerts.read',
    'alerts.write',
    'audit.read',
    'usage.read',
    'invoices.read',
    'chargeback.read',
    'request_logs.read',
    'request_logs.content',
  ],
  tenant_developer: [
    'self.read',
    'tenants.read',
    'limits.read',
    'teams.read',
    'service_accounts.read',
    'api_keys.read',
    'api_keys.write',
    'policies.read',
    'domains.read',
    'jwt_issuers.read',
    'provider_credentials.read',
    'webhooks.read',
    'deployments.read',
  ],
  tenant_billing: ['self.read', 'tenants.read', 'limits.read', 'teams.read', 'api_keys.read', 'alerts.read', 'usage.read', 'invoices.read', 'chargeback.read'],
  tenant_viewer: [
    'self.read',
    'tenants.read',
    'limits.read',
    'teams.read',
    'users.read',
    'service_accounts.read',
    'api_keys.read',
    'policies.read',
    'domains.read',
    'jwt_issuers.read',
    'provider_credentials.read',
    'webhooks.read',
    'deployments.read',
  ],
  tenant_auditor: ['self.read', 'audit.read', 'request_logs.read'],
};

const SETS = new Map<Role, ReadonlySet<Permission>>(
  (Object.keys(GRANTS) as Role[]).map((role) => [role, new Set(GRANTS[role])]),
);

export function allows(role: Role, permission: Permission): boolean {
  return SETS.get(role)?.has(permission) ?? false;
}
