/**
 * The cross-tenant and role matrices over real HTTP (issue 4):
 * - every route registered in the admin router has an entry in MATRIX (and no entry is stale);
 * - every tenant-scoped route, called by tenant B's admin with tenant A's ids, answers exactly
 *   what it answers for ids that exist nowhere: 404, same body, and A is left untouched;
 * - every role × every route is allowed or refused (403) as MATRIX says.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROUTES } from '../../../src/admin/index.js';
import type { Role } from '../../../src/identity/roles.js';
import type { TestGateway } from '../../helpers/gateway.js';
import { seedAlert, seedRequestLog, seedResources, type TenantFixtures } from './fixtures.js';
import { BOOTSTRAP_KEY, client, envelope, makeTenant, roleKey, startAdminGateway, str, type Client, type Reply } from './helpers.js';
import { fill, MATRIX, nowhere, resourceParams, type MatrixEntry } from './matrix.js';

let gw: TestGateway;
let platform: Client;
let a: TenantFixtures;
let b: TenantFixtures;
let adminA: Client;
let adminB: Client;
const keys = new Map<Role | 'bootstrap', string>();
let platformKeyId: string;

beforeAll(async () => {
  gw = await startAdminGateway();
  platform = client(gw, BOOTSTRAP_KEY);
  const ta = await makeTenant(platform, 'alpha');
  const tb = await makeTenant(platform, 'bravo');
  adminA = client(gw, ta.admin);
  adminB = client(gw, tb.admin);
  a = await seedResources(adminA, ta.id, ta.slug);
  b = await seedResources(adminB, tb.id, tb.slug);
  a.alert = await seedAlert(gw.store, a.tenant);
  b.alert = await seedAlert(gw.store, b.tenant);
  a.request_id = await seedRequestLog(gw.store, a.tenant);
  b.request_id = await seedRequestLog(gw.store, b.tenant);
  keys.set('bootstrap', BOOTSTRAP_KEY);
  keys.set('tenant_admin', ta.admin);
  for (const role of ['tenant_developer', 'tenant_billing', 'tenant_viewer', 'tenant_auditor'] as const) {
    keys.set(role, await roleKey(adminA, ta.id, role));
  }
  for (const role of ['platform_admin', 'platform_auditor', 'platform_billing'] as const) {
    const k = await platform('POST', '/admin-keys', { body: { name: role, role } });
    expect(k.status, k.text).toBe(201);
    keys.set(role, str(k.json.key));
    platformKeyId = str(k.json.id);
  }
});
afterAll(async () => {
  await gw?.stop();
});

const label = (e: MatrixEntry) => `${e.method} ${e.path}`;

function send(c: Client, e: MatrixEntry, path: string, fx: TenantFixtures, opts: { valid: boolean }): Promise<Reply> {
  const headers: Record<string, string> = opts.valid && e.ifMatch === true ? { 'if-match': '*' } : {};
  if (e.body === undefined && e.method !== 'POST') return c(e.method, path, { headers });
  const body = opts.valid ? e.body?.(fx) : { __not_a_field: true };
  return body === undefined ? c(e.method, path, { headers }) : c(e.method, path, { body, headers });
}

describe('the matrix covers the route table', () => {
  it('lists every registered admin route, and only those', () => {
    const registered = ADMIN_ROUTES.map((r) => `${r.method} ${r.path}`).sort();
    const listed = MATRIX.map(label).sort();
    expect(listed).toEqual(registered);
    expect(new Set(listed).size).toBe(listed.length);
  });

  it('fails for a route without an entry (the check can fail)', () => {
    const listed = new Set(MATRIX.slice(1).map(label));
    const missing = ADMIN_ROUTES.map((r) => `${r.method} ${r.path}`).filter((r) => !listed.has(r));
    expect(missing).toEqual([label(MATRIX[0] as MatrixEntry)]);
  });
});

describe("cross-tenant: B's tenant admin against A's ids", () => {
  const scoped = MATRIX.filter((e) => e.path.includes('{tenant}'));

  it.each(scoped.map((e) => [label(e), e] as const))('%s names tenant A: the same 404 as a tenant that does not exist', async (_l, e) => {
    for (const [ref, missingRef] of [
      [a.tenant, randomUUID()],
      [a.slug, `no-such-${a.slug}`],
    ] as const) {
      const foreign = await send(adminB, e, fill(e.path, a, ref), a, { valid: true });
      const missing = await send(adminB, e, fill(e.path, nowhere(), missingRef), nowhere(), { valid: true });
      envelope(foreign, 404, 'not_found');
      expect(foreign.json).toEqual(missing.json);
      expect(missing.status).toBe(404);
      expect(foreign.headers['x-tenant-id']).toBeUndefined();
      expect(foreign.headers.etag).toBeUndefined();
    }
  });

  const withIds = scoped.filter((e) => resourceParams(e.path).length > 0);
  it.each(withIds.map((e) => [label(e), e] as const))("%s in B's own tenant with A's id: the same 404 as an id that does not exist", async (_l, e) => {
    const foreign = await send(adminB, e, fill(e.path, a, b.tenant), a, { valid: true });
    const missing = await send(adminB, e, fill(e.path, nowhere(), b.tenant), nowhere(), { valid: true });
    envelope(foreign, 404, 'not_found');
    expect(foreign.json).toEqual(missing.json);
  });

  it.each([
    ['an API key with A\'s team', '/api-keys', (id: string) => ({ name: 'x', team_id: id }), () => a.team, 'team_id'],
    ['an API key owned by A\'s user', '/api-keys', (id: string) => ({ name: 'x', owner: { user_id: id } }), () => a.user, 'owner.user_id'],
    ['an admin key of A\'s service account', '/admin-keys', (id: string) => ({ name: 'x', role: 'tenant_viewer', service_account_id: id }), () => a.service_account, 'service_account_id'],
    ['a membership for A\'s user', '/memberships', (id: string) => ({ user_id: id, role: 'tenant_admin' }), () => a.user, 'user_id'],
    ['a deployment with A\'s provider credential', '/deployments', (id: string) => ({ model: 'x', provider: 'openai', base_url: 'https://x.example.com/v1', credential_id: id }), () => a.provider_credential, 'credential_id'],
  ])('a body naming %s is refused exactly like an unknown id', async (_n, path, body, foreignId, param) => {
    const foreign = await adminB('POST', `/tenants/${b.tenant}${path}`, { body: body(foreignId()) });
    const missing = await adminB('POST', `/tenants/${b.tenant}${path}`, { body: body(randomUUID()) });
    expect(envelope(foreign, 400, 'invalid_request').param).toBe(param);
    expect(foreign.json).toEqual(missing.json);
  });

  it('platform routes refuse tenant principals the same way for existing and unknown ids', async () => {
    for (const e of MATRIX.filter((m) => !m.path.includes('{tenant}') && m.roles !== 'public' && m.path !== '/whoami')) {
      const existing = await send(adminB, e, fill(e.path, { ...a, admin_key: platformKeyId }), a, { valid: true });
      const missing = await send(adminB, e, fill(e.path, nowhere()), nowhere(), { valid: true });
      envelope(existing, 403, 'forbidden');
      expect({ route: label(e), body: existing.json }).toEqual({ route: label(e), body: missing.json });
    }
  });

  it("left every one of A's resources exactly as it was", async () => {
    const base = `/tenants/${a.tenant}`;
    const get = async (path: string) => {
      const r = await adminA('GET', `${base}${path}`);
      expect(r.status, `${path}: ${r.text}`).toBe(200);
      return r.json;
    };
    expect(await get('')).toMatchObject({ name: `Tenant ${a.slug}`, status: 'active' });
    expect(await get(`/teams/${a.team}`)).toMatchObject({ slug: 'core', name: 'Core' });
    expect(await get(`/users/${a.user}`)).toMatchObject({ status: 'active', roles: ['tenant_developer', 'tenant_viewer'] });
    expect(await get(`/memberships/${a.membership}`)).toMatchObject({ role: 'tenant_developer' });
    expect(await get(`/service-accounts/${a.service_account}`)).toMatchObject({ disabled: false });
    expect(await get(`/api-keys/${a.api_key}`)).toMatchObject({ status: 'active', scopes: ['inference', 'models:read'] });
    expect(await get(`/admin-keys/${a.admin_key}`)).toMatchObject({ status: 'active' });
    expect(await get(`/policies/${a.policy}`)).toMatchObject({ enabled: true });
    expect(await get(`/domains/${a.domain}`)).toMatchObject({ domain: a.domain });
    expect(await get(`/provider-credentials/${a.provider_credential}`)).toMatchObject({ name: 'openai', base_url: null });
    expect(await get(`/webhooks/${a.webhook}`)).toMatchObject({ url: `https://hooks.${a.slug}.example.com/in`, enabled: true });
    expect(await get(`/deployments/${a.deployment}`)).toMatchObject({ model: `${a.slug}-llm`, base_url: `https://llm.${a.slug}.example.com/v1`, credential_id: null });
    expect((await get('/aliases')).data).toEqual([expect.objectContaining({ alias: a.alias, model: 'gpt-4o-mini' })]);
    expect(await get(`/limits/rules/${a.rule}`)).toMatchObject({ limit: 10, subject: a.api_key });
    expect(await get(`/alerts/${a.alert}/deliveries`)).toMatchObject({ data: [] });
    expect(((await get('/alerts')).data as { id: string }[]).map((x) => x.id)).toEqual([a.alert]);
    expect(await get(`/logs/${a.request_id}`)).toMatchObject({ request_id: a.request_id, content_status: 'none' });
    expect((await get('/alerts')).data).toEqual([expect.objectContaining({ id: a.alert, resolved_at: null })]);
    expect(await get('')).toMatchObject({ plan: 'standard', budget_action: null, time_zone: 'UTC' });
    for (const [list, n] of [['/teams', 1], ['/users', 1], ['/service-accounts', 1], ['/api-keys', 1], ['/policies', 1], ['/domains', 1], ['/provider-credentials', 1], ['/webhooks', 1], ['/deployments', 1], ['/limits/rules', 1]] as const) {
      expect({ list, n: ((await get(list)).data as unknown[]).length }).toEqual({ list, n });
    }
  });
});

describe('role matrix: every role × every route', () => {
  const principals: (Role | 'bootstrap')[] = ['bootstrap', 'platform_admin', 'platform_auditor', 'platform_billing', 'tenant_admin', 'tenant_developer', 'tenant_billing', 'tenant_viewer', 'tenant_auditor'];
  const cases = MATRIX.flatMap((e) => principals.map((p) => [`${p} ${label(e)}`, p, e] as const));

  it.each(cases)('%s', async (_l, who, e) => {
    const role: Role = who === 'bootstrap' ? 'platform_admin' : who;
    const key = keys.get(who);
    const fx = { ...nowhere(), tenant: a.tenant };
    const r = await send(client(gw, key), e, fill(e.path, fx), fx, { valid: false });
    const allowed = e.roles === 'public' || e.roles.includes(role);
    if (allowed) {
      // Past the role check: what stops it now is the deliberately bad input or unknown id.
      expect({ status: r.status, code: r.json.error?.code }).not.toMatchObject({ status: 403 });
      expect(r.status).not.toBe(401);
      expect(r.status).toBeLessThan(500);
    } else {
      envelope(r, 403, 'forbidden');
    }
  });

  it('a request without a key is refused on every non-public route', async () => {
    const anon = client(gw, undefined);
    for (const e of MATRIX.filter((m) => m.roles !== 'public')) {
      const r = await send(anon, e, fill(e.path, a), a, { valid: true });
      expect({ route: label(e), code: r.json.error?.code }).toEqual({ route: label(e), code: 'missing_api_key' });
      expect(r.status).toBe(401);
    }
  });
});
