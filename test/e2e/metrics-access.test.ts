/**
 * /metrics names tenants and their spend and is served on the port tenants call: with
 * GATEHOUSE_METRICS_TOKEN only that bearer token reads it; without, only local, unproxied clients.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const TOKEN = 'scrape-token-0123456789abcdef';
let guarded: TestGateway;
let open: TestGateway;

beforeAll(async () => {
  [guarded, open] = await Promise.all([startTestGateway({ env: { GATEHOUSE_METRICS_TOKEN: TOKEN } }), startTestGateway()]);
}, 120_000);
afterAll(async () => {
  await Promise.all([guarded?.stop(), open?.stop()]);
});

async function scrape(gw: TestGateway, headers: Record<string, string> = {}) {
  const res = await request(`${gw.url}/metrics`, { headers });
  return { status: res.statusCode, text: await res.body.text() };
}

describe('GET /metrics access', () => {
  it('with a token: the bearer token reads it; none or another is a 401 in the envelope', async () => {
    expect((await scrape(guarded, { authorization: `Bearer ${TOKEN}` })).text).toMatch(/^gatehouse_usage_spool_bytes \d+/m);
    const attempts: Record<string, string>[] = [{}, { authorization: `Bearer ${TOKEN}x` }, { authorization: 'Bearer demo' }];
    for (const headers of attempts) {
      const r = await scrape(guarded, headers);
      expect(r.status).toBe(401);
      expect(JSON.parse(r.text)).toMatchObject({ error: { type: 'authentication_error' } });
      expect(r.text).not.toContain('gatehouse_');
    }
  });

  it('without a token: a local client reads it, one that came through a proxy does not', async () => {
    expect((await scrape(open)).status).toBe(200);
    const proxied = await scrape(open, { 'x-forwarded-for': '203.0.113.7' });
    expect(proxied.status).toBe(403);
    expect(proxied.text).not.toContain('gatehouse_tenant');
  });
});
