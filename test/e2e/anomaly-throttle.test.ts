/**
 * The anomaly throttle end to end, over HTTP against real gateways. Two days of usage are seeded
 * into the gateway's store with a spike in the last complete hour, and the alert job's own
 * evaluation judges it (the periodic job is off here: it judges an hour only from five minutes
 * past it, and an hour boundary mid-test would end the anomaly under the test's feet).
 *
 * - One embedded gateway: the tenant's requests are refused with 429 `anomaly_throttled` (OpenAI
 *   envelope, Retry-After) once the throttle is in force; the alert and the throttle show in the
 *   admin API; a developer may not resolve it and another tenant's admin gets 404; the tenant
 *   admin resolves it and the next request is admitted; each step is in the audit log.
 * - Two gateways on one PostgreSQL and one Redis: the throttle reaches both, its bucket is shared
 *   (the second replica admits nothing the first one used up), and resolving through the second
 *   replica's admin API lifts it on the first.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateTenant } from '../../src/billing/alerts/job.js';
import { usageRepo, type Store, type UsageEventRecord } from '../../src/store/index.js';
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../../src/store/testing.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { POSTGRES_URL, REDIS_URL, postgresAvailable, redisAvailable } from '../helpers/services.js';
import { BOOTSTRAP_KEY, client, envelope, makeTenant, startAdminGateway, str, type Client } from '../integration/admin/helpers.js';

const HOUR = 3_600_000;
const YAML = 'alerts:\n  enabled: false\n';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown> & { error?: { code: string; type: string; message: string; param: string | null } };
}

async function chat(gw: { url: string }, key: string): Promise<Answer> {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'hello' }] }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(text) as Answer['json'] };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** 48 quiet hours of 10-12 requests, then 400 in the last complete hour; judged by the job's code. */
async function raiseSpike(store: Store, tenant: string): Promise<void> {
  const now = Date.now();
  const hourEnd = Math.floor(now / HOUR) * HOUR;
  const events: UsageEventRecord[] = [];
  for (let h = 48; h >= 1; h--) {
    const n = h === 1 ? 400 : 10 + (h % 3);
    for (let i = 0; i < n; i++) {
      events.push({
        tenantId: tenant, eventId: randomUUID(), requestId: randomUUID(), occurredAt: hourEnd - h * HOUR + i * 1000, teamId: null, keyId: null,
        endUser: null, tags: [], model: 'gpt-4o-mini', deploymentId: null, provider: 'mock', region: null, inputTokens: 5, outputTokens: 5,
        cachedTokens: 0, costMicros: 10, priceVersion: null, latencyMs: 3, ttftMs: null, status: 200, streamed: false, clientAborted: false,
        usageEstimated: false, cacheHit: false,
      });
    }
  }
  await store.withTenant(tenant, (tx) => usageRepo.ingest(tx, events));
  const r = await store.withTenant(tenant, (tx) => evaluateTenant(tx, { id: tenant }, now));
  expect(r).toMatchObject({ raised: 1, throttlesOpened: 1 });
}

function throttleLimitHeader(a: Answer): string | undefined {
  const h = a.headers['x-ratelimit-limit-requests'];
  return typeof h === 'string' ? h : undefined;
}

