/**
 * The plan catalogue through the admin API (issue 5, "Tiers"), on PGlite and on PostgreSQL:
 * the seeded tiers, creation (idempotent), validation with the shared rule schema, optimistic
 * concurrency, a change reaching every tenant on the plan (and only those), deletion refused
 * while a tenant is on the plan, and the platform scope's audit entries. Then, with the handler
 * alone: the snapshot hook runs before the response.
 */
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdminHandler } from '../../../src/admin/index.js';
import { auditHeadSigner } from '../../../src/crypto/audit-head-key.js';
import { tenantSealer } from '../../../src/crypto/envelope.js';
import { processKeyring } from '../../../src/crypto/process-keyring.js';
import { PLATFORM_SCOPE_ID } from '../../../src/identity/roles.js';
import { openPgliteTestStore } from '../../../src/store/testing.js';
import type { Store } from '../../../src/store/index.js';
import type { TestGateway } from '../../helpers/gateway.js';
import { adminBackends, BOOTSTRAP_KEY, client, envelope, etag, str, type Client } from './helpers.js';

const RPM = { id: 'requests-per-minute', metric: 'requests', window: 'minute', limit: 100 };
const TPD = { id: 'tokens-per-day', metric: 'tokens', window: 'day', limit: 1_000_000 };

interface RuleOut {
  id: string;
  limit: number;
  source: 'plan' | 'tenant';
  overridden?: boolean;
}

