/**
 * Provider credentials and webhooks: secrets are write-only (no response, listing, log or audit
 * entry ever shows them, to any role), outbound URLs are checked, and changes need If-Match.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../helpers/gateway.js';
import { BOOTSTRAP_KEY, client, envelope, etag, makeTenant, roleKey, startAdminGateway, str, type Client } from './helpers.js';

const CANARY = 'sk-live-CANARY-4f1d2e3c9b8a7f6e5d4c3b2a1';
const HOOK_CANARY = 'whsec-CANARY-a1b2c3d4e5f6a7b8c9d0';

let gw: TestGateway;
let platform: Client;
let admin: Client;
let base: string;

beforeAll(async () => {
  gw = await startAdminGateway();
  platform = client(gw, BOOTSTRAP_KEY);
  const t = await makeTenant(platform, 'secrets');
  admin = client(gw, t.admin);
  base = `/tenants/${t.id}`;
});
afterAll(async () => {
  await gw?.stop();
});

describe('provider credentials', () => {
  it('stores the secret write-only: no response, list, log or audit entry shows it', async () => {
    const c = await admin('POST', `${base}/provider-credentials`, { body: { name: 'openai-prod', provider: 'openai', base_url: 'https://api.openai.com/v1', secret: CANARY } });
    expect(c.status, c.text).toBe(201);
    expect(Object.keys(c.json).sort()).toEqual(['base_url', 'created_at', 'id', 'name', 'object', 'provider', 'updated_at']);
    const id = str(c.json.id);
    const viewer = client(gw, await roleKey(admin, base.split('/')[2] ?? '', 'tenant_viewer'));
    const texts = [
      c.text,
      (await admin('GET', `${base}/provider-credentials`)).text,
      (await admin('GET', `${base}/provider-credentials/${id}`)).text,
      (await viewer('GET', `${base}/provider-credentials/${id}`)).text,
      (await admin('POST', `${base}/provider-credentials/${id}/secret`, { body: { secret: `${CANARY}-2` } })).text,
      (await admin('GET', `${base}/audit.jsonl`)).text,
      gw.logs.join(''),
    ];
    for (const t of texts) expect(t).not.toContain('CANARY');
  });

  it('replaces the secret, deletes with If-Match, and refuses duplicates and local addresses', async () => {
    const c = await admin('POST', `${base}/provider-credentials`, { body: { name: 'azure', provider: 'azure', secret: 'azure-secret-0123' } });
    const replaced = await admin('POST', `${base}/provider-credentials/${str(c.json.id)}/secret`, { body: { secret: 'azure-secret-4567' } });
    expect(replaced.status).toBe(200);
    envelope(await admin('DELETE', `${base}/provider-credentials/${str(c.json.id)}`, { headers: { 'if-match': etag(c) } }), 412, 'precondition_failed');
    envelope(await admin('DELETE', `${base}/provider-credentials/${str(c.json.id)}`), 428, 'precondition_required');
    expect((await admin('DELETE', `${base}/provider-credentials/${str(c.json.id)}`, { headers: { 'if-match': etag(replaced) } })).status).toBe(204);
    envelope(await admin('POST', `${base}/provider-credentials`, { body: { name: 'openai-prod', provider: 'openai', secret: 'x'.repeat(10) } }), 409, 'conflict');
    for (const base_url of ['http://169.254.169.254/latest', 'http://localhost:8080', 'file:///etc/passwd', 'https://u:p@api.example.com']) {
      expect(envelope(await admin('POST', `${base}/provider-credentials`, { body: { name: 'ssrf', provider: 'openai', base_url, secret: 'x'.repeat(10) } }), 400).param).toBe('base_url');
    }
    envelope(await admin('POST', `${base}/provider-credentials`, { body: { name: 'short', provider: 'openai', secret: 'x' } }), 400, 'invalid_request');
  });

  it("takes a bedrock credential as the tenant's AWS credentials, write-only, validated without echoing them", async () => {
    const aws = { access_key_id: 'AKIACANARY0000000001', secret_access_key: 'aws/SECRET+CANARY/0123456789abcdefghij', session_token: 'FwoGZXIvYXdzCANARYtoken0123456789', region: 'eu-central-1' };
    const c = await admin('POST', `${base}/provider-credentials`, { body: { name: 'aws-prod', provider: 'bedrock', aws } });
    expect(c.status, c.text).toBe(201);
    expect(Object.keys(c.json).sort()).toEqual(['base_url', 'created_at', 'id', 'name', 'object', 'provider', 'updated_at']);
    const path = `${base}/provider-credentials/${str(c.json.id)}`;
    // The shape follows the provider kind, for creation and for replacement alike.
    expect(envelope(await admin('POST', `${base}/provider-credentials`, { body: { name: 'aws-2', provider: 'bedrock', secret: 'sk-0123456789' } }), 400).param).toBe('aws');
    expect(envelope(await admin('POST', `${base}/provider-credentials`, { body: { name: 'oai', provider: 'openai', aws } }), 400).param).toBe('aws');
    expect(envelope(await admin('POST', `${base}/provider-credentials`, { body: { name: 'both', provider: 'bedrock', aws, secret: 'sk-0123456789' } }), 400).param).toBe('aws');
    expect(envelope(await admin('POST', `${path}/secret`, { body: { secret: 'sk-CANARY-0123456789' } }), 400).param).toBe('aws');
    const bad: [Record<string, unknown>, string][] = [
      [{ ...aws, access_key_id: 'akia-lower-CANARY-0001' }, 'aws.access_key_id'],
      [{ ...aws, secret_access_key: 'has a space CANARY 0123456789' }, 'aws.secret_access_key'],
      [{ ...aws, region: 'moon-base' }, 'aws.region'],
      [{ ...aws, extra: 'CANARY' }, 'aws'],
    ];
    for (const [body, param] of bad) {
      const e = envelope(await admin('POST', `${base}/provider-credentials`, { body: { name: 'aws-bad', provider: 'bedrock', aws: body } }), 400, 'invalid_request');
      expect(e.param).toBe(param);
      expect(e.message).not.toContain('CANARY');
    }
    const { session_token: _, ...permanent } = aws;
    const replaced = await admin('POST', `${path}/secret`, { body: { aws: { ...permanent, secret_access_key: 'aws/SECRET+CANARY/replaced-0123456789' } } });
    expect(replaced.status, replaced.text).toBe(200);
    const texts = [c.text, replaced.text, (await admin('GET', path)).text, (await admin('GET', `${base}/provider-credentials`)).text, (await admin('GET', `${base}/audit.jsonl`)).text, gw.logs.join('')];
    for (const t of texts) expect(t).not.toContain('CANARY');
    const audit = (await admin('GET', `${base}/audit.jsonl`)).text;
    expect(audit).toContain('provider_credential.rotate_secret');
  });

  it('the platform admin and billing cannot read credentials at all', async () => {
    envelope(await platform('GET', `${base}/provider-credentials`), 403, 'forbidden');
    envelope(await client(gw, await roleKey(admin, base.split('/')[2] ?? '', 'tenant_billing'))('GET', `${base}/provider-credentials`), 403, 'forbidden');
  });
});

describe('webhooks', () => {
  it('keeps the signing secret write-only and changes the rest with If-Match', async () => {
    const w = await admin('POST', `${base}/webhooks`, { body: { url: 'https://hooks.example.com/gh', events: ['budget.threshold', 'key.*'], secret: HOOK_CANARY } });
    expect(w.status, w.text).toBe(201);
    expect(w.text).not.toContain('CANARY');
    const path = `${base}/webhooks/${str(w.json.id)}`;
    envelope(await admin('PATCH', path, { body: { enabled: false } }), 428, 'precondition_required');
    const off = await admin('PATCH', path, { body: { enabled: false }, headers: { 'if-match': etag(w) } });
    expect(off.json).toMatchObject({ enabled: false, events: ['budget.threshold', 'key.*'] });
    envelope(await admin('PATCH', path, { body: { enabled: true }, headers: { 'if-match': etag(w) } }), 412, 'precondition_failed');
    expect((await admin('GET', `${base}/webhooks`)).text).not.toContain('CANARY');
    expect((await admin('GET', `${base}/audit.jsonl`)).text).not.toContain('CANARY');
  });

  it('refuses local targets, bad events, and a secret field on update', async () => {
    for (const url of ['http://127.0.0.1/hook', 'http://2130706433/', 'http://[::1]/', 'https://metadata.google.internal/']) {
      expect(envelope(await admin('POST', `${base}/webhooks`, { body: { url, events: ['x.y'], secret: 'secret-0123' } }), 400).param).toBe('url');
    }
    envelope(await admin('POST', `${base}/webhooks`, { body: { url: 'https://ok.example.com/', events: ['Bad Event'], secret: 'secret-0123' } }), 400, 'invalid_request');
    envelope(await admin('POST', `${base}/webhooks`, { body: { url: 'https://ok.example.com/', events: [], secret: 'secret-0123' } }), 400, 'invalid_request');
    const w = await admin('POST', `${base}/webhooks`, { body: { url: 'https://ok.example.com/', events: ['a.b'], secret: 'secret-0123' } });
    envelope(await admin('PATCH', `${base}/webhooks/${str(w.json.id)}`, { body: { secret: 'new' }, headers: { 'if-match': etag(w) } }), 400, 'invalid_request');
  });
});
