/**
 * Issue 7, tenant endpoints beyond the OpenAI wire format, end to end over HTTP: a tenant brings
 * its own Anthropic key, Gemini key and AWS credentials (admin API, sealed with its key), and its
 * dedicated deployments of each kind are served through the gateway to the local mock of that
 * provider, authenticated with the TENANT's credentials (the Bedrock mock verifies SigV4 and
 * accepts only the tenant's keys: the platform's are refused there), to that tenant only.
 *
 * Also DESIGN §6 "clients never choose where a request goes", for all three adapters: a base
 * URL, credential or region in the request body or headers changes neither the destination nor
 * the credential, and none of it reaches the upstream. And the connect-time address rules apply
 * to rows of these kinds that bypassed the save-time check.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockAnthropic, type MockAnthropic } from '../../src/providers/mock/anthropic/index.js';
import { MOCK_AWS, startMockBedrock, type MockBedrock } from '../../src/providers/mock/bedrock/index.js';
import { startMockGemini, type MockGemini } from '../../src/providers/mock/gemini/index.js';
import type { AwsAccess } from '../../src/providers/types.js';
import { tenantDeploymentsRepo } from '../../src/store/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { BOOTSTRAP_KEY, client, envelope, startAdminGateway, str, type Client } from '../integration/admin/helpers.js';

const KEY_A = 'ghk_alpha000_providerkeyfortenantalpha0000000000';
const KEY_B = 'ghk_bravo000_providerkeyfortenantbravo0000000000';
const PLATFORM_ANTHROPIC = 'sk-ant-platform-0123456789';
const PLATFORM_GEMINI = 'AIza-platform-0123456789';
const A_ANTHROPIC = 'sk-ant-alpha-CANARY-0123456789';
const A_GEMINI = 'AIza-alpha-CANARY-0123456789';
/** The tenant's own AWS credentials; the Bedrock mock in front of its endpoint accepts only these. */
const A_AWS: AwsAccess = {
  accessKeyId: 'AKIAALPHATENANT00001',
  secretAccessKey: 'alpha/SECRET+CANARY/aws-0123456789abcdef',
  sessionToken: 'FwoGZXIvYXdzEAlphaSessionCANARY0123456789',
  region: 'eu-central-1',
};
/** What a client tries in order to pick the destination or the credential itself. */
const ATTACK = 'ATTACKER';
const attackBody = {
  base_url: `http://${ATTACK}.example.com/v1`,
  baseURL: `http://${ATTACK}.example.com/v1`,
  api_key: `sk-${ATTACK}`,
  aws: { accessKeyId: `AKIA${ATTACK}`, secretAccessKey: ATTACK, region: 'ap-south-1' },
  aws_region: 'ap-south-1',
  region: 'ap-south-1',
  endpoint: `http://${ATTACK}.example.com`,
};
const attackHeaders = {
  'x-api-key': `sk-${ATTACK}`,
  'x-goog-api-key': ATTACK,
  'api-key': ATTACK,
  'x-amz-security-token': ATTACK,
  'x-amz-date': '20200101T000000Z',
  'x-gatehouse-base-url': `http://${ATTACK}.example.com`,
  'x-forwarded-host': `${ATTACK}.example.com`,
  'anthropic-version': ATTACK,
};

interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A pass-through in front of a mock that records every request as the upstream receives it. */
async function recordingProxy(target: string): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ url: req.url ?? '', headers: req.headers, body: body.toString('utf8') });
      // Headers verbatim (Host included), so the SigV4 signature still verifies behind us.
      const out = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      out.on('error', () => res.destroy());
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

/** Access key id and region of a SigV4 Authorization header. */
function scope(headers: IncomingHttpHeaders): { keyId: string; region: string } | undefined {
  const m = /Credential=([^/]+)\/\d{8}\/([^/]+)\/bedrock\/aws4_request/.exec(String(headers.authorization ?? ''));
  return m === null ? undefined : { keyId: m[1] ?? '', region: m[2] ?? '' };
}

let anthropic: MockAnthropic;
let gemini: MockGemini;
let platformBedrock: MockBedrock;
let tenantBedrock: MockBedrock;
let platformAws: Awaited<ReturnType<typeof recordingProxy>>;
let tenantAws: Awaited<ReturnType<typeof recordingProxy>>;
let gw: TestGateway;
let adminA: Client;
let adminB: Client;
let tenantA: string;
let sdkA: OpenAI;
let sdkB: OpenAI;
const deploymentIds = new Map<string, string>();

const chat = (sdk: OpenAI, model: string, content = 'Say hello') => sdk.chat.completions.create({ model, messages: [{ role: 'user', content }] }).withResponse();