for (const backend of await adminBackends()) {
  describe(`plans [${backend.label}]`, () => {
    let gw: TestGateway;
    let stop: () => Promise<void>;
    let platform: Client;

    beforeAll(async () => {
      ({ gw, stop } = await backend.start());
      platform = client(gw, BOOTSTRAP_KEY);
    });
    afterAll(async () => {
      await stop?.();
    });

    const limitsOf = async (tenant: string): Promise<RuleOut[]> => {
      const r = await platform('GET', `/tenants/${tenant}/limits`);
      expect(r.status, r.text).toBe(200);
      return r.json.rules as RuleOut[];
    };

    it('lists the seeded tiers with their rules and how many tenants are on each', async () => {
      const r = await platform('GET', '/plans');
      expect(r.status, r.text).toBe(200);
      const plans = r.json.data as { name: string; weight: number; rules: { id: string; limit: number }[]; tenants: number }[];
      expect(plans.map((p) => p.name)).toEqual(['enterprise', 'free', 'standard']);
      const free = plans.find((p) => p.name === 'free');
      expect(free?.rules).toContainEqual(expect.objectContaining({ id: 'requests-per-minute', limit: 60, scope: 'tenant', window: 'minute' }));
      expect(free?.weight).toBe(1);
      expect(plans.every((p) => Number.isInteger(p.tenants))).toBe(true);
      const page = await platform('GET', '/plans?limit=2');
      expect((page.json.data as unknown[]).length).toBe(2);
      const rest = await platform('GET', `/plans?limit=2&cursor=${str(page.json.next_cursor)}`);
      expect((rest.json.data as { name: string }[]).map((p) => p.name)).toEqual(['standard']);
    });

    it('creates a plan (idempotently); names are unique and never UUID-shaped', async () => {
      const body = { name: 'gold', description: 'Gold tier', weight: 8, budget_action: 'clamp', rules: [RPM, TPD] };
      const headers = { 'idempotency-key': `gold-${randomBytes(4).toString('hex')}` };
      const r = await platform('POST', '/plans', { body, headers });
      expect(r.status, r.text).toBe(201);
      expect(r.json).toMatchObject({ object: 'plan', name: 'gold', weight: 8, budget_action: 'clamp', tenants: 0 });
      // Defaults of the shared rule schema are filled in.
      expect(r.json.rules).toEqual([
        { id: 'requests-per-minute', scope: 'tenant', subject: null, metric: 'requests', window: 'minute', limit: 100, burst: null, models: null },
        { id: 'tokens-per-day', scope: 'tenant', subject: null, metric: 'tokens', window: 'day', limit: 1_000_000, burst: null, models: null },
      ]);
      expect(r.headers.location).toBe(`/admin/v1/plans/${str(r.json.id)}`);
      expect(r.headers.etag).toBe('"v1"');
      const replay = await platform('POST', '/plans', { body, headers });
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.json).toEqual(r.json);
      envelope(await platform('POST', '/plans', { body: { ...body, weight: 9 }, headers }), 409, 'idempotency_key_reused');
      expect(envelope(await platform('POST', '/plans', { body: { name: 'gold' } }), 409, 'conflict').param).toBe('name');
      expect(envelope(await platform('POST', '/plans', { body: { name: '123e4567-e89b-42d3-a456-426614174000' } }), 400).param).toBe('name');
      const byName = await platform('GET', '/plans/gold');
      const byId = await platform('GET', `/plans/${str(r.json.id)}`);
      expect(byName.json).toEqual(byId.json);
      expect(etag(byName)).toBe('"v1"');
      envelope(await platform('GET', '/plans/no-such-plan'), 404, 'not_found');
    });

    it.each([
      ['a rate rule without a window', [{ id: 'r', metric: 'requests', limit: 1 }], 'rules.0.window'],
      ['a window on concurrency', [{ id: 'c', metric: 'concurrency', window: 'minute', limit: 1 }], 'rules.0.window'],
      ['a burst on a daily quota', [{ id: 'd', metric: 'tokens', window: 'day', limit: 1, burst: 5 }], 'rules.0.burst'],
      ['a duplicate rule id', [RPM, { ...RPM, limit: 5 }], 'rules.1.id'],
      ['a team rule for one team', [{ id: 't', scope: 'team', subject: 'some-team', metric: 'requests', window: 'minute', limit: 1 }], 'rules.0.subject'],
      ['an unknown metric', [{ id: 'x', metric: 'bananas', window: 'minute', limit: 1 }], 'rules.0.metric'],
      ['a negative limit', [{ ...RPM, limit: -1 }], 'rules.0.limit'],
      ['an unknown field', [{ ...RPM, per: 'minute' }], 'rules.0'],
    ])('refuses %s, naming where', async (_n, rules, param) => {
      const r = await platform('POST', '/plans', { body: { name: `bad-${randomBytes(3).toString('hex')}`, rules } });
      expect(envelope(r, 400, 'invalid_request').param).toBe(param);
    });

    it('a change needs If-Match; it reaches every tenant on the plan at once, and no other', async () => {
      const created = await platform('POST', '/plans', { body: { name: 'silver', weight: 2, rules: [RPM, TPD] } });
      expect(created.status, created.text).toBe(201);
      const a = await platform('POST', '/tenants', { body: { slug: 'on-silver-a', name: 'A', plan: 'silver' } });
      const b = await platform('POST', '/tenants', { body: { slug: 'on-silver-b', name: 'B', template: 'silver' } });
      const other = await platform('POST', '/tenants', { body: { slug: 'on-free', name: 'F', plan: 'free' } });
      expect([a.json.plan, b.json.plan, other.json.plan]).toEqual(['silver', 'silver', 'free']);
      // B keeps its own, lower requests-per-minute through the plan change.
      const own = await client(gw, (await makeTenantAdmin(platform, str(b.json.id))))('POST', `/tenants/${str(b.json.id)}/limits/rules`, { body: { ...RPM, limit: 40 } });
      expect(own.status, own.text).toBe(201);
      expect((await platform('GET', '/plans/silver')).json.tenants).toBe(2);

      const change = { rules: [{ ...RPM, limit: 250 }, { id: 'concurrency', metric: 'concurrency', limit: 8 }] };
      envelope(await platform('PATCH', '/plans/silver', { body: change }), 428, 'precondition_required');
      const patched = await platform('PATCH', '/plans/silver', { body: change, headers: { 'if-match': etag(created) } });
      expect(patched.status, patched.text).toBe(200);
      expect(etag(patched)).toBe('"v2"');
      envelope(await platform('PATCH', '/plans/silver', { body: { weight: 3 }, headers: { 'if-match': etag(created) } }), 412, 'precondition_failed');

      const brief = (rules: RuleOut[]) => rules.map((r) => `${r.source}:${r.id}=${r.limit}${r.overridden === true ? ' (overridden)' : ''}`);
      expect(brief(await limitsOf(str(a.json.id)))).toEqual(['plan:requests-per-minute=250', 'plan:concurrency=8']);
      expect(brief(await limitsOf(str(b.json.id)))).toEqual(['plan:requests-per-minute=250 (overridden)', 'tenant:requests-per-minute=40', 'plan:concurrency=8']);
      expect(brief(await limitsOf(str(other.json.id)))).toEqual([
        'plan:requests-per-minute=60',
        'plan:tokens-per-day=200000',
        'plan:concurrency=4',
        'plan:budget-monthly=0',
        'plan:config-objects=200',
        'plan:cache-bytes=0',
        'plan:log-bytes=0',
      ]);
      const view = await platform('GET', `/tenants/${str(a.json.id)}/limits`);
      expect(view.json).toMatchObject({ plan: { name: 'silver', weight: 2 }, budget_action: 'reject', time_zone: 'UTC' });

      // Renaming onto a taken name is a 409; the plan is then found by its new name.
      envelope(await platform('PATCH', '/plans/silver', { body: { name: 'free' }, headers: { 'if-match': etag(patched) } }), 409, 'conflict');
      const renamed = await platform('PATCH', `/plans/${str(created.json.id)}`, { body: { name: 'silver-2' }, headers: { 'if-match': etag(patched) } });
      expect(renamed.status, renamed.text).toBe(200);
      expect((await platform('GET', `/tenants/${str(a.json.id)}`)).json.plan).toBe('silver-2');
    });

    it('a plan in use cannot be deleted (409); once nobody is on it, it can', async () => {
      const p = await platform('POST', '/plans', { body: { name: 'bronze', rules: [RPM] } });
      const t = await platform('POST', '/tenants', { body: { slug: 'on-bronze', name: 'Bronze', plan: 'bronze' } });
      envelope(await platform('DELETE', '/plans/bronze'), 428, 'precondition_required');
      const refused = envelope(await platform('DELETE', '/plans/bronze', { headers: { 'if-match': etag(p) } }), 409, 'conflict');
      expect(refused.message).toMatch(/in use by a tenant/);
      expect((await platform('GET', '/plans/bronze')).status).toBe(200);
      const moved = await platform('PATCH', `/tenants/${str(t.json.id)}`, { body: { plan: null }, headers: { 'if-match': etag(t) } });
      expect(moved.json.plan).toBeNull();
      expect((await platform('DELETE', '/plans/bronze', { headers: { 'if-match': etag(p) } })).status).toBe(204);
      envelope(await platform('GET', '/plans/bronze'), 404, 'not_found');
      envelope(await platform('DELETE', '/plans/bronze', { headers: { 'if-match': '*' } }), 404, 'not_found');
    });

    it('records plan changes in the platform scope\'s audit chain, with before and after', async () => {
      const p = await platform('POST', '/plans', { body: { name: 'audited', rules: [RPM] }, headers: { 'x-request-id': 'req-plan-create' } });
      const u = await platform('PATCH', '/plans/audited', { body: { weight: 5 }, headers: { 'if-match': etag(p) } });
      await platform('DELETE', '/plans/audited', { headers: { 'if-match': etag(u) } });
      const { rows } = await gw.store.withTenant(PLATFORM_SCOPE_ID, (tx) =>
        tx.query<{ action: string; actor_kind: string; target_id: string; request_id: string | null; before: { weight?: number } | null; after: { weight?: number; rules?: unknown[] } | null }>(
          'SELECT action, actor_kind, target_id, request_id, before, after FROM audit_entries WHERE target_id = $1 ORDER BY seq',
          [str(p.json.id)],
        ),
      );
      expect(rows.map((r) => r.action)).toEqual(['plan.create', 'plan.update', 'plan.delete']);
      expect(rows[0]).toMatchObject({ actor_kind: 'platform_admin', request_id: 'req-plan-create', after: { weight: 1, rules: [expect.objectContaining({ id: 'requests-per-minute' })] } });
      expect(rows[1]).toMatchObject({ before: { weight: 1 }, after: { weight: 5 } });
      expect(rows[2]?.before).toMatchObject({ weight: 5 });
    });
  });
}

