/**
 * Billing through a running gateway (issue 6, second part):
 * - a price change through the admin API prices the next requests, whose usage events name the
 *   new price-book version, while earlier events keep theirs; the invoice has a line per version
 *   and is reproduced from the rollups;
 * - platform_billing reads every tenant's usage, invoices (with lines), drafts and chargeback and
 *   closes periods, and changes nothing else;
 * - closing through the admin API is idempotent and audited; a month that ended before a tenant
 *   was created is never billed to it (left out of a named close, 409 before_creation when that
 *   tenant is named); tenants may read their own invoices, never another tenant's (404), and may
 *   not close periods.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueInvoice, recomputeInvoice } from '../../src/billing/service.js';
import { periodAt } from '../../src/billing/period.js';
import type { InvoiceLine } from '../../src/billing/types.js';
import type { TestGateway } from '../helpers/gateway.js';
import { BOOTSTRAP_KEY, client, envelope, makeTenant, roleKey, startAdminGateway, str, type Client } from '../integration/admin/helpers.js';

const KEY_A = 'sk-alpha-0123456789abcdef0123456789abcdef';
const KEY_B = 'sk-bravo-0123456789abcdef0123456789abcdef';
const YAML = `
deployments:
  - model: versioned-chat
    provider: mock
    upstreamModel: versioned-chat
    prices: { input: 1, output: 10 }
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
let finance: Client;
let auditor: Client;
let adminA: Client;
let adminB: Client;
let alphaId: string;
let charlieId: string;

async function chat(key: string): Promise<void> {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'versioned-chat', messages: [{ role: 'user', content: 'hello there' }] }),
  });
  await res.body.text();
  expect(res.statusCode).toBe(200);
}

async function platformKey(role: string): Promise<string> {
  const k = await platform('POST', '/admin-keys', { body: { name: role, role } });
  expect(k.status, k.text).toBe(201);
  return str(k.json.key);
}

interface EventRow {
  price_version: string | null;
  cost_micros: string;
  input_tokens: string;
  output_tokens: string;
}

/** The last month that has ended (UTC, the YAML tenants' zone): what a close without a period issues. */
function previousMonth(): string {
  const month = periodAt(new Date(), 'UTC');
  return periodAt(new Date(month.start.getTime() - 1), 'UTC').id;
}

const events = () =>
  gw.store.withTenant(alphaId, async (tx) => (await tx.query<EventRow>('SELECT price_version, cost_micros::text, input_tokens::text, output_tokens::text FROM usage_events ORDER BY occurred_at')).rows);

beforeAll(async () => {
  gw = await startAdminGateway({ yaml: YAML });
  platform = client(gw, BOOTSTRAP_KEY);
  finance = client(gw, await platformKey('platform_billing'));
  auditor = client(gw, await platformKey('platform_auditor'));
  alphaId = str((await platform('GET', '/tenants/alpha')).json.id);
  const bravoId = str((await platform('GET', '/tenants/bravo')).json.id);
  // The YAML's tenants are created at start; the months closed below (2026-01, 2026-02, the last
  // ended one) must be months they existed in, or they are not billed for them.
  await gw.store.admin((tx) => tx.query("UPDATE tenants SET created_at = '2025-12-01T00:00:00Z' WHERE id = ANY($1::uuid[])", [[alphaId, bravoId]]));
  adminA = client(gw, await roleKey(platform, alphaId, 'tenant_admin'));
  adminB = client(gw, await roleKey(platform, bravoId, 'tenant_admin'));
}, 120_000);
afterAll(async () => {
  await gw?.stop();
});

