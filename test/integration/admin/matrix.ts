/**
 * Every admin route with who may call it and a request that would succeed if scoping failed.
 * Written out by hand, independently of src/admin/permissions.ts: the tests compare the two
 * over HTTP, and a route missing here fails the suite (matrix.test.ts walks the route table).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Role } from '../../../src/identity/roles.js';
import { POLICY_DOC, type TenantFixtures } from './fixtures.js';

export interface MatrixEntry {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  /** Roles allowed; 'public' needs no key at all. */
  roles: readonly Role[] | 'public';
  /** A body that is valid (the request would succeed were the tenant check missing). */
  body?: (fx: TenantFixtures) => unknown;
  /** Send `If-Match: *` so a missing precondition is not what stops the request. */
  ifMatch?: boolean;
}

const PA: Role = 'platform_admin';
const AUD: Role = 'platform_auditor';
const PB: Role = 'platform_billing';
const TA: Role = 'tenant_admin';
const TD: Role = 'tenant_developer';
const TB: Role = 'tenant_billing';
const TV: Role = 'tenant_viewer';
const TAU: Role = 'tenant_auditor';
const ALL: Role[] = [PA, AUD, PB, TA, TD, TB, TV, TAU];

const T = '/tenants/{tenant}';
const rand = () => randomBytes(4).toString('hex');

