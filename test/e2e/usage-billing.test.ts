/**
 * One path through the gateway: model requests are metered (spool → shipper → rollups), the
 * usage API shows them to the tenant's billing role (JSON and CSV), the open period's draft
 * invoice prices them, /metrics labels them by tenant; another tenant's billing role gets the
 * same 404 as for a tenant that does not exist, and platform admins see fleet aggregates.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_KEY, client, etag, roleKey, startAdminGateway, type Client } from '../integration/admin/helpers.js';
import type { TestGateway } from '../helpers/gateway.js';
import { issueInvoice } from '../../src/billing/service.js';

const KEY_A = 'sk-alpha-0123456789abcdef0123456789abcdef';
const KEY_B = 'sk-bravo-0123456789abcdef0123456789abcdef';
const YAML = `
deployments:
  - model: priced-chat
    provider: mock
    upstreamModel: priced-chat
    prices: { input: 1, output: 10, request: 0.001 }
tenants:
  - slug: alpha
    keys:
      - { name: main, value: ${KEY_A} }
  - slug: bravo
    keys:
      - { name: main, value: ${KEY_B} }
`;

let gw: TestGateway;
let platform: Client;
let billingA: Client;
let billingB: Client;
let developerA: Client;

async function chat(key: string, tags: string): Promise<number> {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-gatehouse-tags': tags },
    body: JSON.stringify({ model: 'priced-chat', messages: [{ role: 'user', content: 'hello there' }] }),
  });
  await res.body.text();
  return res.statusCode;
}

beforeAll(async () => {
  gw = await startAdminGateway({ yaml: YAML });
  platform = client(gw, BOOTSTRAP_KEY);
  billingA = client(gw, await roleKey(platform, 'alpha', 'tenant_billing'));
  billingB = client(gw, await roleKey(platform, 'bravo', 'tenant_billing'));
  developerA = client(gw, await roleKey(platform, 'alpha', 'tenant_developer'));
  for (const tag of ['-calc', 'search', 'search']) expect(await chat(KEY_A, tag)).toBe(200);
  expect(await chat(KEY_B, 'other')).toBe(200);
  await gw.metering.drain(10_000);
}, 120_000);
afterAll(async () => {
  await gw?.stop();
});

describe('usage and billing through the gateway', () => {
  it("the tenant's billing role sees its metered requests in the usage API", async () => {
    const r = await billingA('GET', '/tenants/alpha/usage?granularity=hour&group_by=model');
    expect(r.status, r.text).toBe(200);
    const totals = r.json.totals as { requests: number; cost_micros: number; cost_cents: number; input_tokens: number };
    expect(totals.requests).toBe(3);
    expect(totals.input_tokens).toBeGreaterThan(0);
    expect(totals.cost_micros).toBeGreaterThan(3 * 1000); // at least the per-request price
    expect(r.json.breakdown).toEqual([expect.objectContaining({ group: 'priced-chat', requests: 3 })]);
    const tags = await billingA('GET', '/tenants/alpha/usage?group_by=tag');
    expect((tags.json.totals as { requests: number }).requests).toBe(3);
    expect((tags.json.breakdown as { group: string; requests: number }[]).map((b) => [b.group, b.requests])).toEqual([
      ['-calc', 1],
      ['search', 2],
    ]);
  });

  it('exports CSV on request, with formula-looking cells neutralised', async () => {
    const r = await billingA('GET', '/tenants/alpha/usage?group_by=tag', { headers: { accept: 'text/csv' } });
    expect(r.status).toBe(200);
    expect(String(r.headers['content-type'])).toMatch(/^text\/csv/);
    expect(r.text.split('\r\n')[0]).toBe('bucket_start,group,requests,input_tokens,output_tokens,cached_tokens,cost_micros,cost_cents,avg_latency_ms,avg_ttft_ms');
    expect(r.text).toContain(",'-calc,1,");
    expect(r.text).not.toMatch(/,-calc/);
  });

  it("the open period's draft invoice prices the same usage", async () => {
    const usage = await billingA('GET', '/tenants/alpha/usage');
    const draft = await billingA('GET', '/tenants/alpha/invoice-draft');
    expect(draft.status, draft.text).toBe(200);
    expect(draft.json).toMatchObject({ object: 'invoice', status: 'draft', currency: 'USD' });
    const line = (draft.json.lines as { kind: string; model: string; requests: number; amount_cents: number }[]).find((l) => l.kind === 'usage');
    expect(line).toMatchObject({ model: 'priced-chat', requests: 3, amount_cents: (usage.json.totals as { cost_cents: number }).cost_cents });
    const chargeback = await billingA('GET', '/tenants/alpha/chargeback?by=tag&format=csv');
    expect(chargeback.status).toBe(200);
    expect(chargeback.text).toContain("'-calc");
  });

  it("another tenant's billing role gets the 404 of a tenant that does not exist; a developer gets 403", async () => {
    for (const path of ['/usage', '/invoices', '/invoice-draft', '/chargeback?by=team']) {
      const foreign = await billingB('GET', `/tenants/alpha${path}`);
      const missing = await billingB('GET', `/tenants/no-such-tenant${path}`);
      expect(foreign.status).toBe(404);
      expect(foreign.json).toEqual(missing.json);
      expect(foreign.text).not.toContain('priced-chat');
    }
    expect((await developerA('GET', '/tenants/alpha/usage')).status).toBe(403);
  });

  it('bad query parameters are a clear 400', async () => {
    const r = await billingA('GET', '/tenants/alpha/usage?granularity=week');
    expect(r.status).toBe(400);
    expect((r.json.error as { param: string }).param).toBe('granularity');
    const tagged = await billingA('GET', '/tenants/alpha/usage?tag=search&status=ok');
    expect(tagged.status).toBe(400);
    expect((tagged.json.error as { message: string }).message).toMatch(/status: cannot be combined with tag/);
    const range = await billingA('GET', '/tenants/alpha/usage?granularity=hour&from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z');
    expect(range.status).toBe(400);
  });

  it('platform admins see aggregates across tenants, and invoice totals only', async () => {
    const r = await platform('GET', '/platform/usage?group_by=tenant');
    expect(r.status, r.text).toBe(200);
    const byTenant = Object.fromEntries((r.json.breakdown as { group: string; requests: number }[]).map((b) => [b.group, b.requests]));
    expect(byTenant).toMatchObject({ alpha: 3, bravo: 1 });
    expect((await platform('GET', '/tenants/alpha/invoices')).status).toBe(200);
    expect((await platform('GET', '/tenants/alpha/usage')).status).toBe(403);
    const prices = await platform('GET', '/platform/price-book?model=priced-chat');
    expect(prices.json.data).toEqual([expect.objectContaining({ model: 'priced-chat', input_per_mtok_micros: 1_000_000, output_per_mtok_micros: 10_000_000, per_request_micros: 1000 })]);
  });

  it('/metrics labels the requests by tenant', async () => {
    const res = await request(`${gw.url}/metrics`);
    const text = await res.body.text();
    expect(text).toContain('gatehouse_tenant_requests_total{tenant="alpha",status_class="ok"} 3');
    expect(text).toContain('gatehouse_tenant_requests_total{tenant="bravo",status_class="ok"} 1');
    expect(text).toMatch(/gatehouse_tenant_cost_micros_total\{tenant="alpha"\} \d+/);
    expect(text).toMatch(/gatehouse_upstream_responses_total\{deployment="[^"]+",class="ok"\} 4/);
  });

  it("plan pricing: a base fee on the draft, and custom domains refused when the plan lacks them", async () => {
    expect((await platform('POST', '/plans', { body: { name: 'basic' } })).status).toBe(201);
    const bad = await platform('POST', '/plans/basic/pricing', { body: { pricing: { baseFeeCents: -1 } } });
    expect(bad.status).toBe(400);
    const set = await platform('POST', '/plans/basic/pricing', { body: { pricing: { baseFeeCents: 2500, features: { custom_domains: false } } } });
    expect(set.status, set.text).toBe(200);
    const got = await platform('GET', '/plans/basic/pricing');
    expect(got.json.pricing).toMatchObject({ currency: 'USD', baseFeeCents: 2500, features: { custom_domains: false, caching: true } });
    const tenant = await platform('GET', '/tenants/bravo');
    const moved = await platform('PATCH', '/tenants/bravo', { body: { plan: 'basic' }, headers: { 'if-match': etag(tenant) } });
    expect(moved.status, moved.text).toBe(200);
    const adminB = client(gw, await roleKey(platform, 'bravo', 'tenant_admin'));
    const refused = await adminB('POST', '/tenants/bravo/domains', { body: { domain: 'ai.bravo.example.com' } });
    expect(refused.status).toBe(403);
    expect((refused.json.error as { message: string }).message).toMatch(/not included in the tenant's plan/);
    const draft = await billingB('GET', '/tenants/bravo/invoice-draft');
    // bravo moved to basic just now: the base fee is prorated from the move to the month's end.
    const segments = draft.json.segments as { plan_id: string | null; from: string; to: string }[];
    expect(segments.map((s) => s.plan_id)).toEqual([null, String((await platform('GET', '/plans/basic')).json.id)]);
    const onBasic = segments[1] ?? { from: '', to: '' };
    const share = (Date.parse(onBasic.to) - Date.parse(onBasic.from)) / (Date.parse(String(draft.json.period_end)) - Date.parse(String(draft.json.period_start)));
    const fee = (draft.json.lines as { kind: string; amount_cents: number; segment: number }[]).find((l) => l.kind === 'base_fee');
    expect(fee).toEqual(expect.objectContaining({ amount_cents: Math.round(2500 * share), segment: 1 }));
    // alpha, on no plan, still may.
    const adminA = client(gw, await roleKey(platform, 'alpha', 'tenant_admin'));
    expect((await adminA('POST', '/tenants/alpha/domains', { body: { domain: 'ai.alpha.example.com' } })).status).toBe(201);
  });

  it("an issued invoice: lines for the tenant's billing role, totals only for platform admins, 404 for other tenants", async () => {
    const bravoId = String((await platform('GET', '/tenants/bravo')).json.id);
    const basicId = String((await platform('GET', '/plans/basic')).json.id);
    // The last ended month is before bravo existed, and a tenant is never billed for a month that
    // ended before it was created; invoices price a month by the plan history, which starts today
    // on no plan. Record bravo as created, and on basic, long before, so the month has its fee.
    await gw.store.admin((tx) => tx.query("UPDATE tenants SET created_at = '2000-01-01T00:00:00Z' WHERE id = $1", [bravoId]));
    await gw.store.withTenant(bravoId, (tx) =>
      tx.query("INSERT INTO tenant_plan_history (tenant_id, plan_id, effective_from) VALUES ($1, $2, '2000-01-01T00:00:00Z')", [bravoId, basicId]),
    );
    const { invoice } = await gw.store.withTenant(bravoId, (tx) => issueInvoice(tx, undefined, new Date()));
    const own = await billingB('GET', `/tenants/bravo/invoices/${invoice.id}`);
    expect(own.status, own.text).toBe(200);
    expect(own.json).toMatchObject({ status: 'issued', total_cents: 2500, lines: [expect.objectContaining({ kind: 'base_fee', amount_cents: 2500 })] });
    const csv = await billingB('GET', `/tenants/bravo/invoices/${invoice.id}?format=csv`);
    expect(csv.text).toContain('base_fee,Monthly base fee,,,0,0,0,0,2500,USD');
    const pa = await platform('GET', `/tenants/bravo/invoices/${invoice.id}`);
    expect(pa.status).toBe(200);
    expect(pa.json).toMatchObject({ total_cents: 2500 });
    expect(pa.json).not.toHaveProperty('lines');
    const paList = await platform('GET', '/tenants/bravo/invoices');
    expect((paList.json.data as Record<string, unknown>[])[0]).not.toHaveProperty('lines');
    const foreign = await billingA('GET', `/tenants/alpha/invoices/${invoice.id}`);
    const missing = await billingA('GET', '/tenants/alpha/invoices/00000000-0000-4000-8000-000000000000');
    expect(foreign.status).toBe(404);
    expect(foreign.json).toEqual(missing.json);
  });
});
