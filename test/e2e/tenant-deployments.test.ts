/**
 * Issue 7 "Routing", end to end over HTTP: tenant A's dedicated deployment (its own upstream,
 * authenticated with its own provider credential) serves A and nobody else; a change made
 * straight in the store reaches the data plane within a second (NOTIFY); aliases work through
 * the official OpenAI SDK; tenant-set addresses are refused at save and at connect.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelAliasesRepo, tenantDeploymentsRepo } from '../../src/store/index.js';
import { startAdminGateway, BOOTSTRAP_KEY, client, envelope, str, type Client } from '../integration/admin/helpers.js';
import type { TestGateway } from '../helpers/gateway.js';

const KEY_A = 'ghk_alpha000_dedicatedkeyfortenantalpha00000000';
const KEY_B = 'ghk_bravo000_dedicatedkeyfortenantbravo00000000';
const UPSTREAM_SECRET = 'sk-alpha-upstream-SECRET-CANARY-42';

interface Seen {
  authorization: string | undefined;
  model: unknown;
  path: string | undefined;
}

/** A minimal OpenAI-wire upstream that records what reached it. */
function startUpstream(name: string): Promise<{ server: Server; url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as { model?: unknown };
      seen.push({ authorization: req.headers.authorization, model: body.model, path: req.url });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `chatcmpl-${name}`,
          object: 'chat.completion',
          created: 1,
          model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: `from ${name}` }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
        }),
      );
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen })),
  );
}

let gw: TestGateway;
let upstream: Awaited<ReturnType<typeof startUpstream>>;
let adminA: Client;
let tenantA: string;
let credential: string;
let sdkA: OpenAI;
let sdkB: OpenAI;

const chat = (sdk: OpenAI, model: string) =>
  sdk.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }).withResponse();