export const MATRIX: readonly MatrixEntry[] = [
  { method: 'GET', path: '/openapi.json', roles: 'public' },
  { method: 'GET', path: '/whoami', roles: ALL },

  { method: 'GET', path: '/tenants', roles: [PA, PB] },
  { method: 'POST', path: '/tenants', roles: [PA], body: () => ({ slug: `x-${rand()}`, name: 'X' }) },
  { method: 'GET', path: T, roles: [PA, PB, TA, TD, TB, TV] },
  { method: 'PATCH', path: T, roles: [PA, TA], body: () => ({ name: 'Pwned' }), ifMatch: true },
  { method: 'DELETE', path: T, roles: [PA], ifMatch: true },
  { method: 'POST', path: `${T}/suspend`, roles: [PA] },
  { method: 'POST', path: `${T}/resume`, roles: [PA] },
  { method: 'GET', path: '/fleet', roles: [PA] },

  { method: 'GET', path: '/plans', roles: [PA, PB] },
  { method: 'POST', path: '/plans', roles: [PA], body: () => ({ name: `evil-${rand()}` }) },
  { method: 'GET', path: '/plans/{plan}', roles: [PA, PB] },
  { method: 'PATCH', path: '/plans/{plan}', roles: [PA], body: () => ({ description: 'Pwned' }), ifMatch: true },
  { method: 'DELETE', path: '/plans/{plan}', roles: [PA], ifMatch: true },

  { method: 'GET', path: `${T}/limits`, roles: [PA, TA, TD, TB, TV] },
  { method: 'GET', path: `${T}/limits/rules`, roles: [PA, TA, TD, TB, TV] },
  { method: 'POST', path: `${T}/limits/rules`, roles: [PA, TA], body: () => ({ id: `evil-${rand()}`, metric: 'requests', window: 'minute', limit: 0 }) },
  { method: 'GET', path: `${T}/limits/rules/{rule}`, roles: [PA, TA, TD, TB, TV] },
  { method: 'PATCH', path: `${T}/limits/rules/{rule}`, roles: [PA, TA], body: () => ({ limit: 0 }), ifMatch: true },
  { method: 'DELETE', path: `${T}/limits/rules/{rule}`, roles: [PA, TA], ifMatch: true },

  { method: 'GET', path: '/admin-keys', roles: [PA] },
  { method: 'POST', path: '/admin-keys', roles: [PA], body: () => ({ name: 'x', role: 'platform_auditor' }) },
  { method: 'GET', path: '/admin-keys/{admin_key}', roles: [PA] },
  { method: 'POST', path: '/admin-keys/{admin_key}/revoke', roles: [PA] },
  { method: 'GET', path: `${T}/admin-keys`, roles: [PA, TA] },
  { method: 'POST', path: `${T}/admin-keys`, roles: [PA, TA], body: () => ({ name: 'evil', role: 'tenant_admin' }) },
  { method: 'GET', path: `${T}/admin-keys/{admin_key}`, roles: [PA, TA] },
  { method: 'POST', path: `${T}/admin-keys/{admin_key}/revoke`, roles: [PA, TA] },

  { method: 'GET', path: `${T}/teams`, roles: [PA, TA, TD, TB, TV] },
  { method: 'POST', path: `${T}/teams`, roles: [TA], body: () => ({ slug: `evil-${rand()}` }) },
  { method: 'GET', path: `${T}/teams/{team}`, roles: [PA, TA, TD, TB, TV] },
  { method: 'PATCH', path: `${T}/teams/{team}`, roles: [TA], body: () => ({ name: 'Pwned' }), ifMatch: true },
  { method: 'DELETE', path: `${T}/teams/{team}`, roles: [TA], ifMatch: true },

  { method: 'GET', path: `${T}/users`, roles: [TA, TV] },
  { method: 'POST', path: `${T}/users`, roles: [TA], body: () => ({ email: `evil-${rand()}@example.com` }) },
  { method: 'GET', path: `${T}/users/{user}`, roles: [TA, TV] },
  { method: 'PATCH', path: `${T}/users/{user}`, roles: [TA], body: () => ({ status: 'disabled' }), ifMatch: true },
  { method: 'DELETE', path: `${T}/users/{user}`, roles: [TA], ifMatch: true },
  { method: 'GET', path: `${T}/memberships`, roles: [TA, TV] },
  { method: 'POST', path: `${T}/memberships`, roles: [TA], body: (fx) => ({ user_id: fx.user, role: 'tenant_admin' }) },
  { method: 'GET', path: `${T}/memberships/{membership}`, roles: [TA, TV] },
  { method: 'DELETE', path: `${T}/memberships/{membership}`, roles: [TA] },

  { method: 'GET', path: `${T}/service-accounts`, roles: [TA, TD, TV] },
  { method: 'POST', path: `${T}/service-accounts`, roles: [TA], body: () => ({ name: `evil-${rand()}` }) },
  { method: 'GET', path: `${T}/service-accounts/{service_account}`, roles: [TA, TD, TV] },
  { method: 'PATCH', path: `${T}/service-accounts/{service_account}`, roles: [TA], body: () => ({ disabled: true }), ifMatch: true },
  { method: 'DELETE', path: `${T}/service-accounts/{service_account}`, roles: [TA], ifMatch: true },

  { method: 'GET', path: `${T}/api-keys`, roles: [PA, TA, TD, TB, TV] },
  { method: 'POST', path: `${T}/api-keys`, roles: [TA, TD], body: () => ({ name: 'evil' }) },
  { method: 'GET', path: `${T}/api-keys/{api_key}`, roles: [PA, TA, TD, TB, TV] },
  { method: 'PATCH', path: `${T}/api-keys/{api_key}`, roles: [TA, TD], body: () => ({ scopes: ['inference'] }), ifMatch: true },
  { method: 'POST', path: `${T}/api-keys/{api_key}/rotate`, roles: [TA, TD], body: () => ({ grace_period_seconds: 0 }) },
  { method: 'POST', path: `${T}/api-keys/{api_key}/revoke`, roles: [TA, TD] },

  { method: 'GET', path: `${T}/policies`, roles: [TA, TD, TV] },
  { method: 'POST', path: `${T}/policies`, roles: [TA], body: () => ({ name: `evil-${rand()}`, document: POLICY_DOC }) },
  { method: 'GET', path: `${T}/policies/{policy}`, roles: [TA, TD, TV] },
  { method: 'PATCH', path: `${T}/policies/{policy}`, roles: [TA], body: () => ({ enabled: false }), ifMatch: true },
  { method: 'DELETE', path: `${T}/policies/{policy}`, roles: [TA], ifMatch: true },

  { method: 'GET', path: `${T}/domains`, roles: [PA, TA, TD, TV] },
  { method: 'POST', path: `${T}/domains`, roles: [TA], body: () => ({ domain: `evil-${rand()}.example.com` }) },
  { method: 'GET', path: `${T}/domains/{domain}`, roles: [PA, TA, TD, TV] },
  { method: 'POST', path: `${T}/domains/{domain}/verify`, roles: [TA] },
  { method: 'DELETE', path: `${T}/domains/{domain}`, roles: [TA] },

  { method: 'GET', path: `${T}/jwt-issuers`, roles: [TA, TD, TV] },
  { method: 'POST', path: `${T}/jwt-issuers`, roles: [TA], body: () => ({ issuer: `https://evil-${rand()}.example.com/`, jwks_url: 'https://evil.example.com/jwks.json' }) },
  { method: 'GET', path: `${T}/jwt-issuers/{jwt_issuer}`, roles: [TA, TD, TV] },
  { method: 'DELETE', path: `${T}/jwt-issuers/{jwt_issuer}`, roles: [TA] },

  { method: 'GET', path: `${T}/provider-credentials`, roles: [TA, TD, TV] },
  { method: 'POST', path: `${T}/provider-credentials`, roles: [TA], body: () => ({ name: `evil-${rand()}`, provider: 'openai', secret: 'sk-evil-0123456789' }) },
  { method: 'GET', path: `${T}/provider-credentials/{provider_credential}`, roles: [TA, TD, TV] },
  { method: 'POST', path: `${T}/provider-credentials/{provider_credential}/secret`, roles: [TA], body: () => ({ secret: 'sk-evil-replaced-0123' }) },
  { method: 'DELETE', path: `${T}/provider-credentials/{provider_credential}`, roles: [TA], ifMatch: true },
  { method: 'GET', path: `${T}/webhooks`, roles: [TA, TD, TV] },
  { method: 'POST', path: `${T}/webhooks`, roles: [TA], body: () => ({ url: 'https://evil.example.com/x', events: ['budget.threshold'], secret: 'evil-secret-0123' }) },
  { method: 'GET', path: `${T}/webhooks/{webhook}`, roles: [TA, TD, TV] },
  { method: 'PATCH', path: `${T}/webhooks/{webhook}`, roles: [TA], body: () => ({ url: 'https://evil.example.com/stolen' }), ifMatch: true },
  { method: 'DELETE', path: `${T}/webhooks/{webhook}`, roles: [TA], ifMatch: true },

  { method: 'GET', path: `${T}/deployments`, roles: [TA, TD, TV] },
  {
    method: 'POST',
    path: `${T}/deployments`,
    roles: [TA],
    body: (fx) => ({ model: `evil-${rand()}`, provider: 'openai', base_url: 'https://evil.example.com/v1', credential_id: fx.provider_credential }),
  },
  { method: 'GET', path: `${T}/deployments/{deployment}`, roles: [TA, TD, TV] },
  { method: 'PATCH', path: `${T}/deployments/{deployment}`, roles: [TA], body: () => ({ base_url: 'https://evil.example.com/stolen' }), ifMatch: true },
  { method: 'DELETE', path: `${T}/deployments/{deployment}`, roles: [TA], ifMatch: true },
  { method: 'GET', path: `${T}/aliases`, roles: [TA, TD, TV] },
  { method: 'POST', path: `${T}/aliases`, roles: [TA], body: () => ({ alias: `evil-${rand()}`, model: 'gpt-4o-mini' }) },
  { method: 'DELETE', path: `${T}/aliases/{alias}`, roles: [TA] },
  { method: 'GET', path: `${T}/alerts`, roles: [TA, TB] },
  { method: 'POST', path: `${T}/alerts/test`, roles: [TA] },
  { method: 'POST', path: `${T}/alerts/{alert}/resolve`, roles: [TA] },
  { method: 'GET', path: `${T}/alerts/{alert}/deliveries`, roles: [TA, TB] },
  { method: 'GET', path: `${T}/forecast`, roles: [TA, TB] },
  { method: 'GET', path: `${T}/alert-settings`, roles: [TA, TB] },
  { method: 'PATCH', path: `${T}/alert-settings`, roles: [TA], body: () => ({ budget_thresholds: [1] }) },

  { method: 'GET', path: `${T}/logs`, roles: [TA, TAU] },
  { method: 'GET', path: `${T}/logs/{request_id}`, roles: [TA] },

  { method: 'GET', path: `${T}/audit`, roles: [AUD, TA, TAU] },
  { method: 'GET', path: `${T}/audit.jsonl`, roles: [AUD, TA, TAU] },
  { method: 'GET', path: `${T}/audit/head`, roles: [AUD, TA, TAU] },
  { method: 'GET', path: '/platform/audit', roles: [AUD] },
  { method: 'GET', path: '/platform/audit/head', roles: [AUD] },
  { method: 'GET', path: '/platform/audit.jsonl', roles: [AUD] },

  { method: 'GET', path: '/plans/{plan}/pricing', roles: [PA, PB] },
  { method: 'POST', path: '/plans/{plan}/pricing', roles: [PA], body: () => ({ pricing: null }) },
  { method: 'GET', path: `${T}/usage`, roles: [PB, TA, TB] },
  { method: 'GET', path: '/platform/usage', roles: [PA, PB] },
  { method: 'GET', path: `${T}/invoices`, roles: [PA, PB, TA, TB] },
  { method: 'GET', path: `${T}/invoices/{invoice}`, roles: [PA, PB, TA, TB] },
  // A month that has not ended: valid, and it issues nothing were the tenant check missing.
  { method: 'POST', path: `${T}/invoices/close`, roles: [PA, PB], body: () => ({ period: '2999-01' }) },
  { method: 'POST', path: '/platform/billing/close-period', roles: [PA, PB], body: () => ({ period: '2999-01' }) },
  { method: 'GET', path: `${T}/invoice-draft`, roles: [PB, TA, TB] },
  { method: 'GET', path: `${T}/chargeback`, roles: [PB, TA, TB] },
  { method: 'GET', path: '/platform/price-book', roles: [PA, PB] },
  { method: 'POST', path: '/platform/price-book', roles: [PA], body: () => ({ model: `evil-${rand()}`, input_per_mtok_micros: 0, output_per_mtok_micros: 0 }) },
];

