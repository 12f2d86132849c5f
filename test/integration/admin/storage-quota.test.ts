/**
 * The config_objects storage quota (src/admin/services/storage-quota.ts) over the admin API, on
 * PGlite and PostgreSQL: every kind of configuration object counts against one limit, the next
 * create of any kind is refused with storage_quota_exceeded, deleting makes room, concurrent
 * creates never pass the limit, other tenants are unaffected, and a tenant admin cannot raise it
 * above the plan.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../helpers/gateway.js';
import { POLICY_DOC } from './fixtures.js';
import { adminBackends, BOOTSTRAP_KEY, client, envelope, etag, makeTenant, str, type Client, type Reply } from './helpers.js';

const rand = (): string => randomBytes(4).toString('hex');

/** One create per kind of counted object, each with a fresh name. */
const CREATES: Record<string, (tid: string) => [string, Record<string, unknown>]> = {
  team: (tid) => [`/tenants/${tid}/teams`, { slug: `team-${rand()}` }],
  user: (tid) => [`/tenants/${tid}/users`, { email: `u-${rand()}@example.com` }],
  service_account: (tid) => [`/tenants/${tid}/service-accounts`, { name: `sa-${rand()}` }],
  api_key: (tid) => [`/tenants/${tid}/api-keys`, { name: `key-${rand()}` }],
  policy: (tid) => [`/tenants/${tid}/policies`, { name: `pol-${rand()}`, document: POLICY_DOC }],
  domain: (tid) => [`/tenants/${tid}/domains`, { domain: `q-${rand()}.example.com` }],
  provider_credential: (tid) => [`/tenants/${tid}/provider-credentials`, { name: `cred-${rand()}`, provider: 'openai', secret: 'sk-quota-0123456789' }],
  webhook: (tid) => [`/tenants/${tid}/webhooks`, { url: 'https://hooks.example.com/q', events: ['budget.threshold'], secret: 'quota-secret-0123' }],
  limit_rule: (tid) => [`/tenants/${tid}/limits/rules`, { id: `rpm-${rand()}`, metric: 'requests', window: 'minute', limit: 100 }],
  deployment: (tid) => [`/tenants/${tid}/deployments`, { model: `m-${rand()}`, provider: 'openai', base_url: 'https://llm.example.com/v1' }],
  model_alias: (tid) => [`/tenants/${tid}/aliases`, { alias: `a-${rand()}`, model: 'gpt-4o-mini' }],
};

const create = (c: Client, kind: string, tid: string): Promise<Reply> => {
  const make = CREATES[kind];
  if (make === undefined) throw new Error(`unknown kind ${kind}`);
  const [path, body] = make(tid);
  return c('POST', path, { body });
};