beforeAll(async () => {
  upstream = await startUpstream('alpha-upstream');
  gw = await startAdminGateway({
    yaml: [
      'security:',
      '  outbound:',
      '    allowCidrs: ["127.0.0.1/32"]',
      'tenants:',
      '  - slug: alpha',
      '    keys: [{ name: main, value: { env: KEY_A } }]',
      '    aliases: { fast: gpt-4o-mini }',
      '  - slug: bravo',
      '    keys: [{ name: main, value: { env: KEY_B } }]',
      '',
    ].join('\n'),
    env: { KEY_A, KEY_B },
  });
  const platform = client(gw, BOOTSTRAP_KEY);
  const t = await platform('GET', '/tenants/alpha');
  tenantA = str(t.json.id);
  const k = await platform('POST', `/tenants/${tenantA}/admin-keys`, { body: { name: 'owner', role: 'tenant_admin' } });
  adminA = client(gw, str(k.json.key));
  const c = await adminA('POST', `/tenants/${tenantA}/provider-credentials`, { body: { name: 'byok', provider: 'openai', secret: UPSTREAM_SECRET } });
  expect(c.status, c.text).toBe(201);
  credential = str(c.json.id);
  sdkA = new OpenAI({ apiKey: KEY_A, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  sdkB = new OpenAI({ apiKey: KEY_B, baseURL: `${gw.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await gw?.stop();
  await new Promise<void>((resolve) => (upstream ? upstream.server.close(() => resolve()) : resolve()));
});

describe("a tenant's dedicated deployment", () => {
  let deployment: string;

  it('serves its tenant through the OpenAI SDK, with its own credential upstream', async () => {
    const d = await adminA('POST', `/tenants/${tenantA}/deployments`, {
      body: { model: 'alpha-private', provider: 'openai-compatible', base_url: `${upstream.url}/v1`, credential_id: credential, upstream_model: 'llama-3-70b', prices: { input: 1, output: 2 } },
    });
    expect(d.status, d.text).toBe(201);
    expect(d.text).not.toContain('CANARY');
    expect(d.json).toMatchObject({ model: 'alpha-private', credential_id: credential, prices: { input: 1, output: 2, cached_input: 0, request: 0 } });
    deployment = str(d.json.id);
    const { data, response } = await chat(sdkA, 'alpha-private');
    expect(data.choices[0]?.message.content).toBe('from alpha-upstream');
    expect(response.headers.get('x-gatehouse-model')).toBe('alpha-private');
    expect(upstream.seen.at(-1)).toEqual({ authorization: `Bearer ${UPSTREAM_SECRET}`, model: 'llama-3-70b', path: '/v1/chat/completions' });
    const models = await sdkA.models.list();
    expect(models.data.map((m) => m.id)).toEqual(expect.arrayContaining(['alpha-private', 'fast', 'gpt-4o-mini']));
    expect((await sdkA.models.retrieve('alpha-private')).owned_by).toBe('alpha');
  });

  it("is unknown to another tenant: 404 model_not_found, never listed, and B's requests never reach A's upstream", async () => {
    const before = upstream.seen.length;
    const err = await chat(sdkB, 'alpha-private').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    const models = await sdkB.models.list();
    expect(models.data.map((m) => m.id)).not.toContain('alpha-private');
    expect(models.data.map((m) => m.id)).not.toContain('fast');
    await expect(sdkB.models.retrieve('alpha-private')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    // B's platform model keeps working, on the platform's deployment.
    const { response } = await chat(sdkB, 'gpt-4o-mini');
    expect(response.headers.get('x-gatehouse-model')).toBe('gpt-4o-mini');
    expect(upstream.seen.length).toBe(before);
  });

  it("overrides a platform model of the same name for its tenant only", async () => {
    const o = await adminA('POST', `/tenants/${tenantA}/deployments`, {
      body: { model: 'gpt-4o-mini', provider: 'openai-compatible', base_url: `${upstream.url}/v1`, credential_id: credential },
    });
    expect(o.status, o.text).toBe(201);
    const before = upstream.seen.length;
    expect((await chat(sdkA, 'gpt-4o-mini')).data.choices[0]?.message.content).toBe('from alpha-upstream');
    expect(upstream.seen.length).toBe(before + 1);
    expect((await chat(sdkB, 'gpt-4o-mini')).data.choices[0]?.message.content).not.toBe('from alpha-upstream');
    expect(upstream.seen.length).toBe(before + 1);
    const del = await adminA('DELETE', `/tenants/${tenantA}/deployments/${str(o.json.id)}`, { headers: { 'if-match': str(o.headers.etag) } });
    expect(del.status, del.text).toBe(204);
    expect((await chat(sdkA, 'gpt-4o-mini')).data.choices[0]?.message.content).not.toBe('from alpha-upstream');
  });

  it('follows a change made straight in the store within a second (NOTIFY, no admin API)', async () => {
    await gw.store.withTenant(tenantA, async (tx) => {
      const d = await tenantDeploymentsRepo.get(tx, deployment);
      if (d === null) throw new Error('gone');
      await tenantDeploymentsRepo.update(tx, deployment, { ...d, model: 'alpha-renamed' });
    });
    const started = Date.now();
    let served = false;
    while (!served && Date.now() - started < 3000) {
      served = await chat(sdkA, 'alpha-renamed').then(() => true, () => false);
      if (!served) await new Promise((r) => setTimeout(r, 25));
    }
    expect(served).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(chat(sdkA, 'alpha-private')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('a credential in use cannot be deleted (409)', async () => {
    const c = await adminA('GET', `/tenants/${tenantA}/provider-credentials/${credential}`);
    envelope(await adminA('DELETE', `/tenants/${tenantA}/provider-credentials/${credential}`, { headers: { 'if-match': str(c.headers.etag) } }), 409, 'conflict');
  });
});

describe('model aliases', () => {
  it('resolve before authorization; the served model is reported in X-Gatehouse-Model, the body keeps the upstream answer', async () => {
    const { data, response } = await chat(sdkA, 'fast');
    expect(data.object).toBe('chat.completion');
    expect(response.headers.get('x-gatehouse-model')).toBe('gpt-4o-mini');
    const put = await adminA('POST', `/tenants/${tenantA}/aliases`, { body: { alias: 'mine', model: 'alpha-renamed' } });
    expect(put.status, put.text).toBe(201);
    expect((await chat(sdkA, 'mine')).data.choices[0]?.message.content).toBe('from alpha-upstream');
    expect((await sdkA.models.retrieve('mine')).id).toBe('mine');
    const repoint = await adminA('POST', `/tenants/${tenantA}/aliases`, { body: { alias: 'mine', model: 'gpt-4o-mini' } });
    expect(repoint.status).toBe(200);
    expect((await chat(sdkA, 'mine')).response.headers.get('x-gatehouse-model')).toBe('gpt-4o-mini');
    expect((await adminA('DELETE', `/tenants/${tenantA}/aliases/mine`)).status).toBe(204);
    await expect(chat(sdkA, 'mine')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    // Another tenant's alias name means nothing to B.
    await expect(chat(sdkB, 'fast')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('an alias to a model the tenant may not use is refused like an unknown model', async () => {
    await gw.store.withTenant(tenantA, (tx) => modelAliasesRepo.put(tx, 'nowhere', 'no-such-model'));
    await new Promise((r) => setTimeout(r, 300));
    await expect(chat(sdkA, 'nowhere')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe('outbound address rules', () => {
  it.each([
    ['http://169.254.169.254/latest/', 'link_local'],
    ['http://localhost:8080/v1', 'local_name'],
    ['http://10.0.0.1/v1', 'private'],
    ['http://[::ffff:127.0.0.2]/v1', 'loopback'],
    ['http://127.0.0.2/v1', 'loopback'],
    ['http://100.64.0.1/v1', 'cgnat'],
    ['ftp://llm.example.com/v1', 'scheme'],
    ['https://u:p@llm.example.com/v1', 'credentials'],
  ])('refuses %s at save (400 naming the rule %s)', async (base_url, rule) => {
    const r = await adminA('POST', `/tenants/${tenantA}/deployments`, { body: { model: 'x', provider: 'openai', base_url } });
    const e = envelope(r, 400, 'invalid_request');
    expect(e.param).toBe('base_url');
    expect(e.message).toContain(`rule: ${rule}`);
  });

  it('applies to provider credentials and webhooks too', async () => {
    const c = await adminA('POST', `/tenants/${tenantA}/provider-credentials`, { body: { name: 'x', provider: 'openai', base_url: 'http://169.254.169.254/', secret: 'sk-0123456789' } });
    expect(envelope(c, 400).message).toContain('rule: link_local');
    const w = await adminA('POST', `/tenants/${tenantA}/webhooks`, { body: { url: 'http://192.168.1.1/hook', events: ['key.*'], secret: 'whsec-0123456789' } });
    expect(envelope(w, 400).param).toBe('url');
  });

  it('refuses at connect a row that bypassed the save check: nothing reaches the address', async () => {
    // `localhost` resolves to 127.0.0.1, which the operator allows as an address, but the name
    // itself is refused when connecting; written straight into the store, past the admin API.
    await gw.store.withTenant(tenantA, (tx) =>
      tenantDeploymentsRepo.create(tx, {
        model: 'sneaky',
        kind: 'chat',
        provider: 'openai-compatible',
        baseUrl: `${upstream.url.replace('127.0.0.1', 'localhost')}/v1`,
        credentialId: credential,
        upstreamModel: 'x',
        apiVersion: null,
        region: 'default',
        capacity: 2,
        timeoutMs: 5000,
        prices: { input: 0, output: 0, cachedInput: 0, request: 0 },
      }),
    );
    const before = upstream.seen.length;
    let status = 0;
    const started = Date.now();
    while (Date.now() - started < 3000) {
      const err = await chat(sdkA, 'sneaky').then(() => undefined, (e: unknown) => e);
      status = err instanceof OpenAI.APIError ? (err.status ?? 0) : 200;
      if (status !== 404) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect([502, 503]).toContain(status);
    expect(upstream.seen.length).toBe(before);
    // Refused by the guard, not by a closed port: the connect error names the rule.
    expect(gw.logs.join('')).toMatch(/outbound connection refused: must not name a local host/);
    expect(gw.logs.join('')).not.toContain('CANARY');
  });
});
