/**
 * Keys through the admin API: secrets shown once and never again, rotation with a grace period,
 * revocation, per-field views per role, and admin keys bound to users and service accounts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../helpers/gateway.js';
import { BOOTSTRAP_KEY, chat, client, envelope, etag, makeTenant, roleKey, startAdminGateway, str, type Client } from './helpers.js';

let gw: TestGateway;
let platform: Client;
let tenant: { id: string; slug: string; admin: string };
let admin: Client;
const base = () => `/tenants/${tenant.id}`;

beforeAll(async () => {
  gw = await startAdminGateway();
  platform = client(gw, BOOTSTRAP_KEY);
  tenant = await makeTenant(platform, 'keys');
  admin = client(gw, tenant.admin);
});
afterAll(async () => {
  await gw?.stop();
});

describe('API keys', () => {
  it('shows the secret once: never in GET, lists, or to anyone else', async () => {
    const created = await admin('POST', `${base()}/api-keys`, { body: { name: 'once', scopes: ['chat'] } });
    const secret = str(created.json.key);
    expect(secret).toMatch(/^ghk_[0-9A-Za-z]{8}_[0-9A-Za-z]{40}$/);
    expect(created.json.prefix).toBe(secret.slice(0, 12));
    const id = str(created.json.id);
    for (const [who, c] of [
      ['admin', admin],
      ['platform', platform],
      ['billing', client(gw, await roleKey(admin, tenant.id, 'tenant_billing'))],
      ['viewer', client(gw, await roleKey(admin, tenant.id, 'tenant_viewer'))],
    ] as const) {
      for (const path of [`${base()}/api-keys/${id}`, `${base()}/api-keys`]) {
        const r = await c('GET', path);
        expect({ who, path, status: r.status }).toEqual({ who, path, status: 200 });
        expect(r.text).not.toContain(secret);
        expect(r.text).not.toContain(secret.slice(13));
        expect(r.text).not.toContain('"key":');
      }
    }
    expect(gw.logs.join('')).not.toContain(secret.slice(13));
  });

  it('shows each role the fields it may see', async () => {
    const created = await admin('POST', `${base()}/api-keys`, { body: { name: 'fields' } });
    const path = `${base()}/api-keys/${str(created.json.id)}`;
    const billing = await client(gw, await roleKey(admin, tenant.id, 'tenant_billing'))('GET', path);
    expect(Object.keys(billing.json).sort()).toEqual(['created_at', 'id', 'name', 'object', 'status', 'team_id']);
    const plat = await platform('GET', path);
    expect(plat.json).not.toHaveProperty('prefix');
    expect(plat.json).not.toHaveProperty('owner');
    expect(plat.json).not.toHaveProperty('allowed_cidrs');
    expect(plat.json).toHaveProperty('scopes');
    const dev = await client(gw, await roleKey(admin, tenant.id, 'tenant_developer'))('GET', path);
    expect(dev.json).toHaveProperty('prefix');
    expect(dev.json).toHaveProperty('owner');
    const tb = await client(gw, await roleKey(admin, tenant.id, 'tenant_billing'))('GET', base());
    expect(Object.keys(tb.json).sort()).toEqual(['budget_action', 'id', 'name', 'object', 'plan', 'slug', 'status']);
  });

  it('enforces scopes and expiry on the data plane as set through the API', async () => {
    const embed = await admin('POST', `${base()}/api-keys`, { body: { name: 'embed', scopes: ['embeddings'] } });
    expect(await chat(gw, str(embed.json.key))).toEqual({ status: 403, code: 'insufficient_scope' });
    const widened = await admin('PATCH', `${base()}/api-keys/${str(embed.json.id)}`, {
      body: { scopes: ['chat'] },
      headers: { 'if-match': etag(embed) },
    });
    expect(widened.status, widened.text).toBe(200);
    expect((await chat(gw, str(embed.json.key))).status).toBe(200);
    envelope(await admin('POST', `${base()}/api-keys`, { body: { name: 'past', expires_at: '2020-01-01T00:00:00Z' } }), 400, 'invalid_request');
  });

  it('rotates: the new key works at once, the old one until the grace period ends', async () => {
    const created = await admin('POST', `${base()}/api-keys`, { body: { name: 'rot' } });
    const oldKey = str(created.json.key);
    const before = Date.now();
    const rotated = await admin('POST', `${base()}/api-keys/${str(created.json.id)}/rotate`, { body: { grace_period_seconds: 3600 } });
    expect(rotated.status, rotated.text).toBe(201);
    const newKey = str(rotated.json.key);
    expect(newKey).not.toBe(oldKey);
    expect(rotated.json).toMatchObject({ name: 'rot', rotated_from: created.json.id, status: 'active' });
    expect((await chat(gw, newKey)).status).toBe(200);
    expect((await chat(gw, oldKey)).status).toBe(200);
    const old = await admin('GET', `${base()}/api-keys/${str(created.json.id)}`);
    const expires = Date.parse(str(old.json.expires_at));
    expect(expires).toBeGreaterThanOrEqual(before + 3_599_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 3_601_000);

    const again = await admin('POST', `${base()}/api-keys/${str(rotated.json.id)}/rotate`, { body: { grace_period_seconds: 0 } });
    expect((await chat(gw, str(again.json.key))).status).toBe(200);
    expect(await chat(gw, newKey)).toEqual({ status: 401, code: 'expired_api_key' });
    envelope(await admin('POST', `${base()}/api-keys/${str(rotated.json.id)}/rotate`), 409, 'conflict');
  });

  it('revokes at once, idempotently; a revoked key cannot be changed', async () => {
    const created = await admin('POST', `${base()}/api-keys`, { body: { name: 'rev' } });
    const path = `${base()}/api-keys/${str(created.json.id)}`;
    const r1 = await admin('POST', `${path}/revoke`);
    expect(r1.json.status).toBe('revoked');
    expect((await chat(gw, str(created.json.key))).status).toBe(401);
    const r2 = await admin('POST', `${path}/revoke`);
    expect(r2.json.revoked_at).toBe(r1.json.revoked_at);
    envelope(await admin('PATCH', path, { body: { name: 'zombie' }, headers: { 'if-match': etag(r2) } }), 409, 'conflict');
    const listed = await admin('GET', `${base()}/api-keys?status=revoked`);
    expect((listed.json.data as { id: string }[]).map((k) => k.id)).toContain(created.json.id);
  });

  it('a developer may manage keys but not teams, users or policies', async () => {
    const dev = client(gw, await roleKey(admin, tenant.id, 'tenant_developer'));
    expect((await dev('POST', `${base()}/api-keys`, { body: { name: 'dev' } })).status).toBe(201);
    envelope(await dev('POST', `${base()}/teams`, { body: { slug: 'devteam' } }), 403, 'forbidden');
    envelope(await dev('POST', `${base()}/admin-keys`, { body: { name: 'up', role: 'tenant_admin' } }), 403, 'forbidden');
  });
});

describe('admin keys', () => {
  it('whoami names the principal; revoked admin keys stop at once', async () => {
    const k = await admin('POST', `${base()}/admin-keys`, { body: { name: 'temp', role: 'tenant_viewer' } });
    const viewer = client(gw, str(k.json.key));
    const me = await viewer('GET', '/whoami');
    expect(me.json).toMatchObject({ role: 'tenant_viewer', kind: 'admin_key', tenant: { id: tenant.id, slug: tenant.slug } });
    expect(me.json.permissions).toContain('api_keys.read');
    expect(me.json.permissions).not.toContain('api_keys.write');
    await admin('POST', `${base()}/admin-keys/${str(k.json.id)}/revoke`);
    envelope(await viewer('GET', '/whoami'), 401, 'invalid_api_key');
  });

  it('a user-bound key works while the user is active and holds the role', async () => {
    const u = await admin('POST', `${base()}/users`, { body: { email: 'ada@keys.example.com', name: 'Ada', roles: ['tenant_developer'] } });
    envelope(await admin('POST', `${base()}/admin-keys`, { body: { name: 'ada', role: 'tenant_admin', user_id: u.json.id } }), 400, 'invalid_request');
    const k = await admin('POST', `${base()}/admin-keys`, { body: { name: 'ada', role: 'tenant_developer', user_id: u.json.id } });
    expect(k.status, k.text).toBe(201);
    const ada = client(gw, str(k.json.key));
    expect((await ada('GET', '/whoami')).status).toBe(200);
    const ms = await admin('GET', `${base()}/memberships?user_id=${str(u.json.id)}&role=tenant_developer`);
    const membership = (ms.json.data as { id: string }[])[0];
    await admin('DELETE', `${base()}/memberships/${membership?.id ?? ''}`);
    envelope(await ada('GET', '/whoami'), 401, 'invalid_api_key');
    await admin('POST', `${base()}/memberships`, { body: { user_id: u.json.id, role: 'tenant_developer' } });
    expect((await ada('GET', '/whoami')).status).toBe(200);
    const user = await admin('GET', `${base()}/users/${str(u.json.id)}`);
    await admin('PATCH', `${base()}/users/${str(u.json.id)}`, { body: { status: 'disabled' }, headers: { 'if-match': etag(user) } });
    envelope(await ada('GET', '/whoami'), 401, 'invalid_api_key');
  });

  it("a service account's keys stop when it is disabled; deleting it revokes its API keys", async () => {
    const sa = await admin('POST', `${base()}/service-accounts`, { body: { name: 'deployer' } });
    const k = await admin('POST', `${base()}/admin-keys`, { body: { name: 'deploy', role: 'tenant_developer', service_account_id: sa.json.id } });
    const bot = client(gw, str(k.json.key));
    const apiKey = await bot('POST', `${base()}/api-keys`, { body: { name: 'bot', owner: { service_account_id: sa.json.id } } });
    expect(apiKey.status, apiKey.text).toBe(201);
    expect(apiKey.json.owner).toEqual({ user_id: null, service_account_id: sa.json.id });
    const disabled = await admin('PATCH', `${base()}/service-accounts/${str(sa.json.id)}`, { body: { disabled: true }, headers: { 'if-match': etag(sa) } });
    expect(disabled.json.disabled).toBe(true);
    envelope(await bot('GET', '/whoami'), 401, 'invalid_api_key');
    expect((await chat(gw, str(apiKey.json.key))).status).toBe(200);
    const del = await admin('DELETE', `${base()}/service-accounts/${str(sa.json.id)}`, { headers: { 'if-match': etag(disabled) } });
    expect(del.status, del.text).toBe(204);
    expect((await chat(gw, str(apiKey.json.key))).status).toBe(401);
    expect((await admin('GET', `${base()}/admin-keys/${str(k.json.id)}`)).status).toBe(404);
  });

  it('keeps platform roles in the platform scope and tenant roles in tenants', async () => {
    envelope(await platform('POST', '/admin-keys', { body: { name: 'x', role: 'tenant_admin' } }), 400, 'invalid_request');
    envelope(await platform('POST', `${base()}/admin-keys`, { body: { name: 'x', role: 'platform_admin' } }), 400, 'invalid_request');
    const auditor = await platform('POST', '/admin-keys', { body: { name: 'aud', role: 'platform_auditor', expires_at: '2099-01-01T00:00:00Z' } });
    expect(auditor.json).toMatchObject({ role: 'platform_auditor', status: 'active', created_by: 'bootstrap' });
    const aud = client(gw, str(auditor.json.key));
    expect((await aud('GET', '/whoami')).json).toMatchObject({ role: 'platform_auditor', tenant: null, permissions: ['self.read', 'audit.read', 'platform_audit.read'] });
    envelope(await aud('GET', '/tenants'), 403, 'forbidden');
  });

  it('refuses malformed, unknown and non-Bearer credentials alike', async () => {
    for (const header of ['Bearer nope', 'Basic Zm9vOmJhcg==', 'Bearer gha_00000000000000000000000000000000_' + 'a'.repeat(48), 'Bearer ' + 'x'.repeat(600)]) {
      const r = await client(gw, undefined)('GET', '/whoami', { headers: { authorization: header } });
      expect(r.status).toBe(401);
      expect(r.json.error?.code).toBe('invalid_api_key');
    }
    const dataPlane = await client(gw, 'ghk_demo0000_testkeyforthedemotenant000000000000')('GET', '/whoami');
    envelope(dataPlane, 401, 'invalid_api_key');
  });
});