describe('price versions through the gateway', () => {
  it('a new price prices the next requests; their events name it, earlier events keep theirs', async () => {
    const book = await finance('GET', '/platform/price-book?model=versioned-chat');
    expect(book.status, book.text).toBe(200);
    const configured = (book.json.data as { id: string; source: string }[]).filter((p) => p.source === 'config');
    expect(configured).toHaveLength(1);
    const v1 = configured[0]?.id;

    await chat(KEY_A);
    await gw.metering.drain(10_000);
    const changed = await platform('POST', '/platform/price-book', {
      body: { model: 'versioned-chat', input_per_mtok_micros: 3_000_000, output_per_mtok_micros: 30_000_000 },
    });
    expect(changed.status, changed.text).toBe(201);
    expect(changed.json).toMatchObject({ source: 'admin', deployment_id: null });
    const v2 = str(changed.json.id);
    await chat(KEY_A);
    await gw.metering.drain(10_000);

    const rows = await events();
    expect(rows.map((r) => r.price_version)).toEqual([v1, v2]);
    // Each cost is the tokens at its own version's prices (1/10 per million, then 3/30).
    const [first, second] = rows;
    if (first === undefined || second === undefined) throw new Error('events');
    expect(Number(first.cost_micros)).toBe(Math.ceil((Number(first.input_tokens) * 1_000_000 + Number(first.output_tokens) * 10_000_000) / 1_000_000));
    expect(Number(second.cost_micros)).toBe(Math.ceil((Number(second.input_tokens) * 3_000_000 + Number(second.output_tokens) * 30_000_000) / 1_000_000));

    // The change is audited in the platform log.
    const log = await auditor('GET', '/platform/audit?action=price.create');
    expect((log.json.data as { target_id: string }[]).map((e) => e.target_id)).toContain(v2);
  });

  it('the draft has a line per version, and the invoice issued from it is reproduced from the rollups', async () => {
    const draft = await finance('GET', '/tenants/alpha/invoice-draft');
    expect(draft.status, draft.text).toBe(200);
    const usage = (draft.json.lines as { kind: string; price_version: string | null; requests: number }[]).filter((l) => l.kind === 'usage');
    expect(usage.map((l) => l.requests)).toEqual([1, 1]);
    expect(new Set(usage.map((l) => l.price_version)).size).toBe(2);

    // Issue this month as if it had ended (the API only closes ended months).
    const month = periodAt(new Date(), 'UTC');
    const { invoice } = await gw.store.withTenant(alphaId, (tx) => issueInvoice(tx, month.id, month.end));
    const lines = invoice.lines as InvoiceLine[];
    expect(lines.filter((l) => l.kind === 'usage').map((l) => l.priceVersion)).toEqual(usage.map((l) => l.price_version));
    const again = await gw.store.withTenant(alphaId, (tx) => recomputeInvoice(tx, invoice));
    expect(again.lines).toEqual(invoice.lines);

    const csv = await finance('GET', `/tenants/alpha/invoices/${invoice.id}?format=csv`);
    expect(csv.text.split('\r\n')[0]).toBe('period,kind,description,model,feature,requests,input_tokens,output_tokens,cached_tokens,amount_cents,currency,price_version,segment');
    for (const l of usage) expect(csv.text).toContain(`,USD,${l.price_version},0`);
  });
});

describe('the platform billing role', () => {
  it("reads every tenant's usage, invoices with their lines, drafts and chargeback", async () => {
    expect((await finance('GET', '/tenants')).status).toBe(200);
    expect(((await finance('GET', '/tenants/alpha/usage')).json.totals as { requests: number }).requests).toBe(2);
    const list = await finance('GET', '/tenants/alpha/invoices');
    expect((list.json.data as { lines?: unknown[] }[])[0]?.lines?.length).toBeGreaterThan(0);
    expect((await finance('GET', '/tenants/alpha/chargeback?by=key')).status).toBe(200);
    expect((await finance('GET', '/tenants/bravo/invoice-draft')).status).toBe(200);
    expect((await finance('GET', '/platform/usage?group_by=tenant')).status).toBe(200);
    // The platform admin still sees totals only.
    expect((await platform('GET', '/tenants/alpha/invoices')).json.data).toEqual([expect.not.objectContaining({ lines: expect.anything() })]);
  });

  it('changes nothing: no tenant, key, deployment, price, plan or secret', async () => {
    const refused: [string, string, unknown][] = [
      ['POST', '/tenants', { slug: 'nope', name: 'Nope' }],
      ['PATCH', '/tenants/alpha', { name: 'Renamed' }],
      ['POST', '/tenants/alpha/suspend', undefined],
      ['POST', '/tenants/alpha/api-keys', { name: 'k' }],
      ['POST', '/tenants/alpha/admin-keys', { name: 'k', role: 'tenant_admin' }],
      ['POST', '/admin-keys', { name: 'k', role: 'platform_admin' }],
      ['POST', '/tenants/alpha/deployments', { model: 'x', provider: 'openai', base_url: 'https://x.example.com/v1' }],
      ['POST', '/tenants/alpha/provider-credentials', { name: 'p', provider: 'openai', secret: 'sk-secret-0123456789' }],
      ['GET', '/tenants/alpha/provider-credentials', undefined],
      ['POST', '/platform/price-book', { model: 'versioned-chat', input_per_mtok_micros: 0, output_per_mtok_micros: 0 }],
      ['POST', '/plans/free/pricing', { pricing: null }],
      ['POST', '/tenants/alpha/limits/rules', { id: 'x', metric: 'requests', window: 'minute', limit: 1 }],
    ];
    for (const [method, path, body] of refused) {
      const r = await finance(method as 'POST', path, body === undefined ? { headers: { 'if-match': '*' } } : { body, headers: { 'if-match': '*' } });
      expect({ path, status: r.status }).toEqual({ path, status: 403 });
    }
    expect((await platform('GET', '/tenants/alpha')).json).toMatchObject({ name: 'alpha', status: 'active' });
  });
});

