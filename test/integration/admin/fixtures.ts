/** Resources of every kind in one tenant, created through the admin API. */
import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { alertsRepo, requestLogsRepo, type Store } from '../../../src/store/index.js';
import { str, type Client } from './helpers.js';

export interface TenantFixtures {
  tenant: string;
  slug: string;
  team: string;
  user: string;
  membership: string;
  service_account: string;
  api_key: string;
  admin_key: string;
  policy: string;
  domain: string;
  jwt_issuer: string;
  provider_credential: string;
  webhook: string;
  /** A dedicated deployment (without a credential, so deleting the credential stays possible). */
  deployment: string;
  /** A model alias of the tenant's own, named uniquely per tenant. */
  alias: string;
  /**
   * An alert id. Alerts are raised by the alert job, not through the API: seedAlert raises one
   * through the store; until then it is a random id.
   */
  alert: string;
  /**
   * A stored request log entry's request id. Entries are written by the gateway's log writer, not
   * through the API: seedRequestLog stores one through the store; until then it is a random id.
   */
  request_id: string;
  /** The plan the tenant is on (a platform resource: the same for every tenant). */
  plan: string;
  /** A limit rule of the tenant's own, with an id no other tenant's fixtures use. */
  rule: string;
  /**
   * An invoice id. The admin API cannot issue one (closing a period is the CLI's), so this is an
   * id issued nowhere; test/integration/billing/ checks real invoices across tenants.
   */
  invoice: string;
}

export const POLICY_DOC = { rules: [{ type: 'max_tokens', max: 1000 }] };

async function created(r: Promise<{ status: number; text: string; json: Record<string, unknown> }>, field = 'id'): Promise<string> {
  const reply = await r;
  expect(reply.status, reply.text).toBe(201);
  return str(reply.json[field]);
}

export async function seedResources(admin: Client, tenant: string, slug: string): Promise<TenantFixtures> {
  const base = `/tenants/${tenant}`;
  const team = await created(admin('POST', `${base}/teams`, { body: { slug: 'core', name: 'Core' } }));
  const user = await created(admin('POST', `${base}/users`, { body: { email: `owner@${slug}.example.com`, roles: ['tenant_viewer'] } }));
  const membership = await created(admin('POST', `${base}/memberships`, { body: { user_id: user, role: 'tenant_developer' } }));
  const service_account = await created(admin('POST', `${base}/service-accounts`, { body: { name: 'ci' } }));
  const api_key = await created(admin('POST', `${base}/api-keys`, { body: { name: 'app', team_id: team } }));
  const admin_key = await created(admin('POST', `${base}/admin-keys`, { body: { name: 'ci', role: 'tenant_viewer', service_account_id: service_account } }));
  const policy = await created(admin('POST', `${base}/policies`, { body: { name: 'caps', document: POLICY_DOC } }));
  const domain = await created(admin('POST', `${base}/domains`, { body: { domain: `ai.${slug}.example.com` } }), 'domain');
  const jwt_issuer = await created(
    admin('POST', `${base}/jwt-issuers`, { body: { issuer: `https://idp.${slug}.example.com/`, jwks_url: `https://idp.${slug}.example.com/jwks.json` } }),
  );
  const provider_credential = await created(
    admin('POST', `${base}/provider-credentials`, { body: { name: 'openai', provider: 'openai', secret: `sk-${slug}-SECRET-CANARY-0123456789` } }),
  );
  const webhook = await created(
    admin('POST', `${base}/webhooks`, { body: { url: `https://hooks.${slug}.example.com/in`, events: ['budget.threshold'], secret: `whsec-${slug}-CANARY-0123456789` } }),
  );
  const rule = await created(
    admin('POST', `${base}/limits/rules`, { body: { id: `${slug}-app-rpm`, scope: 'key', subject: api_key, metric: 'requests', window: 'minute', limit: 10 } }),
  );
  const deployment = await created(
    admin('POST', `${base}/deployments`, { body: { model: `${slug}-llm`, provider: 'openai-compatible', base_url: `https://llm.${slug}.example.com/v1` } }),
  );
  const alias = `${slug}-fast`;
  const aliased = await admin('POST', `${base}/aliases`, { body: { alias, model: 'gpt-4o-mini' } });
  expect(aliased.status, aliased.text).toBe(201);
  return { tenant, slug, team, user, membership, service_account, api_key, admin_key, policy, domain, jwt_issuer, provider_credential, webhook, deployment, alias, alert: randomUUID(), request_id: `req-${randomUUID()}`, plan: 'standard', rule, invoice: randomUUID() };
}

/** Raises an alert in the tenant through the store (a kind no fixture webhook subscribes to). */
export async function seedAlert(store: Pick<Store, 'withTenant'>, tenant: string): Promise<string> {
  const raised = await store.withTenant(tenant, (tx) => alertsRepo.raise(tx, { kind: 'usage.anomaly', alertKey: `fixture-${randomUUID()}`, payload: { fixture: true } }));
  if (raised === null) throw new Error('fixture alert exists');
  return raised.alert.id;
}

/** Stores a metadata-only request log entry in the tenant; returns its request id. */
export async function seedRequestLog(store: Pick<Store, 'withTenant'>, tenant: string): Promise<string> {
  const requestId = `fixture-${randomUUID()}`;
  await store.withTenant(tenant, async (tx) => {
    await requestLogsRepo.lockUsage(tx);
    await requestLogsRepo.insert(tx, [
      {
        id: randomUUID(), requestId, occurredAt: Date.now(), keyId: null, teamId: null, endUser: null, operation: 'chat', model: 'gpt-4o-mini',
        deploymentId: null, status: 200, latencyMs: 1, inputTokens: null, outputTokens: null, streamed: false, clientAborted: false,
        cacheHit: false, content: null, contentTruncated: false, bytes: 256,
      },
    ]);
    await requestLogsRepo.addUsage(tx, { bytes: 256, entries: 1 });
  });
  return requestId;
}
