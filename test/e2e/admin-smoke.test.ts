/** The admin API end to end: onboard a tenant, give it a key, and use the key on the data plane. */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../helpers/gateway.js';
import { BOOTSTRAP_KEY, client, makeTenant, startAdminGateway, str, type Client } from '../integration/admin/helpers.js';

let gw: TestGateway;
let platform: Client;

beforeAll(async () => {
  gw = await startAdminGateway();
  platform = client(gw, BOOTSTRAP_KEY);
});
afterAll(async () => {
  await gw?.stop();
});

async function chat(key: string) {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.body.text();
  return res.statusCode;
}

describe('admin API smoke', () => {
  it('onboards a tenant whose new API key works on the data plane at once, and stops at once when revoked', async () => {
    const t = await makeTenant(platform, 'smoke');
    const admin = client(gw, t.admin);
    const created = await admin('POST', `/tenants/${t.slug}/api-keys`, { body: { name: 'app' } });
    expect(created.status, created.text).toBe(201);
    const key = str(created.json.key);
    expect(await chat(key)).toBe(200);
    const revoked = await admin('POST', `/tenants/${t.slug}/api-keys/${str(created.json.id)}/revoke`);
    expect(revoked.status, revoked.text).toBe(200);
    expect(await chat(key)).toBe(401);
  });
});
