/**
 * Tenant identification and key checks as a client meets them: key, path, X-Tenant-ID and Host
 * must agree; suspended tenants, expired keys and narrow scopes are refused before any upstream
 * call; a tenant sees only its own models.
 */
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const ACME = 'sk-acme-0123456789abcdef0123456789abcdef';
const ACME_EMBED_ONLY = 'sk-acme-embed-0123456789abcdef0123456789';
const ACME_EXPIRED = 'sk-acme-expired-0123456789abcdef01234567';
const ACME_MODELS_READ = 'sk-acme-models-0123456789abcdef012345678';
const GLOBEX = 'sk-globex-0123456789abcdef0123456789abcd';
const INITECH = 'sk-initech-0123456789abcdef0123456789abc';

const YAML = `
tenants:
  - slug: acme
    domains: [ai.acme.test]
    models: [gpt-4o-mini, text-embedding-3-small]
    keys:
      - { name: main, value: ${ACME} }
      - { name: embed, value: ${ACME_EMBED_ONLY}, scopes: [embeddings] }
      - { name: old, value: ${ACME_EXPIRED}, expiresAt: "2020-01-01" }
      - { name: lister, value: ${ACME_MODELS_READ}, scopes: ["models:read"] }
  - slug: globex
    domains: [ai.globex.test]
    keys:
      - { name: main, value: ${GLOBEX} }
  - slug: initech
    status: suspended
    keys:
      - { name: main, value: ${INITECH} }
`;

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ yaml: YAML });
});
afterAll(async () => {
  await gw?.stop();
});

const chatBody = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

async function post(path: string, key: string | undefined, headers: Record<string, string> = {}, body = chatBody) {
  const upstreamBefore = gw.mock?.requests.length ?? 0;
  const res = await request(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body,
  });
  const json = (await res.body.json()) as { error?: { code: string; type: string; message: string } };
  return { status: res.statusCode, json, headers: res.headers, upstreamCalls: (gw.mock?.requests.length ?? 0) - upstreamBefore };
}

describe('tenant identification', () => {
  it('identifies the tenant from the key alone', async () => {
    const r = await post('/v1/chat/completions', ACME);
    expect(r.status).toBe(200);
    expect(r.headers['x-tenant-id']).toBe('acme');
  });

  it('accepts agreeing path, header and host claims', async () => {
    const r = await post('/api/v1/tenants/acme/v1/chat/completions', ACME, { 'x-tenant-id': 'acme', host: 'ai.acme.test' });
    expect(r.status).toBe(200);
  });

  it.each([
    ['path', '/api/v1/tenants/globex/v1/chat/completions', {}],
    ['header', '/v1/chat/completions', { 'x-tenant-id': 'globex' }],
    ['host', '/v1/chat/completions', { host: 'ai.globex.test' }],
    // The same name written absolute (a trailing dot, RFC 1034 §3.1) named no tenant: served.
    ['host, written as an absolute name', '/v1/chat/completions', { host: 'AI.Globex.Test.:8080' }],
  ])('rejects a key of one tenant with another tenant in the %s, before any upstream call', async (_src, path, headers) => {
    const r = await post(path, ACME, headers);
    expect(r.status).toBe(403);
    expect(r.json.error?.code).toBe('tenant_mismatch');
    expect(r.upstreamCalls).toBe(0);
  });

  it('answers an unknown tenant exactly like another tenant (no existence leak)', async () => {
    const unknown = await post('/api/v1/tenants/does-not-exist/v1/chat/completions', ACME);
    const other = await post('/api/v1/tenants/globex/v1/chat/completions', ACME);
    expect(unknown.status).toBe(other.status);
    expect(unknown.json.error?.code).toBe(other.json.error?.code);
    expect(unknown.json.error?.message).toBe(other.json.error?.message);
  });

  it('rejects unauthenticated requests with 401 whatever tenant they name', async () => {
    expect((await post('/api/v1/tenants/acme/v1/chat/completions', undefined)).status).toBe(401);
    expect((await post('/api/v1/tenants/nope/v1/chat/completions', undefined)).status).toBe(401);
    const malformed = await post('/v1/chat/completions', undefined, { authorization: 'Basic abc' });
    expect(malformed.status).toBe(401);
  });

  it('refuses a suspended tenant before any upstream call', async () => {
    const r = await post('/v1/chat/completions', INITECH);
    expect(r.status).toBe(403);
    expect(r.json.error?.code).toBe('tenant_suspended');
    expect(r.upstreamCalls).toBe(0);
  });
});

