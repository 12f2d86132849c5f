/**
 * Two gateways on one PostgreSQL: a tenant's response-cache opt-in changed through one gateway's
 * admin API applies on the other within a second, both ways (the snapshot's NOTIFY moves the
 * tenant's revision, and the other replica re-reads the opt-in in the tenant's transaction).
 * Without it the other replica kept the old opt-in for up to a minute.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../../src/store/testing.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { POSTGRES_URL, postgresAvailable } from '../helpers/services.js';
import { BOOTSTRAP_KEY, client, str, type Client } from '../integration/admin/helpers.js';

const available = await postgresAvailable();
const KEY = 'ghk_cacheflp_optinreplicakeyfortests00000000000';
const WITHIN_MS = 1_000;
const BODY = JSON.stringify({ model: 'gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content: 'cache across replicas' }] });

describe.skipIf(!available)('response cache opt-in across two gateways [PostgreSQL]', () => {
  let db: PostgresTestDatabase;
  let one: TestGateway | undefined;
  let two: TestGateway | undefined;
  let admin: Client;
  let tenant: string;

  /** x-gatehouse-cache of one request to `gw` (undefined: the tenant is not opted in there). */
  const cacheHeader = async (gw: TestGateway): Promise<string | undefined> => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: BODY,
    });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    const h = res.headers['x-gatehouse-cache'];
    return typeof h === 'string' ? h : undefined;
  };

  /** ms until `gw` answers with a cache header that `accept` takes. */
  async function until(gw: TestGateway, accept: (h: string | undefined) => boolean): Promise<number> {
    const started = performance.now();
    while (performance.now() - started < 5_000) {
      if (accept(await cacheHeader(gw))) return performance.now() - started;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('the cache opt-in never reached the other replica');
  }

  async function setCache(enabled: boolean): Promise<void> {
    const current = await admin('GET', `/tenants/${tenant}`);
    const r = await admin('PATCH', `/tenants/${tenant}`, { body: { cache: { enabled } }, headers: { 'if-match': str(current.headers.etag) } });
    expect(r.status, r.text).toBe(200);
  }

  beforeAll(async () => {
    db = await createPostgresTestDatabase(POSTGRES_URL);
    const yaml = ['providers:', '  - { name: mock, kind: mock }', 'deployments:', '  - { model: gpt-4o-mini, provider: mock }', 'tenants:', '  - slug: flip', '    keys: [{ name: main, value: { env: FLIP_KEY } }]', ''].join('\n');
    const env = { DATABASE_URL: db.url, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex'), GATEHOUSE_ADMIN_KEY: BOOTSTRAP_KEY, GATEHOUSE_DEMO: '0', FLIP_KEY: KEY };
    one = await startTestGateway({ yaml, env });
    two = await startTestGateway({ yaml, env });
    const platform = client(one, BOOTSTRAP_KEY);
    tenant = str((await platform('GET', '/tenants/flip')).json.id);
    const k = await platform('POST', `/tenants/${tenant}/admin-keys`, { body: { name: 'owner', role: 'tenant_admin' } });
    admin = client(one, str(k.json.key));
    // Replica two has read the tenant's state (not opted in) before the change.
    expect(await cacheHeader(two)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 200));
    expect(await cacheHeader(two)).toBeUndefined();
  }, 120_000);

  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
    await db?.drop();
  });

  it('an opt-in and an opt-out made through one replica apply on the other within a second', async () => {
    await setCache(true);
    const on = await until(two as TestGateway, (h) => h !== undefined);
    console.log(`cache opt-in reached the other replica in ${on.toFixed(0)} ms`);
    expect(on).toBeLessThan(WITHIN_MS);
    // Opted in there: the answer is stored and then served from its cache.
    expect(await until(two as TestGateway, (h) => h === 'hit')).toBeLessThan(2_000);

    await setCache(false);
    const off = await until(two as TestGateway, (h) => h === undefined);
    console.log(`cache opt-out reached the other replica in ${off.toFixed(0)} ms`);
    expect(off).toBeLessThan(WITHIN_MS);
    // And stays off: the entry it still holds is not served.
    for (let i = 0; i < 5; i++) expect(await cacheHeader(two as TestGateway)).toBeUndefined();
  });
});
