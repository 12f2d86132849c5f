/**
 * Dedicated deployments and aliases in the admin API: CRUD with If-Match, validation, audit
 * entries (never a secret: the credential is named by id), roles beyond the matrix's allow/deny
 * (a viewer reads, a developer cannot write), and the save-time address rules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../helpers/gateway.js';
import { BOOTSTRAP_KEY, client, envelope, etag, makeTenant, roleKey, startAdminGateway, str, type Client } from './helpers.js';

const CANARY = 'sk-live-DEPLOY-CANARY-0a1b2c3d4e5f';

let gw: TestGateway;
let admin: Client;
let platform: Client;
let base: string;
let tenantId: string;
let credential: string;

beforeAll(async () => {
  gw = await startAdminGateway();
  platform = client(gw, BOOTSTRAP_KEY);
  const t = await makeTenant(platform, 'deploys');
  tenantId = t.id;
  admin = client(gw, t.admin);
  base = `/tenants/${t.id}`;
  const c = await admin('POST', `${base}/provider-credentials`, { body: { name: 'byok', provider: 'azure', secret: CANARY } });
  credential = str(c.json.id);
});
afterAll(async () => {
  await gw?.stop();
});

describe('deployments', () => {
  it('creates, reads, lists, changes with If-Match and deletes; the audit log names the credential, never its secret', async () => {
    const created = await admin('POST', `${base}/deployments`, {
      body: { model: 'acme-gpt', provider: 'azure', api_version: '2024-06-01', base_url: 'https://acme.openai.azure.example.com', credential_id: credential, upstream_model: 'gpt-4o', region: 'eu-west', capacity: 8, prices: { input: 2.5, output: 10 } },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.headers.location).toBe(`/admin/v1/tenants/${tenantId}/deployments/${str(created.json.id)}`);
    expect(created.json).toMatchObject({ object: 'deployment', model: 'acme-gpt', kind: 'chat', region: 'eu-west', capacity: 8, timeout_ms: 600000, prices: { input: 2.5, output: 10, cached_input: 0, request: 0 } });
    const path = `${base}/deployments/${str(created.json.id)}`;
    const viewer = client(gw, await roleKey(admin, tenantId, 'tenant_viewer'));
    expect((await viewer('GET', path)).json).toEqual(created.json);
    const list = await viewer('GET', `${base}/deployments?limit=1`);
    expect(list.json).toMatchObject({ object: 'list', data: [{ id: created.json.id }], next_cursor: null });

    envelope(await admin('PATCH', path, { body: { capacity: 16 } }), 428, 'precondition_required');
    const changed = await admin('PATCH', path, { body: { capacity: 16, base_url: 'https://acme2.openai.azure.example.com' }, headers: { 'if-match': etag(created) } });
    expect(changed.status, changed.text).toBe(200);
    expect(changed.json).toMatchObject({ capacity: 16, base_url: 'https://acme2.openai.azure.example.com', credential_id: credential, api_version: '2024-06-01' });
    envelope(await admin('PATCH', path, { body: { capacity: 4 }, headers: { 'if-match': etag(created) } }), 412, 'precondition_failed');
    envelope(await admin('PATCH', path, { body: { api_version: null }, headers: { 'if-match': etag(changed) } }), 400, 'invalid_request');

    const developer = client(gw, await roleKey(admin, tenantId, 'tenant_developer'));
    envelope(await developer('DELETE', path, { headers: { 'if-match': etag(changed) } }), 403, 'forbidden');
    expect((await admin('DELETE', path, { headers: { 'if-match': etag(changed) } })).status).toBe(204);
    envelope(await admin('GET', path), 404, 'not_found');

    const audit = (await admin('GET', `${base}/audit.jsonl`)).text;
    expect(audit).toContain('deployment.create');
    expect(audit).toContain('deployment.update');
    expect(audit).toContain('deployment.delete');
    expect(audit).not.toContain('CANARY');
    expect(gw.logs.join('')).not.toContain('CANARY');
  });

  it('validates input: azure needs api_version, unknown kinds and fields are refused, the credential must be the tenant\'s', async () => {
    const body = { model: 'm', provider: 'openai', base_url: 'https://llm.example.com/v1' };
    expect(envelope(await admin('POST', `${base}/deployments`, { body: { ...body, provider: 'azure' } }), 400).param).toBe('api_version');
    expect(envelope(await admin('POST', `${base}/deployments`, { body: { ...body, provider: 'bedrock-ish' } }), 400).param).toBe('provider');
    expect(envelope(await admin('POST', `${base}/deployments`, { body: { ...body, capacity: 0 } }), 400).param).toBe('capacity');
    expect(envelope(await admin('POST', `${base}/deployments`, { body: { ...body, api_key: 'sk-inline' } }), 400, 'invalid_request').message).toMatch(/api_key/);
    expect(envelope(await admin('POST', `${base}/deployments`, { body: { ...body, credential_id: '00000000-0000-4000-8000-000000000000' } }), 400).param).toBe('credential_id');
  });

  it('refuses non-public addresses at save, naming the rule, and the platform admin cannot read deployments', async () => {
    const r = await admin('POST', `${base}/deployments`, { body: { model: 'm', provider: 'openai', base_url: 'http://[::ffff:169.254.169.254]/v1' } });
    expect(envelope(r, 400, 'invalid_request').message).toContain('rule: link_local');
    envelope(await platform('GET', `${base}/deployments`), 403, 'forbidden');
  });
});

describe('anthropic, gemini and bedrock deployments', () => {
  let awsCredential: string;
  beforeAll(async () => {
    const aws = { access_key_id: 'AKIADEPLOYS000000001', secret_access_key: 'deploys/SECRET-CANARY/0123456789abcdef', region: 'us-west-2' };
    const c = await admin('POST', `${base}/provider-credentials`, { body: { name: 'aws', provider: 'bedrock', aws } });
    expect(c.status, c.text).toBe(201);
    awsCredential = str(c.json.id);
  });

  it('default to the public endpoint where there is one; bedrock needs a base URL and its AWS credential', async () => {
    const a = await admin('POST', `${base}/deployments`, { body: { model: 'claude', provider: 'anthropic', credential_id: credential, upstream_model: 'claude-sonnet-4' } });
    expect(a.status, a.text).toBe(201);
    expect(a.json).toMatchObject({ provider: 'anthropic', base_url: 'https://api.anthropic.com', kind: 'chat' });
    const g = await admin('POST', `${base}/deployments`, { body: { model: 'gemini-embed', provider: 'gemini', kind: 'embedding', upstream_model: 'text-embedding-004' } });
    expect(g.status, g.text).toBe(201);
    expect(g.json).toMatchObject({ provider: 'gemini', base_url: 'https://generativelanguage.googleapis.com', credential_id: null });
    const bedrock = { model: 'haiku', provider: 'bedrock', base_url: 'https://bedrock-runtime.us-west-2.amazonaws.com', upstream_model: 'anthropic.claude-3-haiku-20240307-v1:0' };
    const b = await admin('POST', `${base}/deployments`, { body: { ...bedrock, credential_id: awsCredential } });
    expect(b.status, b.text).toBe(201);
    expect(b.text).not.toContain('CANARY');
    expect(envelope(await admin('POST', `${base}/deployments`, { body: { ...bedrock, base_url: undefined, credential_id: awsCredential } }), 400).param).toBe('base_url');
    expect(envelope(await admin('POST', `${base}/deployments`, { body: bedrock }), 400).param).toBe('credential_id');
    const apiKeyForAws = envelope(await admin('POST', `${base}/deployments`, { body: { ...bedrock, credential_id: credential } }), 400);
    expect(apiKeyForAws).toMatchObject({ param: 'credential_id' });
    expect(apiKeyForAws.message).toMatch(/bedrock credential/);
    // AWS credentials never authenticate another provider (they would go upstream as a bearer token).
    const awsAsKey = envelope(await admin('POST', `${base}/deployments`, { body: { model: 'm', provider: 'anthropic', credential_id: awsCredential } }), 400);
    expect(awsAsKey).toMatchObject({ param: 'credential_id' });
    expect(envelope(await admin('POST', `${base}/deployments`, { body: { model: 'm', provider: 'anthropic', kind: 'embedding' } }), 400).param).toBe('kind');
    expect(envelope(await admin('POST', `${base}/deployments`, { body: { model: 'm', provider: 'gemini', kind: 'completion' } }), 400).param).toBe('kind');
    // A change of provider or kind is checked against the credential the row already has.
    const toBedrock = await admin('PATCH', `${base}/deployments/${str(a.json.id)}`, { body: { provider: 'bedrock' }, headers: { 'if-match': etag(a) } });
    expect(envelope(toBedrock, 400).param).toBe('credential_id');
    const toEmbedding = await admin('PATCH', `${base}/deployments/${str(a.json.id)}`, { body: { kind: 'embedding' }, headers: { 'if-match': etag(a) } });
    expect(envelope(toEmbedding, 400).param).toBe('kind');
    const toGemini = await admin('PATCH', `${base}/deployments/${str(a.json.id)}`, { body: { provider: 'gemini', kind: 'embedding' }, headers: { 'if-match': etag(a) } });
    expect(toGemini.status, toGemini.text).toBe(200);
    expect(gw.logs.join('')).not.toContain('CANARY');
  });
});

describe('aliases', () => {
  it('creates, repoints, lists and deletes, audited', async () => {
    const a = await admin('POST', `${base}/aliases`, { body: { alias: 'fast', model: 'gpt-4o-mini' } });
    expect(a.status, a.text).toBe(201);
    expect((await admin('POST', `${base}/aliases`, { body: { alias: 'fast', model: 'gpt-4o' } })).status).toBe(200);
    expect((await admin('GET', `${base}/aliases`)).json).toMatchObject({ object: 'list', data: [{ object: 'model_alias', alias: 'fast', model: 'gpt-4o' }] });
    expect(envelope(await admin('POST', `${base}/aliases`, { body: { alias: 'a/b', model: 'x' } }), 400).param).toBe('alias');
    expect(envelope(await admin('POST', `${base}/aliases`, { body: { alias: 'same', model: 'same' } }), 400).param).toBe('model');
    expect((await admin('DELETE', `${base}/aliases/fast`)).status).toBe(204);
    envelope(await admin('DELETE', `${base}/aliases/fast`), 404, 'not_found');
    const audit = (await admin('GET', `${base}/audit.jsonl`)).text;
    for (const action of ['model_alias.create', 'model_alias.update', 'model_alias.delete']) expect(audit).toContain(action);
  });
});
