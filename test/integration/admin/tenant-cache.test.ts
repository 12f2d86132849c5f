/**
 * The response-cache opt-in through the admin API: a tenant admin turns it on for its own tenant
 * (PATCH /tenants/{tenant} `cache`), the view shows it, the data plane starts caching, another
 * tenant's admin cannot touch it, billing does not see it, and bad values are a 400.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../helpers/gateway.js';
import { BOOTSTRAP_KEY, client, envelope, etag, makeTenant, roleKey, startAdminGateway, str, type Client } from './helpers.js';

let gw: TestGateway;
let platform: Client;

beforeAll(async () => {
  gw = await startAdminGateway();
  platform = client(gw, BOOTSTRAP_KEY);
});
afterAll(async () => {
  await gw?.stop();
});

async function ask(key: string): Promise<string | undefined> {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content: 'cached?' }] }),
  });
  await res.body.text();
  expect(res.statusCode).toBe(200);
  const h = res.headers['x-gatehouse-cache'];
  return typeof h === 'string' ? h : undefined;
}

describe('tenant cache settings', () => {
  it("a tenant admin cannot opt in when the tenant's plan has no caching (a plan feature); the operator can, and nothing is cached", async () => {
    const plan = await platform('POST', '/plans', { body: { name: 'no-cache-plan', weight: 1, rules: [] } });
    expect(plan.status, plan.text).toBe(201);
    const priced = await platform('POST', '/plans/no-cache-plan/pricing', { body: { pricing: { features: { caching: false } } } });
    expect(priced.status, priced.text).toBe(200);
    const t = await platform('POST', '/tenants', { body: { slug: 'cache-unsold', name: 'Unsold', plan: 'no-cache-plan' } });
    expect(t.status, t.text).toBe(201);
    const id = str(t.json.id);
    const adminKey = await platform('POST', `/tenants/${id}/admin-keys`, { body: { name: 'owner', role: 'tenant_admin' } });
    const admin = client(gw, str(adminKey.json.key));
    const before = await admin('GET', `/tenants/${id}`);
    const refused = await admin('PATCH', `/tenants/${id}`, { body: { cache: { enabled: true } }, headers: { 'if-match': etag(before) } });
    expect(refused.status, refused.text).toBe(403);
    expect(envelope(refused, 403, 'forbidden').param).toBe('cache.enabled');

    // The operator may store the opt-in; the data plane still honours the plan.
    const forced = await platform('PATCH', `/tenants/${id}`, { body: { cache: { enabled: true } }, headers: { 'if-match': etag(before) } });
    expect(forced.status, forced.text).toBe(200);
    const key = await admin('POST', `/tenants/${id}/api-keys`, { body: { name: 'app' } });
    const apiKey = str(key.json.key);
    for (let i = 0; i < 6; i++) {
      expect(await ask(apiKey)).toBeUndefined();
      await new Promise((r) => setTimeout(r, 50));
    }
  });


  it('a tenant admin opts its tenant in; the data plane caches from then on', async () => {
    const t = await makeTenant(platform, 'cache-optin');
    const admin = client(gw, t.admin);
    const before = await admin('GET', `/tenants/${t.id}`);
    expect(before.json.cache).toEqual({ enabled: false, ttl_seconds: 3600 });
    const key = await admin('POST', `/tenants/${t.id}/api-keys`, { body: { name: 'app' } });
    expect(key.status, key.text).toBe(201);
    const apiKey = str(key.json.key);
    expect(await ask(apiKey)).toBeUndefined();

    const on = await admin('PATCH', `/tenants/${t.id}`, { body: { cache: { enabled: true, ttl_seconds: 120 } }, headers: { 'if-match': etag(before) } });
    expect(on.status, on.text).toBe(200);
    expect(on.json.cache).toEqual({ enabled: true, ttl_seconds: 120 });

    // The opt-in is read off the request path: the first request after the change loads it.
    let seen: string | undefined;
    for (let i = 0; i < 50 && seen !== 'hit'; i++) {
      seen = await ask(apiKey);
      if (seen !== 'hit') await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen).toBe('hit');

    const billing = client(gw, await roleKey(admin, t.id, 'tenant_billing'));
    expect((await billing('GET', `/tenants/${t.id}`)).json.cache).toBeUndefined();
  });

  it('refuses bad values and other tenants\' admins', async () => {
    const t = await makeTenant(platform, 'cache-bad');
    const other = await makeTenant(platform, 'cache-other');
    const admin = client(gw, t.admin);
    const cur = await admin('GET', `/tenants/${t.id}`);
    const bad = await admin('PATCH', `/tenants/${t.id}`, { body: { cache: { enabled: true, ttl_seconds: 0 } }, headers: { 'if-match': etag(cur) } });
    expect(envelope(bad, 400, 'invalid_request').param).toMatch(/cache/);
    const foreign = await client(gw, other.admin)('PATCH', `/tenants/${t.id}`, { body: { cache: { enabled: true } }, headers: { 'if-match': etag(cur) } });
    expect([403, 404]).toContain(foreign.status);
    expect((await admin('GET', `/tenants/${t.id}`)).json.cache).toEqual({ enabled: false, ttl_seconds: 3600 });
  });
});
