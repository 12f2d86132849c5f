/**
 * Tenants through the admin API, as the data plane sees them: plans and limits, optimistic
 * concurrency, pagination, suspension, deletion, and idempotent creation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../helpers/gateway.js';
import { BOOTSTRAP_KEY, chat, client, envelope, etag, makeTenant, startAdminGateway, str, type Client } from './helpers.js';

let gw: TestGateway;
let platform: Client;

beforeAll(async () => {
  gw = await startAdminGateway();
  platform = client(gw, BOOTSTRAP_KEY);
});
afterAll(async () => {
  await gw?.stop();
});

describe('tenant lifecycle', () => {
  it('creates on a plan (template is its old name), with its own rules; the plan is validated', async () => {
    const r = await platform('POST', '/tenants', {
      body: {
        slug: 'tmpl',
        name: 'Templated',
        template: 'free',
        limits: [{ id: 'requests-per-minute', metric: 'requests', window: 'minute', limit: 120 }],
        time_zone: 'Europe/Berlin',
      },
    });
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ object: 'tenant', slug: 'tmpl', status: 'active', plan: 'free', budget_action: null, time_zone: 'Europe/Berlin', allowed_models: null });
    expect(r.headers.location).toBe(`/admin/v1/tenants/${str(r.json.id)}`);
    expect(r.headers.etag).toBe('"v1"');
    const limits = await platform('GET', `/tenants/${str(r.json.id)}/limits`);
    expect((limits.json.rules as { id: string; limit: number; source: string }[]).slice(0, 3).map((x) => `${x.source}:${x.id}=${x.limit}`)).toEqual([
      'plan:requests-per-minute=60',
      'tenant:requests-per-minute=120',
      'plan:tokens-per-day=200000',
    ]);
    const bad = await platform('POST', '/tenants', { body: { slug: 'tmpl2', name: 'x', template: 'platinum' } });
    expect(envelope(bad, 400, 'invalid_request').param).toBe('template');
    const both = await platform('POST', '/tenants', { body: { slug: 'tmpl3', name: 'x', template: 'free', plan: 'standard' } });
    expect(envelope(both, 400, 'invalid_request').param).toBe('template');
    // Without a plan named: "standard"; null: none.
    expect((await platform('POST', '/tenants', { body: { slug: 'tmpl4', name: 'x' } })).json.plan).toBe('standard');
    expect((await platform('POST', '/tenants', { body: { slug: 'tmpl5', name: 'x', plan: null } })).json.plan).toBeNull();
    expect((await platform('GET', '/tenants?limit=200')).json.data).toContainEqual(expect.objectContaining({ slug: 'tmpl', plan: 'free' }));
  });

  it('PATCH needs If-Match: 428 without, 412 when stale, 200 with the current ETag', async () => {
    const created = await platform('POST', '/tenants', { body: { slug: 'occ', name: 'Occ' } });
    const path = `/tenants/${str(created.json.id)}`;
    envelope(await platform('PATCH', path, { body: { name: 'No precondition' } }), 428, 'precondition_required');
    const first = await platform('PATCH', path, { body: { name: 'One' }, headers: { 'if-match': etag(created) } });
    expect(first.status, first.text).toBe(200);
    expect(etag(first)).not.toBe(etag(created));
    const stale = await platform('PATCH', path, { body: { name: 'Two' }, headers: { 'if-match': etag(created) } });
    envelope(stale, 412, 'precondition_failed');
    envelope(await platform('PATCH', path, { body: { name: 'Weak' }, headers: { 'if-match': `W/${etag(first)}` } }), 412, 'precondition_failed');
    expect((await platform('GET', path)).json.name).toBe('One');
    const templ = await platform('PATCH', path, { body: { plan: 'enterprise', budget_action: 'clamp' }, headers: { 'if-match': etag(first) } });
    expect(templ.json).toMatchObject({ plan: 'enterprise', budget_action: 'clamp' });
    expect(etag(templ)).not.toBe(etag(first));
  });

  it('of concurrent PATCHes holding the same ETag exactly one wins; the rest get 412', async () => {
    const created = await platform('POST', '/tenants', { body: { slug: 'race', name: 'Race' } });
    const path = `/tenants/${str(created.json.id)}`;
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, i) => platform('PATCH', path, { body: { name: `Writer ${i}` }, headers: { 'if-match': etag(created) } })),
    );
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 412, 412, 412, 412, 412]);
    const winner = replies.find((r) => r.status === 200);
    const now = await platform('GET', path);
    expect(now.json.name).toBe(winner?.json.name);
    expect(etag(now)).toBe(winner === undefined ? '' : etag(winner));
  });

  it('suspension and resumption reach the data plane at once', async () => {
    const t = await makeTenant(platform, 'susp');
    const admin = client(gw, t.admin);
    const key = str((await admin('POST', `/tenants/${t.id}/api-keys`, { body: { name: 'app' } })).json.key);
    expect((await chat(gw, key)).status).toBe(200);
    const s = await platform('POST', `/tenants/${t.id}/suspend`);
    expect(s.json.status).toBe('suspended');
    expect(await chat(gw, key)).toEqual({ status: 403, code: 'tenant_suspended' });
    // A suspended tenant's admins can still manage it (e.g. rotate the key that leaked).
    expect((await admin('GET', `/tenants/${t.id}/api-keys`)).status).toBe(200);
    const r = await platform('POST', `/tenants/${t.slug}/resume`);
    expect(r.json.status).toBe('active');
    expect((await chat(gw, key)).status).toBe(200);
  });

  it('delete marks the tenant: refused on the data plane, its admin keys stop, it can no longer change', async () => {
    const t = await makeTenant(platform, 'doomed');
    const admin = client(gw, t.admin);
    const key = str((await admin('POST', `/tenants/${t.id}/api-keys`, { body: { name: 'app' } })).json.key);
    const get = await platform('GET', `/tenants/${t.id}`);
    envelope(await platform('DELETE', `/tenants/${t.id}`), 428, 'precondition_required');
    const del = await platform('DELETE', `/tenants/${t.id}`, { headers: { 'if-match': etag(get) } });
    expect(del.status, del.text).toBe(202);
    expect(del.json).toMatchObject({ status: 'deleting' });
    expect(typeof del.json.deletion_requested_at).toBe('string');
    expect((await chat(gw, key)).status).toBe(403);
    envelope(await admin('GET', `/tenants/${t.id}`), 401, 'invalid_api_key');
    envelope(await platform('POST', `/tenants/${t.id}/resume`), 409, 'conflict');
    envelope(await platform('POST', `/tenants/${t.id}/admin-keys`, { body: { name: 'late', role: 'tenant_admin' } }), 409, 'conflict');
    envelope(await platform('PATCH', `/tenants/${t.id}`, { body: { name: 'x' }, headers: { 'if-match': '*' } }), 409, 'conflict');
    const again = await platform('DELETE', `/tenants/${t.id}`, { headers: { 'if-match': '*' } });
    expect(again.status).toBe(202);
    const listed = await platform('GET', '/tenants?status=deleting');
    expect((listed.json.data as { slug: string }[]).map((x) => x.slug)).toContain('doomed');
    // Its data keys are scheduled for crypto-shredding after the grace period.
    const keyring = await gw.store.withTenant(t.id, (tx) =>
      tx.query<{ shred_after: Date | null }>('SELECT shred_after FROM tenant_keyrings WHERE tenant_id = $1', [t.id]),
    );
    expect(keyring.rows[0]?.shred_after?.getTime()).toBeGreaterThan(Date.now() + 24 * 3600 * 1000);
  });

  it('a duplicate slug is a 409 and creates nothing', async () => {
    await platform('POST', '/tenants', { body: { slug: 'dup', name: 'First' } });
    const again = await platform('POST', '/tenants', { body: { slug: 'dup', name: 'Second' } });
    expect(envelope(again, 409, 'conflict').param).toBe('slug');
    const all = await platform('GET', '/tenants?limit=200');
    expect((all.json.data as { slug: string; name: string }[]).filter((x) => x.slug === 'dup')).toEqual([expect.objectContaining({ name: 'First' })]);
  });
});

describe('idempotent creation', () => {
  it('replays the first response for the same key and body, refuses another body (409)', async () => {
    const headers = { 'idempotency-key': 'create-idem-1' };
    const body = { slug: 'idem', name: 'Idem' };
    const first = await platform('POST', '/tenants', { body, headers });
    expect(first.status, first.text).toBe(201);
    // Key order is not part of a JSON body's meaning.
    const second = await platform('POST', '/tenants', { body: { name: 'Idem', slug: 'idem' }, headers });
    expect(second.status).toBe(201);
    expect(second.json).toEqual(first.json);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.headers.location).toBe(first.headers.location);
    const other = await platform('POST', '/tenants', { body: { slug: 'idem-other', name: 'Other' }, headers });
    envelope(other, 409, 'idempotency_key_reused');
    expect((await platform('GET', '/tenants?limit=200')).json.data).not.toContainEqual(expect.objectContaining({ slug: 'idem-other' }));
  });

  it('concurrent retries with one key create one tenant', async () => {
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => platform('POST', '/tenants', { body: { slug: 'idem-race', name: 'Race' }, headers: { 'idempotency-key': 'race-1' } })),
    );
    expect(replies.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(replies.map((r) => r.json.id)).size).toBe(1);
    expect(replies.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(4);
  });

  it('keys are per principal: another principal with the same key is a new request', async () => {
    const other = await platform('POST', '/admin-keys', { body: { name: 'ops', role: 'platform_admin' } });
    const ops = client(gw, str(other.json.key));
    const headers = { 'idempotency-key': 'shared-key' };
    const mine = await platform('POST', '/tenants', { body: { slug: 'per-a', name: 'A' }, headers });
    const theirs = await ops('POST', '/tenants', { body: { slug: 'per-b', name: 'B' }, headers });
    expect([mine.status, theirs.status]).toEqual([201, 201]);
    expect(theirs.json.id).not.toBe(mine.json.id);
  });

  it('an API key creation replays without the secret', async () => {
    const t = await makeTenant(platform, 'idem-keys');
    const admin = client(gw, t.admin);
    const headers = { 'idempotency-key': 'key-1' };
    const first = await admin('POST', `/tenants/${t.id}/api-keys`, { body: { name: 'app' }, headers });
    const replay = await admin('POST', `/tenants/${t.id}/api-keys`, { body: { name: 'app' }, headers });
    expect(str(first.json.key)).toMatch(/^ghk_/);
    expect(replay.json).toEqual({ ...first.json, key: null });
    const list = await admin('GET', `/tenants/${t.id}/api-keys`);
    expect(list.json.data).toHaveLength(1);
    envelope(await admin('POST', `/tenants/${t.id}/api-keys`, { body: { name: 'app' }, headers: { 'idempotency-key': 'x'.repeat(256) } }), 400, 'invalid_request');
  });
});

describe('listing', () => {
  it('pages with limit and cursor without repeats or gaps, and filters', async () => {
    for (const s of ['page-a', 'page-b', 'page-c']) await platform('POST', '/tenants', { body: { slug: s, name: s } });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const r: Awaited<ReturnType<Client>> = await platform('GET', `/tenants?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
      expect(r.status, r.text).toBe(200);
      const data = r.json.data as { slug: string }[];
      expect(data.length).toBeLessThanOrEqual(2);
      seen.push(...data.map((x) => x.slug));
      cursor = r.json.next_cursor as string | null;
    } while (cursor !== null);
    expect(seen).toEqual([...seen].sort());
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expect.arrayContaining(['page-a', 'page-b', 'page-c', 'demo']));
    const suspended = await platform('GET', '/tenants?status=suspended');
    expect((suspended.json.data as { status: string }[]).every((x) => x.status === 'suspended')).toBe(true);
    // Listings are metadata only: no plan (tenant settings are not readable across tenants).
    expect((suspended.json.data as Record<string, unknown>[]).some((x) => 'limits' in x)).toBe(false);
  });

  it('the fleet overview is counts only', async () => {
    const r = await platform('GET', '/fleet');
    expect(r.status).toBe(200);
    expect(Object.keys(r.json).sort()).toEqual(['api_keys', 'domains', 'object', 'teams', 'tenants']);
    expect(r.json.tenants).toMatchObject({ active: expect.any(Number), suspended: expect.any(Number), deleting: expect.any(Number) });
  });
});
