/**
 * Bearer JWTs from a tenant's own identity provider: verified against the registered issuer's
 * keys, the tenant claim must name that tenant, roles map to what the bearer may do.
 */
import OpenAI from 'openai';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let acmeKey: CryptoKey;
let otherKey: CryptoKey;
const ISSUER = 'https://idp.acme.test/';

beforeAll(async () => {
  const acme = await generateKeyPair('ES256', { extractable: true });
  const other = await generateKeyPair('ES256', { extractable: true });
  acmeKey = acme.privateKey;
  otherKey = other.privateKey;
  const jwk = { ...(await exportJWK(acme.publicKey)), kid: 'acme-1' };
  gw = await startTestGateway({
    yaml: `
tenants:
  - slug: acme
    models: [gpt-4o-mini]
    jwt:
      - issuer: "${ISSUER}"
        audience: gatehouse
        jwks: { keys: [${JSON.stringify(jwk)}] }
        claims: { tenant: org }
  - slug: globex
`,
  });
});
afterAll(async () => {
  await gw?.stop();
});

interface TokenOptions {
  key?: CryptoKey;
  org?: string;
  roles?: string[] | string;
  iss?: string;
  aud?: string;
  exp?: string | number;
}

function token(o: TokenOptions = {}): Promise<string> {
  return new SignJWT({ org: o.org ?? 'acme', roles: o.roles ?? ['tenant_developer'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'acme-1' })
    .setIssuer(o.iss ?? ISSUER)
    .setAudience(o.aud ?? 'gatehouse')
    .setSubject('alice@acme.test')
    .setIssuedAt()
    .setExpirationTime(o.exp ?? '5m')
    .sign(o.key ?? acmeKey);
}

function sdk(apiKey: string, base = `${gw.url}/v1`): OpenAI {
  return new OpenAI({ apiKey, baseURL: base, maxRetries: 0 });
}

const chat = (client: OpenAI) =>
  client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

describe('tenant JWTs', () => {
  it('accept a valid token for its tenant, also on the tenant-scoped path', async () => {
    const t = await token();
    const res = await chat(sdk(t)).withResponse();
    expect(res.response.headers.get('x-tenant-id')).toBe('acme');
    await expect(chat(sdk(t, `${gw.url}/api/v1/tenants/acme/v1`))).resolves.toBeDefined();
  });

  it('refuse a token used against another tenant', async () => {
    await expect(chat(sdk(await token(), `${gw.url}/api/v1/tenants/globex/v1`))).rejects.toBeInstanceOf(
      OpenAI.PermissionDeniedError,
    );
  });

  it.each([
    ['signed by another key', { key: undefined as CryptoKey | undefined, other: true }],
    ['from an unknown issuer', { iss: 'https://evil.test/' }],
    ['for another audience', { aud: 'someone-else' }],
    ['naming another tenant in its claim', { org: 'globex' }],
    ['expired', { exp: Math.floor(Date.now() / 1000) - 3600 }],
  ])('refuse a token %s with 401', async (_name, opts) => {
    const o = opts as TokenOptions & { other?: boolean };
    const t = await token({ ...o, key: o.other ? otherKey : acmeKey });
    await expect(chat(sdk(t))).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('refuse an unsigned (alg none) token', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(
      JSON.stringify({ iss: ISSUER, aud: 'gatehouse', org: 'acme', roles: ['tenant_admin'], exp: Math.floor(Date.now() / 1000) + 300 }),
    ).toString('base64url');
    await expect(chat(sdk(`${header}.${payload}.`))).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('map roles: a viewer may list models but not call them; no role is refused', async () => {
    const viewer = sdk(await token({ roles: 'tenant_viewer' }));
    const ids: string[] = [];
    for await (const m of viewer.models.list()) ids.push(m.id);
    expect(ids).toEqual(['gpt-4o-mini']);
    await expect(chat(viewer)).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
    await expect(chat(sdk(await token({ roles: ['tenant_billing'] })))).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
  });

  it('keep the tenant policy: models outside it are not found', async () => {
    const err = await sdk(await token())
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
  });
});
