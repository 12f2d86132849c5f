/**
 * Failed key uses on the data plane end up in the key tenant's audit log, read back through the
 * admin audit API: written off the request path (batched), with the key, reason, address and
 * request id but never the secret; the chain still verifies; a flood writes bounded entries.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../src/audit/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { BOOTSTRAP_KEY, client, makeTenant, startAdminGateway, str, type Client } from '../integration/admin/helpers.js';

interface Entry {
  seq: number;
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
let acme: { id: string; slug: string; admin: string };
let other: { id: string; slug: string; admin: string };

beforeAll(async () => {
  gw = await startAdminGateway();
  platform = client(gw, BOOTSTRAP_KEY);
  acme = await makeTenant(platform, 'audit-acme');
  other = await makeTenant(platform, 'audit-other');
});
afterAll(async () => {
  await gw?.stop();
});

async function chat(key: string, requestId?: string): Promise<number> {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(requestId ? { 'x-request-id': requestId } : {}) },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.body.text();
  return res.statusCode;
}

async function newKey(tenant: { slug: string; admin: string }, body: Record<string, unknown> = {}) {
  const r = await client(gw, tenant.admin)('POST', `/tenants/${tenant.slug}/api-keys`, { body: { name: 'app', ...body } });
  expect(r.status, r.text).toBe(201);
  return { id: str(r.json.id), key: str(r.json.key), prefix: str(r.json.prefix) };
}

async function failures(tenant: { slug: string; admin: string }, keyId?: string): Promise<Entry[]> {
  const query = `action=api_key.auth_failed&order=asc&limit=1000${keyId ? `&actor_id=${keyId}` : ''}`;
  const r = await client(gw, tenant.admin)('GET', `/tenants/${tenant.slug}/audit?${query}`);
  expect(r.status, r.text).toBe(200);
  return r.json.data as Entry[];
}

/** Polls until `done` holds: entries are flushed about once a second, off the request path. */
async function eventually<T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > until) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('data-plane key failures in the audit log', () => {
  it('a wrong secret behind a key prefix becomes an entry of that key tenant, without the secret', async () => {
    const k = await newKey(acme);
    const forged = `${k.prefix}_${'W'.repeat(40)}`;
    expect(await chat(forged, 'req-wrong-secret-1')).toBe(401);
    const entries = await eventually(() => failures(acme, k.id), (es) => es.length > 0);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      action: 'api_key.auth_failed',
      outcome: 'failure',
      actor_kind: 'api_key',
      actor_id: k.id,
      target_id: k.id,
      source_ip: '127.0.0.1',
      request_id: 'req-wrong-secret-1',
      after: { reason: 'wrong_secret', key_prefix: k.prefix, attempts: 1 },
    });
    expect(JSON.stringify(entries)).not.toContain('WWWW');
    // Only the key's tenant hears of it; a made-up prefix is nobody's and is not audited.
    expect(await chat(`ghk_nobody00_${'x'.repeat(40)}`)).toBe(401);
    expect(await failures(other)).toEqual([]);
    expect(await verifyAuditChain(gw.store, acme.id)).toMatchObject({ ok: true });
  });

  it('a revoked key and a key without the scope are named with their reasons', async () => {
    const admin = client(gw, acme.admin);
    const gone = await newKey(acme);
    expect(await chat(gone.key)).toBe(200);
    expect((await admin('POST', `/tenants/${acme.slug}/api-keys/${gone.id}/revoke`)).status).toBe(200);
    expect(await chat(gone.key)).toBe(401);
    const lister = await newKey(acme, { scopes: ['models:read'] });
    expect(await chat(lister.key)).toBe(403);

    const revoked = await eventually(() => failures(acme, gone.id), (es) => es.length > 0);
    expect(revoked.map((e) => [e.outcome, e.after?.reason])).toEqual([['failure', 'revoked']]);
    const scoped = await eventually(() => failures(acme, lister.id), (es) => es.length > 0);
    expect(scoped.map((e) => [e.outcome, e.after?.reason])).toEqual([['denied', 'insufficient_scope']]);
  });

  it('a flood on one key writes bounded entries that still count every attempt, and the chain verifies', async () => {
    const fenced = await newKey(acme, { allowed_cidrs: ['10.0.0.0/8'] });
    const ATTEMPTS = 100;
    for (let i = 0; i < ATTEMPTS; i += 20) {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => chat(fenced.key)));
      expect(new Set(statuses)).toEqual(new Set([403]));
    }
    const attempts = (es: Entry[]) => es.reduce((n, e) => n + (e.after?.attempts ?? 0), 0);
    // The first attempt at once; the others in one entry when the 10 s window ends.
    const entries = await eventually(() => failures(acme, fenced.id), (es) => attempts(es) >= ATTEMPTS, 30_000);
    expect(attempts(entries)).toBe(ATTEMPTS);
    expect(entries.length).toBeLessThanOrEqual(3);
    expect(entries[0]?.after).toMatchObject({ reason: 'ip_not_allowed', attempts: 1 });
    expect(entries.every((e) => e.outcome === 'denied' && e.after?.reason === 'ip_not_allowed')).toBe(true);
    expect(await verifyAuditChain(gw.store, acme.id)).toMatchObject({ ok: true });
  }, 60_000);
});