/** A tenant_admin key for a tenant the platform created. */
async function makeTenantAdmin(platform: Client, tenantId: string): Promise<string> {
  const k = await platform('POST', `/tenants/${tenantId}/admin-keys`, { body: { name: 'owner', role: 'tenant_admin' } });
  expect(k.status, k.text).toBe(201);
  return str(k.json.key);
}

describe('the snapshot hooks of the admin handler', () => {
  let store: Store;
  let server: Server;
  let url: string;
  const calls: string[] = [];
  /** Each hook takes a while, so a response sent before it finished would show. */
  const slow = (label: string) => async () => {
    await new Promise((r) => setTimeout(r, 50));
    calls.push(label);
  };

  beforeAll(async () => {
    store = await openPgliteTestStore();
    const handler = createAdminHandler({
      store,
      pepper: randomBytes(32),
      sealer: tenantSealer(processKeyring(randomBytes(32), [])),
      auditHeadSigner: auditHeadSigner(randomBytes(32)),
      logger: pino({ level: 'silent' }),
      bootstrapKey: BOOTSTRAP_KEY,
      onChange: (tenantId) => slow(`tenant:${tenantId}`)(),
      onPlansChange: slow('plans'),
    });
    server = createServer((req, res) => handler(req, res, 'req-test'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await store?.close();
  });

  it('a plan change has reloaded the catalogue before the answer; a tenant change that tenant', async () => {
    const platform = client({ url }, BOOTSTRAP_KEY);
    const p = await platform('POST', '/plans', { body: { name: 'hooked', rules: [RPM] } });
    expect(p.status, p.text).toBe(201);
    expect(calls).toEqual(['plans']);
    calls.length = 0;
    await platform('PATCH', '/plans/hooked', { body: { weight: 2 }, headers: { 'if-match': etag(p) } });
    expect(calls).toEqual(['plans']);
    calls.length = 0;
    const t = await platform('POST', '/tenants', { body: { slug: 'hooked-tenant', name: 'H', plan: 'hooked' } });
    const id = str(t.json.id);
    expect(calls).toEqual([`tenant:${id}`]);
    calls.length = 0;
    const r = await platform('POST', `/tenants/${id}/limits/rules`, { body: { ...RPM, limit: 5 } });
    expect(r.status, r.text).toBe(201);
    const cur = await platform('GET', `/tenants/${id}`);
    await platform('PATCH', `/tenants/${id}`, { body: { plan: 'free' }, headers: { 'if-match': etag(cur) } });
    expect(calls).toEqual([`tenant:${id}`, `tenant:${id}`]);
    calls.length = 0;
    // A refused change notifies nobody.
    envelope(await platform('PATCH', '/plans/hooked', { body: { weight: 3 }, headers: { 'if-match': '"v1"' } }), 412);
    expect(calls).toEqual([]);
  });
});