describe('anomaly throttle on one gateway', () => {
  let gw: TestGateway;
  let platform: Client;
  let admin: Client;
  let other: Client;
  let tenant: string;
  let apiKey: string;

  beforeAll(async () => {
    gw = await startAdminGateway({ yaml: YAML });
    platform = client(gw, BOOTSTRAP_KEY);
    const t = await makeTenant(platform, 'spiky');
    tenant = t.id;
    admin = client(gw, t.admin);
    other = client(gw, (await makeTenant(platform, 'bystander')).admin);
    const s = await admin('PATCH', `/tenants/${tenant}/alert-settings`, { body: { anomaly_action: 'throttle', anomaly_throttle_fraction: 0.6 } });
    expect(s.status, s.text).toBe(200);
    expect(s.json).toMatchObject({ anomaly_action: 'throttle', anomaly_throttle_fraction: 0.6, retention_days: 90, throttles: [] });
    const k = await admin('POST', `/tenants/${tenant}/api-keys`, { body: { name: 'app' } });
    expect(k.status, k.text).toBe(201);
    apiKey = str(k.json.key);
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
  });

  it('an anomaly raised → requests throttled → resolved by the tenant admin → admitted', async () => {
    expect((await chat(gw, apiKey)).status).toBe(200);
    await raiseSpike(gw.store, tenant);

    // 0.6 × the 100/h floor (the pattern expected ~11/h) = 1 request a minute, shared by the tenant.
    const refused = await until('the throttle in force', async () => {
      const a = await chat(gw, apiKey);
      return a.status === 429 ? a : undefined;
    });
    expect(refused.json.error).toMatchObject({ code: 'anomaly_throttled', type: 'rate_limit_error', param: null });
    expect(Object.keys(refused.json.error ?? {}).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.headers['x-request-id']).toBeDefined();
    expect((await chat(gw, apiKey)).status).toBe(429);

    const settings = await admin('GET', `/tenants/${tenant}/alert-settings`);
    expect(settings.json.throttles).toEqual([expect.objectContaining({ metric: 'requests', window: 'minute', limit: 1 })]);
    const open = await admin('GET', `/tenants/${tenant}/alerts?state=open&kind=usage.anomaly`);
    expect(open.status, open.text).toBe(200);
    const alerts = open.json.data as Record<string, unknown>[];
    expect(alerts).toHaveLength(1);
    const alert = alerts[0] as Record<string, unknown>;
    expect(alert).toMatchObject({ resolved_at: null, data: { action: 'throttle', throttle: { window: 'minute', limit: 1 } } });
    expect((settings.json.throttles as Record<string, unknown>[])[0]?.alert_id).toBe(alert.id);
    const id = str(alert.id);

    // Who may lift it: not a developer; another tenant's admin cannot even see it.
    const dev = await admin('POST', `/tenants/${tenant}/admin-keys`, { body: { name: 'dev', role: 'tenant_developer' } });
    envelope(await client(gw, str(dev.json.key))('POST', `/tenants/${tenant}/alerts/${id}/resolve`), 403, 'forbidden');
    envelope(await other('POST', `/tenants/${tenant}/alerts/${id}/resolve`), 404, 'not_found');
    expect((await chat(gw, apiKey)).status).toBe(429);

    const resolved = await admin('POST', `/tenants/${tenant}/alerts/${id}/resolve`);
    expect(resolved.status, resolved.text).toBe(200);
    expect(resolved.json).toMatchObject({ id, resolved_by: expect.stringContaining('api_key:') });
    expect(typeof resolved.json.resolved_at).toBe('string');
    // This replica's snapshot follows before the answer: the very next request is admitted.
    const after = await chat(gw, apiKey);
    expect(after.status).toBe(200);
    expect(throttleLimitHeader(after)).toBe('3000'); // the plan's rule again, not the throttle's
    expect((await admin('GET', `/tenants/${tenant}/alert-settings`)).json.throttles).toEqual([]);
    // Resolving again changes nothing.
    const again = await admin('POST', `/tenants/${tenant}/alerts/${id}/resolve`);
    expect(again.json.resolved_at).toBe(resolved.json.resolved_at);

    const audit = await admin('GET', `/tenants/${tenant}/audit?limit=50`);
    const actions = (audit.json.data as Record<string, unknown>[]).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['alert.raised', 'anomaly.throttle_opened', 'alert.resolve', 'alert_settings.update']));
    expect(actions.filter((a) => a === 'alert.resolve')).toHaveLength(1);
  }, 60_000);

  it('switching the action away from throttle lifts a throttle at once', async () => {
    // The first tenant's hour is judged already: a tenant of its own, refused outright (fraction 0).
    const t = await makeTenant(platform, 'spiky-two');
    const a = client(gw, t.admin);
    await a('PATCH', `/tenants/${t.id}/alert-settings`, { body: { anomaly_action: 'throttle', anomaly_throttle_fraction: 0 } });
    const key = str((await a('POST', `/tenants/${t.id}/api-keys`, { body: { name: 'app' } })).json.key);
    await raiseSpike(gw.store, t.id);
    await until('refused', async () => ((await chat(gw, key)).status === 429 ? true : undefined));
    const off = await a('PATCH', `/tenants/${t.id}/alert-settings`, { body: { anomaly_action: 'notify' } });
    expect(off.json).toMatchObject({ anomaly_action: 'notify', throttles: [] });
    expect((await chat(gw, key)).status).toBe(200);
  }, 60_000);
});

