/**
 * An upstream that refuses the gateway's own provider credential (401/403) is the operator's
 * problem, not the tenant's: the client gets a 502 (so its SDK does not report its own key as
 * bad) and never the upstream's text, which describes the platform's credential: OpenAI quotes
 * the key it was given, masked to its first and last characters; AWS names the account and user.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const KEY = 'sk-cred-0123456789abcdef0123456789abcdef';
/** The platform's provider key, in OpenAI's legacy form. */
const PROVIDER_KEY = 'sk-PLATFORMa1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8WXYZ';
const MASKED = `${PROVIDER_KEY.slice(0, 8)}${'*'.repeat(PROVIDER_KEY.length - 12)}${PROVIDER_KEY.slice(-4)}`;
const ANSWERS: Record<string, { status: number; message: string; type: string; code: string | null }> = {
  // What api.openai.com answers a wrong key, word for word apart from the key.
  'cred-401': {
    status: 401,
    message: `Incorrect API key provided: ${MASKED}. You can find your API key at https://platform.openai.com/account/api-keys.`,
    type: 'invalid_request_error',
    code: 'invalid_api_key',
  },
  'cred-403': {
    status: 403,
    message: 'User: arn:aws:iam::123456789012:user/platform-gateway is not authorized to perform: bedrock:InvokeModel',
    type: 'permission_error',
    code: null,
  },
};

let upstream: Server;
let gw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const model = /\/deployments\/([^/]+)\//.exec(req.url ?? '')?.[1] ?? 'cred-401';
      const answer = ANSWERS[model] ?? ANSWERS['cred-401'];
      if (answer === undefined) throw new Error('no answer');
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: answer.message, type: answer.type, param: null, code: answer.code } }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startTestGateway({
    yaml: `
demo: { enabled: false }
routing: { maxAttempts: 1 }
providers:
  - { name: platform, kind: azure, baseUrl: "http://127.0.0.1:${port}", apiVersion: 2024-10-21, apiKey: ${PROVIDER_KEY} }
deployments:
  - { model: cred-401, provider: platform }
  - { model: cred-403, provider: platform }
tenants:
  - slug: cred
    keys: [{ name: main, value: ${KEY} }]
`,
  });
  client = new OpenAI({ apiKey: KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await gw?.stop();
  upstream?.close();
});

describe('an upstream that refuses the gateway credential', () => {
  it.each(['cred-401', 'cred-403'])('%s: a 502 without the upstream text about the credential', async (model) => {
    const err = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    const e = err as InstanceType<typeof OpenAI.InternalServerError>;
    expect(e.status).toBe(502);
    expect(e.code).toBe('upstream_error');
    expect(e.message).toContain(`HTTP ${ANSWERS[model]?.status}`);
    for (const leaked of [PROVIDER_KEY.slice(0, 8), PROVIDER_KEY.slice(-4), 'Incorrect API key', '123456789012', 'platform-gateway']) {
      expect(e.message).not.toContain(leaked);
    }
  });
});