describe('keys', () => {
  it('refuses an expired key', async () => {
    const r = await post('/v1/chat/completions', ACME_EXPIRED);
    expect(r.status).toBe(401);
    expect(r.json.error?.code).toBe('expired_api_key');
  });

  it('enforces scopes: an embeddings-only key cannot chat, a models:read key cannot infer', async () => {
    expect((await post('/v1/chat/completions', ACME_EMBED_ONLY)).status).toBe(403);
    const embed = await post('/v1/embeddings', ACME_EMBED_ONLY, {}, JSON.stringify({ model: 'text-embedding-3-small', input: 'x' }));
    expect(embed.status).toBe(200);
    expect((await post('/v1/chat/completions', ACME_MODELS_READ)).json.error?.code).toBe('insufficient_scope');
    const sdk = new OpenAI({ apiKey: ACME_EMBED_ONLY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    await expect(sdk.models.list()).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
  });

  it('shows a tenant only the models it may use, and hides the others as not found', async () => {
    const acme = new OpenAI({ apiKey: ACME, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const ids: string[] = [];
    for await (const m of acme.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(['gpt-4o-mini', 'text-embedding-3-small']);
    await expect(acme.models.retrieve('gpt-4o')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const r = await post('/v1/chat/completions', ACME, {}, JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }));
    expect(r.status).toBe(404);
    expect(r.upstreamCalls).toBe(0);
  });
});

describe('HEAD on GET routes', () => {
  // Differ between any two requests.
  const VOLATILE = new Set(['date', 'x-request-id', 'x-gatehouse-processing-ms']);
  const comparable = (h: Record<string, unknown>) => Object.fromEntries(Object.entries(h).filter(([k]) => !VOLATILE.has(k)));

  it.each([
    ['/v1/models', ACME],
    ['/v1/models/gpt-4o-mini', ACME],
    ['/api/v1/tenants/acme/v1/models', ACME],
    ['/api/v1/tenants/acme/v1/models/text-embedding-3-small', ACME],
    // Errors too: a model the tenant may not see, no key, another tenant's path.
    ['/v1/models/gpt-4o', ACME],
    ['/v1/models', undefined],
    ['/api/v1/tenants/globex/v1/models', ACME],
  ])('HEAD %s answers as GET does, without a body', async (path, key) => {
    const headers = key === undefined ? {} : { authorization: `Bearer ${key}` };
    const get = await request(`${gw.url}${path}`, { headers });
    const getBody = await get.body.text();
    // reset: false, or undici asks for `connection: close` after a HEAD (and the answer says so).
    const head = await request(`${gw.url}${path}`, { method: 'HEAD', headers, reset: false });
    expect(await head.body.text()).toBe('');
    expect(head.statusCode).toBe(get.statusCode);
    expect(comparable(head.headers)).toEqual(comparable(get.headers));
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(getBody)));
  });

  it('HEAD /metrics and /healthz answer as GET does, without a body', async () => {
    for (const path of ['/metrics', '/healthz']) {
      const get = await request(`${gw.url}${path}`);
      await get.body.text();
      const head = await request(`${gw.url}${path}`, { method: 'HEAD', reset: false });
      expect(await head.body.text()).toBe('');
      expect(head.statusCode).toBe(get.statusCode);
      expect(head.headers['content-type']).toBe(get.headers['content-type']);
      expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    }
  });
});

describe('tenant-scoped routes', () => {
  it('works as an SDK base URL', async () => {
    const sdk = new OpenAI({ apiKey: GLOBEX, baseURL: `${gw.url}/api/v1/tenants/globex/v1`, maxRetries: 0 });
    const res = await sdk.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    expect(res.choices).toHaveLength(1);
  });

  it('predict runs chat for chat models and embeddings for embedding models', async () => {
    const chat = await post('/api/v1/tenants/acme/models/gpt-4o-mini/predict', ACME, {}, JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(chat.status).toBe(200);
    expect(chat.json).toMatchObject({ object: 'chat.completion' });
    const embed = await post('/api/v1/tenants/acme/models/text-embedding-3-small/predict', ACME, {}, JSON.stringify({ input: 'hello', encoding_format: 'float' }));
    expect(embed.status).toBe(200);
    expect(embed.json).toMatchObject({ object: 'list' });
    const other = await post('/api/v1/tenants/globex/models/gpt-4o-mini/predict', ACME, {}, JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }));
    expect(other.status).toBe(403);
  });
});