beforeAll(async () => {
  anthropic = await startMockAnthropic();
  gemini = await startMockGemini();
  platformBedrock = await startMockBedrock({ aws: MOCK_AWS });
  tenantBedrock = await startMockBedrock({ aws: A_AWS });
  platformAws = await recordingProxy(platformBedrock.url);
  tenantAws = await recordingProxy(tenantBedrock.url);
  gw = await startAdminGateway({
    yaml: `
demo: { enabled: false }
security:
  outbound:
    allowCidrs: ["127.0.0.1/32"]
providers:
  - name: anthropic-platform
    kind: anthropic
    baseUrl: ${anthropic.url}
    apiKey: { env: PLATFORM_ANTHROPIC }
  - name: gemini-platform
    kind: gemini
    baseUrl: ${gemini.url}
    apiKey: { env: PLATFORM_GEMINI }
  - name: aws-platform
    kind: bedrock
    baseUrl: ${platformAws.url}
    aws: { accessKeyId: { env: PLATFORM_AWS_ID }, secretAccessKey: { env: PLATFORM_AWS_SECRET }, region: us-east-1 }
  # The platform's AWS keys against the endpoint that only knows the tenant's: must be refused.
  - name: aws-platform-at-tenant-endpoint
    kind: bedrock
    baseUrl: ${tenantAws.url}
    aws: { accessKeyId: { env: PLATFORM_AWS_ID }, secretAccessKey: { env: PLATFORM_AWS_SECRET }, region: eu-central-1 }
deployments:
  - { model: claude-platform, provider: anthropic-platform, upstreamModel: claude-mock }
  - { model: gemini-platform, provider: gemini-platform, upstreamModel: gemini-2.5-flash }
  - { model: haiku-platform, provider: aws-platform, upstreamModel: "anthropic.claude-3-haiku-20240307-v1:0" }
  - { model: haiku-wrong-keys, provider: aws-platform-at-tenant-endpoint, upstreamModel: "anthropic.claude-3-haiku-20240307-v1:0" }
tenants:
  - slug: alpha
    keys: [{ name: main, value: { env: KEY_A } }]
  - slug: bravo
    keys: [{ name: main, value: { env: KEY_B } }]
`,
    env: { KEY_A, KEY_B, PLATFORM_ANTHROPIC, PLATFORM_GEMINI, PLATFORM_AWS_ID: MOCK_AWS.accessKeyId, PLATFORM_AWS_SECRET: MOCK_AWS.secretAccessKey },
  });
  const platform = client(gw, BOOTSTRAP_KEY);
  const adminOf = async (slug: string): Promise<{ id: string; admin: Client }> => {
    const id = str((await platform('GET', `/tenants/${slug}`)).json.id);
    const k = await platform('POST', `/tenants/${id}/admin-keys`, { body: { name: 'owner', role: 'tenant_admin' } });
    return { id, admin: client(gw, str(k.json.key)) };
  };
  const a = await adminOf('alpha');
  tenantA = a.id;
  adminA = a.admin;
  adminB = (await adminOf('bravo')).admin;
  const credential = async (body: Record<string, unknown>): Promise<string> => {
    const c = await adminA('POST', `/tenants/${tenantA}/provider-credentials`, { body });
    expect(c.status, c.text).toBe(201);
    return str(c.json.id);
  };
  const claudeKey = await credential({ name: 'anthropic', provider: 'anthropic', secret: A_ANTHROPIC });
  const geminiKey = await credential({ name: 'gemini', provider: 'gemini', secret: A_GEMINI });
  const awsKeys = await credential({
    name: 'aws',
    provider: 'bedrock',
    aws: { access_key_id: A_AWS.accessKeyId, secret_access_key: A_AWS.secretAccessKey, session_token: A_AWS.sessionToken, region: A_AWS.region },
  });
  const deployments: Record<string, unknown>[] = [
    { model: 'alpha-claude', provider: 'anthropic', base_url: anthropic.url, credential_id: claudeKey, upstream_model: 'claude-mock' },
    { model: 'alpha-gemini', provider: 'gemini', base_url: gemini.url, credential_id: geminiKey, upstream_model: 'gemini-2.5-flash' },
    { model: 'alpha-haiku', provider: 'bedrock', base_url: tenantAws.url, credential_id: awsKeys, upstream_model: 'anthropic.claude-3-haiku-20240307-v1:0', region: 'eu' },
  ];
  for (const body of deployments) {
    const d = await adminA('POST', `/tenants/${tenantA}/deployments`, { body });
    expect(d.status, d.text).toBe(201);
    expect(d.text).not.toContain('CANARY');
    deploymentIds.set(String(body.model), str(d.json.id));
  }
  sdkA = new OpenAI({ apiKey: KEY_A, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  sdkB = new OpenAI({ apiKey: KEY_B, baseURL: `${gw.url}/v1`, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  for (const p of [platformAws, tenantAws]) {
    if (p === undefined) continue;
    p.server.closeAllConnections();
    await new Promise<void>((resolve) => p.server.close(() => resolve()));
  }
  await Promise.all([anthropic?.close(), gemini?.close(), platformBedrock?.close(), tenantBedrock?.close()]);
});

describe("a tenant's own Anthropic, Gemini and Bedrock endpoints", () => {
  it("Anthropic: served with the tenant's key, streamed too", async () => {
    const before = anthropic.requests.length;
    const { data, response } = await chat(sdkA, 'alpha-claude');
    expect(data.choices[0]?.message.content).toContain('Say hello');
    expect(response.headers.get('x-gatehouse-model')).toBe('alpha-claude');
    const stream = await sdkA.chat.completions.create({ model: 'alpha-claude', messages: [{ role: 'user', content: 'Count one two three' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toContain('one two three');
    const sent = anthropic.requests.slice(before);
    expect(sent).toHaveLength(2);
    for (const r of sent) expect(r.headers['x-api-key']).toBe(A_ANTHROPIC);
  });

  it("Gemini: served with the tenant's key, streamed too", async () => {
    const before = gemini.requests.length;
    const { data } = await chat(sdkA, 'alpha-gemini');
    expect(data.choices[0]?.message.content).toContain('Say hello');
    const stream = await sdkA.chat.completions.create({ model: 'alpha-gemini', messages: [{ role: 'user', content: 'Count one two three' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toContain('one two three');
    const sent = gemini.requests.slice(before);
    expect(sent).toHaveLength(2);
    for (const r of sent) {
      expect(r.headers['x-goog-api-key']).toBe(A_GEMINI);
      expect(r.query.key).toBeUndefined();
    }
  });

  it("Bedrock: signed with the tenant's own AWS credentials (the mock accepts no others), region and session token included", async () => {
    const before = tenantAws.seen.length;
    const { data } = await chat(sdkA, 'alpha-haiku');
    expect(data.choices[0]?.message.content).toBe('You said: Say hello');
    const stream = await sdkA.chat.completions.create({ model: 'alpha-haiku', messages: [{ role: 'user', content: 'Count one two three' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('You said: Count one two three');
    const sent = tenantAws.seen.slice(before);
    expect(sent).toHaveLength(2);
    for (const r of sent) {
      expect(scope(r.headers)).toEqual({ keyId: A_AWS.accessKeyId, region: 'eu-central-1' });
      expect(r.headers['x-amz-security-token']).toBe(A_AWS.sessionToken);
    }
    // The same endpoint signed with the platform's keys is refused: the test can tell them apart.
    const refused = await chat(sdkA, 'haiku-wrong-keys').then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect(scope(tenantAws.seen.at(-1)?.headers ?? {})?.keyId).toBe(MOCK_AWS.accessKeyId);
  });

  it('another tenant gets 404 for the models (never listed) and for the deployments in the admin API', async () => {
    const seen = { anthropic: anthropic.requests.length, gemini: gemini.requests.length, aws: tenantAws.seen.length };
    const listed = (await sdkB.models.list()).data.map((m) => m.id);
    for (const model of ['alpha-claude', 'alpha-gemini', 'alpha-haiku']) {
      const err = await chat(sdkB, model).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
      expect(listed).not.toContain(model);
      const id = deploymentIds.get(model) ?? '';
      envelope(await adminB('GET', `/tenants/${tenantA}/deployments/${id}`), 404, 'not_found');
    }
    expect((await sdkA.models.list()).data.map((m) => m.id)).toEqual(expect.arrayContaining(['alpha-claude', 'alpha-gemini', 'alpha-haiku']));
    expect({ anthropic: anthropic.requests.length, gemini: gemini.requests.length, aws: tenantAws.seen.length }).toEqual(seen);
  });

  it('the tenant credentials appear in no response, log or audit entry', async () => {
    const texts = [
      (await adminA('GET', `/tenants/${tenantA}/provider-credentials`)).text,
      (await adminA('GET', `/tenants/${tenantA}/deployments`)).text,
      (await adminA('GET', `/tenants/${tenantA}/audit.jsonl`)).text,
      gw.logs.join(''),
    ];
    for (const t of texts) {
      expect(t).not.toContain('CANARY');
      expect(t).not.toContain(A_AWS.accessKeyId);
    }
  });
});

describe('clients never choose where a request goes (DESIGN §6)', () => {
  async function attack(key: string, model: string): Promise<number> {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...attackHeaders },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello' }], ...attackBody }),
    });
    const text = await res.body.text();
    expect(text).not.toContain(ATTACK);
    return res.statusCode;
  }

  it.each([
    ['claude-platform', KEY_B],
    ['alpha-claude', KEY_A],
  ])('anthropic (%s): served by the configured endpoint with the configured key; nothing of the client reaches it', async (model, key) => {
    const before = anthropic.requests.length;
    expect(await attack(key, model)).toBe(200);
    const sent = anthropic.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.headers['x-api-key']).toBe(key === KEY_A ? A_ANTHROPIC : PLATFORM_ANTHROPIC);
    expect(sent[0]?.headers['anthropic-version']).not.toBe(ATTACK);
    expect(JSON.stringify(sent[0])).not.toContain(ATTACK);
    expect(JSON.stringify(sent[0]?.body)).not.toMatch(/base_url|baseURL|api_key|aws|region|endpoint/);
  });

  it.each([
    ['gemini-platform', KEY_B],
    ['alpha-gemini', KEY_A],
  ])('gemini (%s): served by the configured endpoint with the configured key; nothing of the client reaches it', async (model, key) => {
    const before = gemini.requests.length;
    expect(await attack(key, model)).toBe(200);
    const sent = gemini.requests.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.headers['x-goog-api-key']).toBe(key === KEY_A ? A_GEMINI : PLATFORM_GEMINI);
    expect(JSON.stringify(sent[0])).not.toContain(ATTACK);
    expect(JSON.stringify(sent[0]?.body)).not.toMatch(/base_url|baseURL|api_key|aws|region|endpoint/);
  });

  it.each([
    ['haiku-platform', KEY_B, () => platformAws, MOCK_AWS.accessKeyId, 'us-east-1'],
    ['alpha-haiku', KEY_A, () => tenantAws, A_AWS.accessKeyId, 'eu-central-1'],
  ])('bedrock (%s): signed for the configured key and region; nothing of the client reaches it', async (model, key, proxy, keyId, region) => {
    const p = proxy();
    const before = p.seen.length;
    expect(await attack(key, model)).toBe(200);
    const sent = p.seen.slice(before);
    expect(sent).toHaveLength(1);
    expect(scope(sent[0]?.headers ?? {})).toEqual({ keyId, region });
    expect(sent[0]?.headers['x-amz-security-token']).toBe(key === KEY_A ? A_AWS.sessionToken : undefined);
    expect(JSON.stringify(sent[0])).not.toContain(ATTACK);
    expect(sent[0]?.body).not.toMatch(/base_url|baseURL|api_key|aws|ap-south-1|endpoint/);
  });
});

describe('connect-time address rules on rows that bypassed the admin API', () => {
  it.each([
    ['anthropic', () => anthropic.url, () => anthropic.requests.length],
    ['gemini', () => gemini.url, () => gemini.requests.length],
    ['bedrock', () => tenantAws.url, () => tenantAws.seen.length],
  ])('%s: a base URL naming localhost is refused when connecting; nothing reaches the upstream', async (provider, url, count) => {
    const model = `sneaky-${provider}`;
    const ownId = deploymentIds.get(`alpha-${provider === 'anthropic' ? 'claude' : provider === 'gemini' ? 'gemini' : 'haiku'}`) ?? '';
    const refusals = () => gw.logs.join('').match(/outbound connection refused: must not name a local host/g)?.length ?? 0;
    const refusedBefore = refusals();
    // A copy of the tenant's working deployment of this kind, but for `localhost`.
    await gw.store.withTenant(tenantA, async (tx) => {
      const own = await tenantDeploymentsRepo.get(tx, ownId);
      if (own === null) throw new Error('seed deployment missing');
      await tenantDeploymentsRepo.create(tx, { ...own, model, baseUrl: url().replace('127.0.0.1', 'localhost'), timeoutMs: 5000 });
    });
    const before = count();
    let status = 404;
    const started = Date.now();
    while (status === 404 && Date.now() - started < 3000) {
      const err = await chat(sdkA, model).then(() => undefined, (e: unknown) => e);
      status = err instanceof OpenAI.APIError ? (err.status ?? 0) : 200;
      if (status === 404) await new Promise((r) => setTimeout(r, 25));
    }
    expect([502, 503]).toContain(status);
    expect(count()).toBe(before);
    // Refused by the guard (logged with the rule), not by a closed port or a failed lookup.
    expect(refusals()).toBeGreaterThan(refusedBefore);
  });
});