const replicas = (await postgresAvailable()) && (await redisAvailable());

describe.skipIf(!replicas)('anomaly throttle across two gateways [PostgreSQL, Redis]', () => {
  let db: PostgresTestDatabase;
  let one: TestGateway | undefined;
  let two: TestGateway | undefined;
  let tenant: string;
  let apiKey: string;
  let adminOne: Client;
  let adminTwo: Client;

  beforeAll(async () => {
    db = await createPostgresTestDatabase(POSTGRES_URL);
    const env = { DATABASE_URL: db.url, REDIS_URL, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex'), GATEHOUSE_ADMIN_KEY: BOOTSTRAP_KEY, GATEHOUSE_DEMO: '0' };
    // Without the demo tenant there is no default catalogue: the mock provider, declared.
    const yaml = `${YAML}providers:\n  - { name: mock, kind: mock }\ndeployments:\n  - { model: gpt-4o-mini, provider: mock }\n`;
    one = await startTestGateway({ yaml, env });
    two = await startTestGateway({ yaml, env });
    const t = await makeTenant(client(one, BOOTSTRAP_KEY), 'spiky-replicated');
    tenant = t.id;
    adminOne = client(one, t.admin);
    adminTwo = client(two, t.admin);
    await adminOne('PATCH', `/tenants/${tenant}/alert-settings`, { body: { anomaly_action: 'throttle', anomaly_throttle_fraction: 0.6 } });
    apiKey = str((await adminOne('POST', `/tenants/${tenant}/api-keys`, { body: { name: 'app' } })).json.key);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
    await db?.drop();
  });

  it('both replicas throttle from one shared bucket; resolving on one lifts it on the other', async () => {
    const a = one as TestGateway;
    const b = two as TestGateway;
    // Each replica has served the tenant once already (its key is in both snapshots).
    expect((await chat(a, apiKey)).status).toBe(200);
    await until('the key on the second replica', async () => ((await chat(b, apiKey)).status === 200 ? true : undefined));
    await raiseSpike(a.store, tenant);

    // On the first replica: the throttle's one request a minute, then refusals.
    await until('the throttle on the first replica', async () => ((await chat(a, apiKey)).status === 429 ? true : undefined));
    // On the second: its first answer under the throttle is a refusal, because the bucket lives in
    // Redis and the first replica emptied it (a per-replica bucket would admit one request here).
    const first = await until('the throttle on the second replica', async () => {
      const r = await chat(b, apiKey);
      if (r.status === 429) return r;
      return throttleLimitHeader(r) === '1' ? r : undefined;
    });
    expect(first.status).toBe(429);
    expect(first.json.error?.code).toBe('anomaly_throttled');

    const open = await adminTwo('GET', `/tenants/${tenant}/alerts?state=open`);
    const id = str((open.json.data as Record<string, unknown>[])[0]?.id);
    const resolved = await adminTwo('POST', `/tenants/${tenant}/alerts/${id}/resolve`);
    expect(resolved.status, resolved.text).toBe(200);
    expect((await chat(b, apiKey)).status).toBe(200);
    const started = performance.now();
    await until('the first replica admitting again', async () => ((await chat(a, apiKey)).status === 200 ? true : undefined), 5_000);
    console.log(`throttle lifted on the other replica within ${(performance.now() - started).toFixed(0)} ms`);
    expect((await adminOne('GET', `/tenants/${tenant}/alert-settings`)).json.throttles).toEqual([]);
  }, 90_000);
});
