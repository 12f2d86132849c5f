/**
 * `server.trustedProxies` over real HTTP: through a trusted peer (here the test itself, at
 * 127.0.0.1) a key's IP allow-list and the audit log see the address X-Forwarded-For names;
 * from a peer that is not trusted the same header is ignored, so it cannot be spoofed.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { BOOTSTRAP_KEY, client, makeTenant, startAdminGateway, str } from '../integration/admin/helpers.js';

interface Gw {
  gw: TestGateway;
  tenant: { slug: string; admin: string };
  key: { id: string; key: string };
}

async function gatewayWith(trusted: string[]): Promise<Gw> {
  const gw = await startAdminGateway({ yaml: `server:\n  trustedProxies: [${trusted.join(', ')}]\n` });
  const tenant = await makeTenant(client(gw, BOOTSTRAP_KEY), 'proxied');
  const made = await client(gw, tenant.admin)('POST', `/tenants/${tenant.slug}/api-keys`, {
    body: { name: 'office', allowed_cidrs: ['203.0.113.0/24'] },
  });
  expect(made.status, made.text).toBe(201);
  return { gw, tenant, key: { id: str(made.json.id), key: str(made.json.key) } };
}

async function chat(g: Gw, headers: Record<string, string>): Promise<{ status: number; code: string | undefined }> {
  const res = await request(`${g.gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${g.key.key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const body = (await res.body.json()) as { error?: { code: string } };
  return { status: res.statusCode, code: body.error?.code };
}

let behind: Gw;
let exposed: Gw;

beforeAll(async () => {
  [behind, exposed] = await Promise.all([gatewayWith(['127.0.0.1/32']), gatewayWith(['10.0.0.0/8'])]);
});
afterAll(async () => {
  await Promise.all([behind?.gw.stop(), exposed?.gw.stop()]);
});

describe('trusted proxies', () => {
  it('through a trusted peer, the allow-list sees the forwarded client address', async () => {
    expect((await chat(behind, { 'x-forwarded-for': '203.0.113.9' })).status).toBe(200);
    expect(await chat(behind, { 'x-forwarded-for': '198.51.100.1' })).toEqual({ status: 403, code: 'ip_not_allowed' });
    // The peer itself is not in the allow-list.
    expect(await chat(behind, {})).toEqual({ status: 403, code: 'ip_not_allowed' });
    // What a client prepends is left of the address the proxy saw: it does not count.
    expect((await chat(behind, { 'x-forwarded-for': '203.0.113.9, 198.51.100.1' })).status).toBe(403);
  });

  it('ignores malformed header values safely: the trusted peer itself stands as the client', async () => {
    for (const bad of ['garbage', '203.0.113.9 , nope', 'unknown', '[203.0.113.9']) {
      expect([bad, (await chat(behind, { 'x-forwarded-for': bad })).status]).toEqual([bad, 403]);
    }
  });

  it('from a peer that is not trusted, a spoofed X-Forwarded-For is ignored', async () => {
    expect(await chat(exposed, { 'x-forwarded-for': '203.0.113.9' })).toEqual({ status: 403, code: 'ip_not_allowed' });
    expect(await chat(exposed, { forwarded: 'for=203.0.113.9' })).toEqual({ status: 403, code: 'ip_not_allowed' });
  });

  it('the audit log records the forwarded address', async () => {
    const forged = { ...behind, key: { ...behind.key, key: `${behind.key.key.slice(0, -40)}${'F'.repeat(40)}` } };
    expect((await chat(forged, { 'x-forwarded-for': '198.51.100.77', 'x-request-id': 'req-proxied-1' })).status).toBe(401);
    const admin = client(behind.gw, behind.tenant.admin);
    const until = Date.now() + 15_000;
    let entry: { source_ip?: string; after?: { reason?: string } } | undefined;
    while (entry === undefined && Date.now() < until) {
      const r = await admin('GET', `/tenants/${behind.tenant.slug}/audit?action=api_key.auth_failed&actor_id=${behind.key.id}`);
      entry = (r.json.data as { request_id: string; source_ip: string }[]).find((e) => e.request_id === 'req-proxied-1');
      if (entry === undefined) await new Promise((r) => setTimeout(r, 250));
    }
    expect(entry).toMatchObject({ source_ip: '198.51.100.77', after: { reason: 'wrong_secret' } });
  });
});
