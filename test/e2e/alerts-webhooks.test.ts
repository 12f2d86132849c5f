/**
 * Alerts end to end, over HTTP against a real gateway: a tenant with a cost budget and a webhook
 * whose receiver (node:http, checking the HMAC signature) fails twice then accepts; traffic
 * through the mock provider crosses the budget threshold; the crossing is delivered exactly once
 * after two retries (short backoff via config), shows in the admin API with its delivery, is in
 * the audit log, and data-plane responses carry the forecast exhaustion header.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { TestGateway } from '../helpers/gateway.js';
import { BOOTSTRAP_KEY, client, makeTenant, startAdminGateway, str, type Client } from '../integration/admin/helpers.js';
import { startReceiver, type Receiver } from '../integration/alerts/receiver.js';

const SECRET = 'whsec-e2e-0123456789abcdef';
const YAML = `
security:
  outbound:
    allowHosts: ['127.0.0.1']   # the local receiver; every other private address stays refused
alerts:
  evaluateIntervalMs: 1000
  deliveryIntervalMs: 50
  retryBaseMs: 100
  retryMaxMs: 300
  maxAttempts: 8
`;

let gw: TestGateway;
let rx: Receiver;
let platform: Client;
let admin: Client;
let tenant: string;
let apiKey: string;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function chat(): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'hello there' }] }),
  });
  await res.body.text();
  return { status: res.statusCode, headers: res.headers };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  rx = await startReceiver(SECRET);
  gw = await startAdminGateway({ yaml: YAML });
  platform = client(gw, BOOTSTRAP_KEY);
  const t = await makeTenant(platform, 'alerted');
  tenant = t.id;
  admin = client(gw, t.admin);
  for (const rule of [
    { id: 'daily-spend', metric: 'cost', window: 'day', limit: 2000 },
    { id: 'monthly-requests', metric: 'requests', window: 'month', limit: 40 },
  ]) {
    const r = await platform('POST', `/tenants/${tenant}/limits/rules`, { body: rule });
    expect(r.status, r.text).toBe(201);
  }
  const s = await admin('PATCH', `/tenants/${tenant}/alert-settings`, { body: { budget_thresholds: [1, 99] } });
  expect(s.status, s.text).toBe(200);
  expect(s.json).toMatchObject({ budget_thresholds: [1, 99], anomaly_action: 'notify' });
  // The admin API refuses loopback webhook URLs (SSRF); the receiver is local, so the URL is set in the store.
  const w = await admin('POST', `/tenants/${tenant}/webhooks`, { body: { url: 'https://hooks.example.com/in', events: ['budget.*'], secret: SECRET } });
  expect(w.status, w.text).toBe(201);
  await gw.store.withTenant(tenant, (tx) => tx.query('UPDATE webhooks SET url = $2 WHERE tenant_id = $1', [tenant, rx.url]));
  const k = await admin('POST', `/tenants/${tenant}/api-keys`, { body: { name: 'app' } });
  expect(k.status, k.text).toBe(201);
  apiKey = str(k.json.key);
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await rx?.close();
});

describe('budget alerts delivered as signed webhooks', () => {
  it('a threshold crossing is delivered once after two failures, visible in the admin API and the audit log', async () => {
    rx.plan = [500, 502];
    for (let i = 0; i < 20; i++) expect((await chat()).status).toBe(200);
    const spend = await until('the spend in the rollups', async () => {
      const f = await admin('GET', `/tenants/${tenant}/forecast`);
      const daily = (f.json.rules as Record<string, unknown>[]).find((r) => r.rule_id === 'daily-spend');
      return Number(daily?.used) >= 20 ? Number(daily?.used) : undefined;
    });
    expect(spend).toBeLessThan(2000 * 0.99); // only the 1 % threshold is crossed

    const alert = await until('the 1 % alert', async () => {
      const r = await admin('GET', `/tenants/${tenant}/alerts?kind=budget.threshold`);
      expect(r.status, r.text).toBe(200);
      return (r.json.data as Record<string, unknown>[] | undefined)?.find((a) => (a.data as Record<string, unknown>).threshold_percent === 1);
    });
    const id = str(alert.id);
    await until('delivery', async () => (rx.received.some((r) => r.eventId === id && r.status === 200) ? true : undefined));
    await sleep(1500); // a few more job and worker rounds: nothing more may arrive
    const mine = rx.received.filter((r) => r.eventId === id);
    expect(mine.map((r) => r.status)).toEqual([500, 502, 200]);
    expect(mine.every((r) => r.signatureOk)).toBe(true);
    expect(mine[2]?.body).toMatchObject({ id, type: 'budget.threshold', tenant_id: tenant, data: { rule_id: 'daily-spend', threshold_percent: 1 } });
    // The same crossing is never raised twice, however often the job runs.
    const all = await admin('GET', `/tenants/${tenant}/alerts`);
    expect((all.json.data as Record<string, unknown>[]).filter((a) => (a.data as Record<string, unknown>).threshold_percent === 1)).toHaveLength(1);

    const d = await admin('GET', `/tenants/${tenant}/alerts/${id}/deliveries`);
    expect(d.status, d.text).toBe(200);
    expect(d.json.data).toEqual([expect.objectContaining({ state: 'delivered', attempts: 3, last_status: 200, next_attempt_at: null })]);

    const audit = await admin('GET', `/tenants/${tenant}/audit?action=alert.delivered`);
    expect(audit.status, audit.text).toBe(200);
    expect((audit.json.data as Record<string, unknown>[]).some((e) => e.target_id === id)).toBe(true);
  }, 60_000);

  it('forecasts exhaustion in the admin API and in a response header', async () => {
    const f = await admin('GET', `/tenants/${tenant}/forecast`);
    expect(f.status, f.text).toBe(200);
    const rules = f.json.rules as Record<string, unknown>[];
    const monthly = rules.find((r) => r.rule_id === 'monthly-requests');
    expect(monthly).toMatchObject({ metric: 'requests', window: 'month', limit: 40 });
    expect(Number(monthly?.used)).toBeGreaterThanOrEqual(20);
    expect(Number(monthly?.rate_per_hour)).toBeGreaterThan(0);
    expect(rules.some((r) => r.rule_id === 'daily-spend')).toBe(true);

    // The job has run since the traffic: the header comes from its cache.
    const header = await until('the exhaustion header', async () => {
      const r = await chat();
      const h = r.headers['x-gatehouse-budget-exhausts-at'];
      return typeof h === 'string' ? h : undefined;
    }, 10_000);
    expect(new Date(header).toISOString()).toBe(header);
    expect(Date.parse(header)).toBeGreaterThan(Date.now() - 60_000);
  }, 30_000);

  it('a test event reaches every enabled webhook, signed', async () => {
    const r = await admin('POST', `/tenants/${tenant}/alerts/test`);
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ kind: 'webhook.test', deliveries: { pending: 1 } });
    const id = str(r.json.id);
    await until('the test delivery', async () => (rx.received.some((x) => x.eventId === id && x.status === 200) ? true : undefined));
    expect(rx.received.find((x) => x.eventId === id)).toMatchObject({ signatureOk: true, body: { type: 'webhook.test' } });
  }, 30_000);

  it('billing reads alerts; developers and auditors do not', async () => {
    for (const [role, status] of [['tenant_billing', 200], ['tenant_developer', 403], ['tenant_auditor', 403]] as const) {
      const k = await admin('POST', `/tenants/${tenant}/admin-keys`, { body: { name: role, role } });
      const c = client(gw, str(k.json.key));
      expect((await c('GET', `/tenants/${tenant}/alerts`)).status).toBe(status);
      expect((await c('GET', `/tenants/${tenant}/forecast`)).status).toBe(status);
    }
  });
});
