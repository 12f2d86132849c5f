/**
 * Refused admin logins over HTTP: audited in the tenant of the key they claim to be (else in the
 * platform scope, readable by platform auditors), never with the secret; and limited per client
 * address and key prefix, with 429 and Retry-After in the admin error envelope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../../src/audit/index.js';
import type { TestGateway } from '../../helpers/gateway.js';
import { BOOTSTRAP_KEY, client, envelope, makeTenant, startAdminGateway, str, type Client } from './helpers.js';

interface Entry {
  action: string;
  outcome: string;
  actor_kind: string;
  actor_id: string | null;
  target_id: string | null;
  source_ip: string | null;
  request_id: string | null;
  after: { reason?: string; key_prefix?: string; attempts?: number } | null;
}

let gw: TestGateway;
let platform: Client;
let auditor: Client;
let tenant: { id: string; slug: string; admin: string };

beforeAll(async () => {
  gw = await startAdminGateway();
  platform = client(gw, BOOTSTRAP_KEY);
  tenant = await makeTenant(platform, 'logins');
  const k = await platform('POST', '/admin-keys', { body: { name: 'auditor', role: 'platform_auditor' } });
  expect(k.status, k.text).toBe(201);
  auditor = client(gw, str(k.json.key));
});
afterAll(async () => {
  await gw?.stop();
});

/** The same key with another secret: the scope and the public prefix stay. */
function forge(key: string, fill = 'Z'): string {
  return key.slice(0, key.length - 40) + fill.repeat(40);
}

async function eventually<T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function log(c: Client, path: string): Promise<Entry[]> {
  const r = await c('GET', `${path}?action=admin_key.auth_failed&order=asc`);
  expect(r.status, r.text).toBe(200);
  return r.json.data as Entry[];
}

async function adminKeyId(key: string): Promise<string> {
  const list = await platform('GET', `/tenants/${tenant.id}/admin-keys`);
  const prefix = `gha_${key.split('_')[2]?.slice(0, 8) ?? ''}`;
  const found = (list.json.data as { id: string; prefix: string }[]).find((k) => k.prefix === prefix);
  if (found === undefined) throw new Error(`no admin key with prefix ${prefix}`);
  return found.id;
}

describe('refused admin logins', () => {
  it('a wrong secret behind a tenant admin key is audited in that tenant, naming the key, never the secret', async () => {
    const id = await adminKeyId(tenant.admin);
    const r = await client(gw, forge(tenant.admin))('GET', '/whoami', { headers: { 'x-request-id': 'req-admin-wrong-1' } });
    envelope(r, 401, 'invalid_api_key');
    const tenantLog = () => log(client(gw, tenant.admin), `/tenants/${tenant.slug}/audit`);
    const entries = await eventually(tenantLog, (es) => es.length > 0);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      outcome: 'failure',
      actor_kind: 'api_key',
      actor_id: `admin_key:${id}`,
      target_id: id,
      source_ip: '127.0.0.1',
      request_id: 'req-admin-wrong-1',
      after: { reason: 'wrong_secret', key_prefix: `gha_${tenant.admin.split('_')[2]?.slice(0, 8)}` },
    });
    expect(JSON.stringify(entries)).not.toContain('ZZZZ');
    expect(await verifyAuditChain(gw.store, tenant.id)).toMatchObject({ ok: true });
  });

  it('a revoked admin key is audited as revoked in its tenant', async () => {
    const admin = client(gw, tenant.admin);
    const made = await admin('POST', `/tenants/${tenant.slug}/admin-keys`, { body: { name: 'temp', role: 'tenant_viewer' } });
    expect(made.status, made.text).toBe(201);
    const id = str(made.json.id);
    expect((await admin('POST', `/tenants/${tenant.slug}/admin-keys/${id}/revoke`)).status).toBe(200);
    envelope(await client(gw, str(made.json.key))('GET', '/whoami'), 401, 'invalid_api_key');
    const entries = await eventually(
      () => log(admin, `/tenants/${tenant.slug}/audit`),
      (es) => es.some((e) => e.target_id === id),
    );
    expect(entries.filter((e) => e.target_id === id).map((e) => e.after?.reason)).toEqual(['revoked']);
  });

  it('a credential nobody owns is audited in the platform scope, readable by platform auditors only', async () => {
    envelope(await client(gw, 'not-the-bootstrap-key-0123456789abcdef')('GET', '/whoami', { headers: { 'x-request-id': 'req-anon-1' } }), 401);
    const entries = await eventually(() => log(auditor, '/platform/audit'), (es) => es.some((e) => e.request_id === 'req-anon-1'));
    const mine = entries.find((e) => e.request_id === 'req-anon-1');
    expect(mine).toMatchObject({ actor_kind: 'anonymous', actor_id: null, outcome: 'failure', after: { reason: 'unknown_key' } });
    expect(JSON.stringify(entries)).not.toContain('not-the-bootstrap');
    envelope(await platform('GET', '/platform/audit'), 403, 'forbidden');
    envelope(await client(gw, tenant.admin)('GET', '/platform/audit'), 403, 'forbidden');
  });

  it('limits failures per address and key prefix: the 11th try gets 429 with Retry-After, other keys still work', async () => {
    const guess = `gha_${'0'.repeat(32)}_guess000${'a'.repeat(40)}`;
    const guesser = client(gw, guess);
    for (let i = 0; i < 10; i++) envelope(await guesser('GET', '/whoami'), 401, 'invalid_api_key');
    const limited = await guesser('GET', '/whoami');
    const e = envelope(limited, 429, 'rate_limit_exceeded');
    expect(e.type).toBe('rate_limit_error');
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Even the right secret behind that prefix waits now; other keys from this address do not.
    envelope(await client(gw, guess.slice(0, -1) + 'b')('GET', '/whoami'), 429, 'rate_limit_exceeded');
    expect((await client(gw, tenant.admin)('GET', '/whoami')).status).toBe(200);
    expect((await platform('GET', '/whoami')).status).toBe(200);
    const entries = await eventually(() => log(auditor, '/platform/audit'), (es) => es.some((x) => x.after?.reason === 'rate_limited'));
    expect(entries.find((x) => x.after?.reason === 'rate_limited')).toMatchObject({ outcome: 'denied', after: { key_prefix: 'gha_guess000' } });
    // Eleven unknown-key failures from this address so far: throttled to one entry per 10 s window.
    const unknown = entries.filter((x) => x.after?.reason === 'unknown_key');
    expect(unknown.length).toBeGreaterThanOrEqual(1);
    expect(unknown.length).toBeLessThanOrEqual(3);
  });
});