/** Ids that exist nowhere, in the shapes the fixtures have. */
export function nowhere(): TenantFixtures {
  return {
    tenant: randomUUID(),
    slug: `no-such-${rand()}`,
    team: randomUUID(),
    user: randomUUID(),
    membership: randomUUID(),
    service_account: randomUUID(),
    api_key: randomUUID(),
    admin_key: randomUUID(),
    policy: randomUUID(),
    domain: `nx-${rand()}.example.com`,
    jwt_issuer: randomBytes(16).toString('base64url').slice(0, 22),
    provider_credential: randomUUID(),
    webhook: randomUUID(),
    deployment: randomUUID(),
    alias: `no-such-alias-${rand()}`,
    alert: randomUUID(),
    request_id: `req-${randomUUID()}`,
    plan: `no-such-plan-${rand()}`,
    rule: `no-such-rule-${rand()}`,
    invoice: randomUUID(),
  };
}

/** The path with its {params} taken from `fx` (the tenant from `tenant` when given). */
export function fill(path: string, fx: TenantFixtures, tenant: string = fx.tenant): string {
  const values = new Map<string, string>(Object.entries(fx));
  return path.replace(/\{([a-z_]+)\}/g, (_m, name: string) => {
    if (name === 'tenant') return encodeURIComponent(tenant);
    const value = values.get(name);
    if (value === undefined) throw new Error(`no fixture for {${name}}`);
    return encodeURIComponent(value);
  });
}

/** Path parameters other than {tenant}: the routes that take a resource id. */
export function resourceParams(path: string): string[] {
  return [...path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1] ?? '').filter((p) => p !== 'tenant');
}