describe('closing periods through the admin API', () => {
  it('a tenant month: refused while open, issued once (201, then 200), audited in the tenant log', async () => {
    const open = await finance('POST', '/tenants/bravo/invoices/close', { body: { period: periodAt(new Date(), 'UTC').id } });
    envelope(open, 400, 'invalid_request');
    const first = await finance('POST', '/tenants/bravo/invoices/close', { body: { period: '2026-01' } });
    expect(first.status, first.text).toBe(201);
    expect(first.json).toMatchObject({ status: 'issued', period: '2026-01', lines: [] });
    const again = await finance('POST', '/tenants/bravo/invoices/close', { body: { period: '2026-01' } });
    expect(again.status).toBe(200);
    expect(again.json.id).toBe(first.json.id);
    const log = await adminB('GET', '/tenants/bravo/audit?action=invoice.issued');
    expect(log.status, log.text).toBe(200);
    expect((log.json.data as { target_id: string; actor_kind: string }[]).map((e) => [e.target_id, e.actor_kind])).toEqual([[first.json.id, 'api_key']]);
  });

  it('every tenant: idempotent, with the run audited in the platform log; not tenants created after the month', async () => {
    // Created now: no month has ended since.
    charlieId = (await makeTenant(platform, 'charlie')).id;
    const first = await finance('POST', '/platform/billing/close-period', { body: { period: '2026-02' } });
    expect(first.status, first.text).toBe(200);
    expect(first.json).toMatchObject({ object: 'close_period', period: '2026-02', failed: 0 });
    expect(first.json.issued).toBeGreaterThanOrEqual(2);
    expect(first.json.before_creation).toBeGreaterThanOrEqual(1); // charlie (and the test gateway's demo tenant)
    expect((await finance('GET', '/tenants/charlie/invoices')).json.data).toEqual([]);
    const second = await platform('POST', '/platform/billing/close-period', { body: { period: '2026-02' } });
    expect(second.json).toMatchObject({ issued: 0, already_issued: first.json.issued, before_creation: first.json.before_creation });
    const log = await auditor('GET', '/platform/audit?action=billing.close_period');
    expect((log.json.data as unknown[]).length).toBe(2);
    // Without a period: each tenant's last ended month (alpha's and bravo's), but not for tenants created after it.
    const auto = await finance('POST', '/platform/billing/close-period');
    expect(auto.json).toMatchObject({ period: null, issued: 2, failed: 0 });
    expect(auto.json.before_creation).toBe(first.json.before_creation);
    expect((await finance('GET', '/tenants/charlie/invoices')).json.data).toEqual([]);
  });

  it("one tenant's month that ended before it was created is refused: 409 before_creation, nothing issued", async () => {
    const refused = await finance('POST', '/tenants/charlie/invoices/close', { body: { period: '2026-02' } });
    const e = envelope(refused, 409, 'before_creation');
    expect(e).toMatchObject({ param: 'period', type: 'invalid_request_error', message: expect.stringMatching(/2026-02 ended .* before the tenant was created/) });
    // Its default, the last ended month, is before it too.
    envelope(await platform('POST', '/tenants/charlie/invoices/close'), 409, 'before_creation');
    expect((await finance('GET', '/tenants/charlie/invoices')).json.data).toEqual([]);
    const issued = await gw.store.withTenant(charlieId, async (tx) => (await tx.query("SELECT 1 FROM audit_entries WHERE action = 'invoice.issued'")).rowCount);
    expect(issued).toBe(0);
  });

  it("tenants read their own invoices (JSON and CSV), never another tenant's, and do not close periods", async () => {
    const own = await adminB('GET', '/tenants/bravo/invoices');
    expect((own.json.data as { period: string }[]).map((i) => i.period)).toEqual([previousMonth(), '2026-02', '2026-01']);
    const csv = await adminB('GET', '/tenants/bravo/invoices', { headers: { accept: 'text/csv' } });
    expect(csv.text.split('\r\n')[0]).toBe('id,period,period_start,period_end,currency,usage_cents,total_cents,issued_at');
    for (const [method, path] of [
      ['GET', '/tenants/alpha/invoices'],
      ['GET', '/tenants/alpha/invoice-draft'],
      ['POST', '/tenants/alpha/invoices/close'],
    ] as const) {
      const foreign = await adminB(method, path, method === 'POST' ? { body: { period: '2026-03' } } : {});
      const missing = await adminB(method, path.replace('alpha', 'no-such-tenant'), method === 'POST' ? { body: { period: '2026-03' } } : {});
      envelope(foreign, 404, 'not_found');
      expect(foreign.json).toEqual(missing.json);
    }
    envelope(await adminA('POST', '/tenants/alpha/invoices/close', { body: { period: '2026-03' } }), 403, 'forbidden');
  });
});