for (const backend of await adminBackends()) {
  describe(`config_objects storage quota [${backend.label}]`, () => {
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

    /** A plan whose only rule is a config_objects quota of `quota`, and a tenant on it with a tenant_admin key. */
    async function tenantWithQuota(quota: number): Promise<{ id: string; slug: string; admin: Client }> {
      const plan = `quota-${rand()}`;
      const p = await platform('POST', '/plans', { body: { name: plan, rules: [{ id: 'config-objects', metric: 'config_objects', limit: quota }] } });
      expect(p.status, p.text).toBe(201);
      const slug = `quota-${rand()}`;
      const t = await platform('POST', '/tenants', { body: { slug, name: slug, plan } });
      expect(t.status, t.text).toBe(201);
      const id = str(t.json.id);
      const k = await platform('POST', `/tenants/${id}/admin-keys`, { body: { name: 'owner', role: 'tenant_admin' } });
      expect(k.status, k.text).toBe(201);
      return { id, slug, admin: client(gw, str(k.json.key)) };
    }

    it('counts every kind of object against one limit; the next create of any kind is refused; deleting makes room', async () => {
      const kinds = Object.keys(CREATES);
      const t = await tenantWithQuota(kinds.length);
      const other = await makeTenant(platform, `bystander-${rand()}`);
      const made = new Map<string, Reply>();
      for (const kind of kinds) {
        const r = await create(t.admin, kind, t.id);
        expect({ kind, status: r.status, text: r.text }).toMatchObject({ kind, status: 201 });
        made.set(kind, r);
      }

      for (const kind of kinds) {
        const e = envelope(await create(t.admin, kind, t.id), 403, 'storage_quota_exceeded');
        expect(e.message).toContain(`holds ${kinds.length} configuration objects`);
        expect(e.message).toContain(`"config-objects" (config_objects) allows ${kinds.length}`);
        expect(e.message).not.toContain(other.id);
      }
      // Platform admins are held to the tenant's quota too: it is the tenant's storage.
      envelope(await create(platform, 'limit_rule', t.id), 403, 'storage_quota_exceeded');

      // Another tenant is unaffected.
      expect((await create(client(gw, other.admin), 'team', other.id)).status).toBe(201);

      // Deleting a team makes room for exactly one object, of any kind.
      const team = made.get('team') as Reply;
      const del = await t.admin('DELETE', `/tenants/${t.id}/teams/${str(team.json.id)}`, { headers: { 'if-match': etag(team) } });
      expect(del.status, del.text).toBe(204);
      expect((await create(t.admin, 'policy', t.id)).status).toBe(201);
      envelope(await create(t.admin, 'team', t.id), 403, 'storage_quota_exceeded');

      // A revoked API key no longer counts.
      const key = made.get('api_key') as Reply;
      const revoked = await t.admin('POST', `/tenants/${t.id}/api-keys/${str(key.json.id)}/revoke`, { headers: { 'if-match': etag(key) } });
      expect(revoked.status, revoked.text).toBe(200);
      expect((await create(t.admin, 'user', t.id)).status).toBe(201);
      envelope(await create(t.admin, 'user', t.id), 403, 'storage_quota_exceeded');

      // A full tenant can still get its quota raised: a config_objects rule is never refused for room.
      const raised = await platform('POST', `/tenants/${t.id}/limits/rules`, { body: { id: 'config-objects', metric: 'config_objects', limit: kinds.length + 2 } });
      expect(raised.status, raised.text).toBe(201);
      expect((await create(t.admin, 'team', t.id)).status).toBe(201);
      envelope(await create(t.admin, 'team', t.id), 403, 'storage_quota_exceeded');
    });

    it('concurrent creates never pass the limit: 10 at once with room for 3 admit exactly 3', async () => {
      const t = await tenantWithQuota(3);
      const kinds = ['team', 'user', 'service_account', 'policy', 'api_key'];
      const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => create(t.admin, kinds[i % kinds.length] as string, t.id)));
      const statuses = replies.map((r) => r.status).sort();
      expect(statuses).toEqual([201, 201, 201, 403, 403, 403, 403, 403, 403, 403]);
      for (const r of replies.filter((x) => x.status === 403)) envelope(r, 403, 'storage_quota_exceeded');
      const counted = await Promise.all(
        ['teams', 'users', 'service-accounts', 'policies', 'api-keys'].map(async (what) => {
          const r = await t.admin('GET', `/tenants/${t.id}/${what}?limit=100`);
          expect(r.status, r.text).toBe(200);
          return (r.json.data as unknown[]).length;
        }),
      );
      expect(counted.reduce((a, b) => a + b, 0)).toBe(3);
    });

    it("a tenant admin cannot raise the plan's config_objects rule; lowering it is enforced at once", async () => {
      const t = await tenantWithQuota(5);
      const raise = envelope(
        await t.admin('POST', `/tenants/${t.id}/limits/rules`, { body: { id: 'config-objects', metric: 'config_objects', limit: 6 } }),
        403,
        'forbidden',
      );
      expect(raise.message).toContain('ceiling of 5');
      // An extra, tighter rule is allowed; it is itself an object, and the tightest rule decides.
      const tighter = await t.admin('POST', `/tenants/${t.id}/limits/rules`, { body: { id: 'fewer-objects', metric: 'config_objects', limit: 2 } });
      expect(tighter.status, tighter.text).toBe(201);
      expect((await create(t.admin, 'team', t.id)).status).toBe(201);
      const e = envelope(await create(t.admin, 'team', t.id), 403, 'storage_quota_exceeded');
      expect(e.message).toContain('"fewer-objects" (config_objects) allows 2');
      // The rule shape is validated with a path.
      const bad = envelope(
        await t.admin('POST', `/tenants/${t.id}/limits/rules`, { body: { id: 'per-team', scope: 'team', metric: 'config_objects', limit: 1 } }),
        400,
        'invalid_request',
      );
      expect(bad.param).toBe('scope');
    });
  });
}
