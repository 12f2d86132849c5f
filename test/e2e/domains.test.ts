/**
 * Custom domains added through the admin API must be proven with a DNS TXT record before they
 * identify their tenant; pending claims squat nothing. A real gateway, a real (local) DNS server.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_KEY, client, envelope, makeTenant, str, type Client } from '../integration/admin/helpers.js';
import { startTestDns, type TestDns } from '../helpers/dns.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let dns: TestDns;
let platform: Client;

interface DomainView {
  status: string;
  verification: { type: string; name: string; value: string } | null;
  verified_at: string | null;
}

async function chat(key: string, host: string): Promise<number> {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, host, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.body.text();
  return res.statusCode;
}

async function tenantWithKey(slug: string): Promise<{ admin: Client; key: string }> {
  const t = await makeTenant(platform, slug);
  const admin = client(gw, t.admin);
  const k = await admin('POST', `/tenants/${slug}/api-keys`, { body: { name: 'app' } });
  expect(k.status, k.text).toBe(201);
  return { admin, key: str(k.json.key) };
}

beforeAll(async () => {
  dns = await startTestDns();
  gw = await startTestGateway({
    env: { GATEHOUSE_ADMIN_KEY: BOOTSTRAP_KEY },
    yaml: `domainVerification:\n  resolvers: ["${dns.server}"]\n`,
  });
  platform = client(gw, BOOTSTRAP_KEY);
});
afterAll(async () => {
  await gw?.stop();
  await dns?.close();
});

describe('proof of domain ownership', () => {
  it('a claim routes nothing until its TXT record is published and verified', async () => {
    const acme = await tenantWithKey('acme-dns');
    const globex = await tenantWithKey('globex-dns');

    const added = await acme.admin('POST', '/tenants/acme-dns/domains', { body: { domain: 'ai.acme-dns.test' } });
    expect(added.status, added.text).toBe(201);
    const pending = added.json as unknown as DomainView;
    expect(pending.status).toBe('pending');
    expect(pending.verification?.name).toBe('_gatehouse-challenge.ai.acme-dns.test');
    expect(pending.verification?.value).toMatch(/^gatehouse-domain-verification=[A-Za-z0-9_-]{43}$/);

    // Pending: the Host names no tenant, so another tenant's key is served as usual.
    expect(await chat(globex.key, 'ai.acme-dns.test')).toBe(200);

    // Not published yet, then published with the wrong value: refused.
    envelope(await acme.admin('POST', '/tenants/acme-dns/domains/ai.acme-dns.test/verify'), 409, 'conflict');
    dns.txt.set('_gatehouse-challenge.ai.acme-dns.test', [['gatehouse-domain-verification=wrong']]);
    envelope(await acme.admin('POST', '/tenants/acme-dns/domains/ai.acme-dns.test/verify'), 409, 'conflict');

    // Published (split into two strings, as long TXT values are): verified.
    const value = pending.verification?.value ?? '';
    dns.txt.set('_gatehouse-challenge.ai.acme-dns.test', [['unrelated'], [value.slice(0, 20), value.slice(20)]]);
    const verified = await acme.admin('POST', '/tenants/acme-dns/domains/ai.acme-dns.test/verify');
    expect(verified.status, verified.text).toBe(200);
    expect((verified.json as unknown as DomainView).status).toBe('verified');
    expect((verified.json as unknown as DomainView).verification).toBeNull();

    // Now the Host identifies acme: globex's key there is a conflicting identity; acme's is served.
    expect(await chat(globex.key, 'ai.acme-dns.test')).toBeGreaterThanOrEqual(400);
    expect(await chat(acme.key, 'ai.acme-dns.test')).toBe(200);
  });

  it('a pending claim squats nothing, and a second proof of a verified name is refused', async () => {
    const squatter = await tenantWithKey('squatter-dns');
    const owner = await tenantWithKey('owner-dns');

    // The squatter claims first; the owner's claim still succeeds and proves the name.
    const squat = await squatter.admin('POST', '/tenants/squatter-dns/domains', { body: { domain: 'api.owner-dns.test' } });
    expect(squat.status, squat.text).toBe(201);
    const claim = await owner.admin('POST', '/tenants/owner-dns/domains', { body: { domain: 'api.owner-dns.test' } });
    expect(claim.status, claim.text).toBe(201);
    const ownerValue = (claim.json as unknown as DomainView).verification?.value ?? '';
    dns.txt.set('_gatehouse-challenge.api.owner-dns.test', [[ownerValue]]);
    expect((await owner.admin('POST', '/tenants/owner-dns/domains/api.owner-dns.test/verify')).status).toBe(200);

    // The squatter cannot prove it (its own challenge is not published) ...
    envelope(await squatter.admin('POST', '/tenants/squatter-dns/domains/api.owner-dns.test/verify'), 409);
    // ... and even with its record published too, the name is taken.
    const squatValue = (squat.json as unknown as DomainView).verification?.value ?? '';
    dns.txt.set('_gatehouse-challenge.api.owner-dns.test', [[ownerValue], [squatValue]]);
    envelope(await squatter.admin('POST', '/tenants/squatter-dns/domains/api.owner-dns.test/verify'), 409);
    expect(await chat(owner.key, 'api.owner-dns.test')).toBe(200);
    expect(await chat(squatter.key, 'api.owner-dns.test')).toBeGreaterThanOrEqual(400);

    // Claiming the same name twice in one tenant is a conflict; another tenant's path is a 404.
    envelope(await owner.admin('POST', '/tenants/owner-dns/domains', { body: { domain: 'api.owner-dns.test' } }), 409);
    envelope(await owner.admin('POST', '/tenants/squatter-dns/domains/api.owner-dns.test/verify'), 404);
  });
});
