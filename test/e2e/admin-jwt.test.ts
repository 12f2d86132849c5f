/**
 * Admin sign-in with bearer JWTs: tenant staff with their tenant's identity provider, operator
 * staff with the platform issuer. Checked over HTTP against a real gateway.
 */
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_KEY, client, envelope, str, type Client } from '../integration/admin/helpers.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const TENANT_ISS = 'https://idp.acme.test/';
const PLATFORM_ISS = 'https://sso.operator.test/';

let gw: TestGateway;
let acmeKey: CryptoKey;
let platformKey: CryptoKey;
let strangerKey: CryptoKey;

interface TokenOptions {
  key?: CryptoKey;
  iss?: string;
  kid?: string;
  org?: string | undefined;
  roles?: string[];
  sub?: string;
  exp?: string | number;
}

function token(o: TokenOptions = {}): Promise<string> {
  const claims: Record<string, unknown> = { roles: o.roles ?? ['tenant_admin'] };
  if (!('org' in o) || o.org !== undefined) claims.org = o.org ?? 'acme';
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: o.kid ?? 'acme-1' })
    .setIssuer(o.iss ?? TENANT_ISS)
    .setAudience('gatehouse-admin')
    .setSubject(o.sub ?? 'alice@acme.test')
    .setIssuedAt()
    .setExpirationTime(o.exp ?? '5m')
    .sign(o.key ?? acmeKey);
}

function platformToken(roles: string[]): Promise<string> {
  return token({ key: platformKey, iss: PLATFORM_ISS, kid: 'ops-1', roles, org: undefined, sub: 'ops@operator.test' });
}

async function as(t: Promise<string>): Promise<Client> {
  return client(gw, await t);
}

beforeAll(async () => {
  const acme = await generateKeyPair('ES256', { extractable: true });
  const platform = await generateKeyPair('ES256', { extractable: true });
  const stranger = await generateKeyPair('ES256', { extractable: true });
  acmeKey = acme.privateKey;
  platformKey = platform.privateKey;
  strangerKey = stranger.privateKey;
  const acmeJwk = { ...(await exportJWK(acme.publicKey)), kid: 'acme-1' };
  const platformJwk = { ...(await exportJWK(platform.publicKey)), kid: 'ops-1' };
  gw = await startTestGateway({
    env: { GATEHOUSE_ADMIN_KEY: BOOTSTRAP_KEY },
    yaml: `
admin:
  jwt:
    issuer: "${PLATFORM_ISS}"
    audience: gatehouse-admin
    jwks: { keys: [${JSON.stringify(platformJwk)}] }
tenants:
  - slug: acme
    jwt:
      - issuer: "${TENANT_ISS}"
        audience: gatehouse-admin
        jwks: { keys: [${JSON.stringify(acmeJwk)}] }
        claims: { tenant: org }
  - slug: globex
`,
  });
});
afterAll(async () => {
  await gw?.stop();
});

describe('tenant staff sign in with their tenant identity provider', () => {
  it('a tenant_admin token manages its own tenant and nothing else', async () => {
    const admin = await as(token());
    const created = await admin('POST', '/tenants/acme/teams', { body: { slug: 'search' } });
    expect(created.status, created.text).toBe(201);
    const listed = await admin('GET', '/tenants/acme/teams');
    expect(listed.status).toBe(200);
    expect((listed.json.data as { slug: string }[]).map((t) => t.slug)).toContain('search');
    // Another tenant, by slug or by a made-up id: the same 404 as for admin keys.
    envelope(await admin('GET', '/tenants/globex/teams'), 404);
    envelope(await admin('GET', '/tenants'), 403);
  });

  it('takes the most capable admin role the token carries, and only that', async () => {
    const auditor = await as(token({ roles: ['tenant_auditor', 'tenant_viewer'], sub: 'audrey@acme.test' }));
    expect((await auditor('GET', '/tenants/acme/audit')).status).toBe(200);
    envelope(await auditor('POST', '/tenants/acme/teams', { body: { slug: 'nope' } }), 403);

    // Changes are attributed to the token's subject in the tenant's audit log.
    const log = await auditor('GET', '/tenants/acme/audit?action=team.create');
    const entries = log.json.data as { actor_kind: string; actor_id: string; action: string }[];
    expect(entries.some((e) => e.actor_kind === 'jwt' && e.actor_id === `jwt:${TENANT_ISS}#alice@acme.test`)).toBe(true);
  });

  // The principal id was `jwt:<sub>` for a tenant's token and `jwt:platform:<sub>` for the
  // operator's: a tenant that controls its own provider minted sub "platform:ops@operator.test"
  // and acted as that operator's principal: audit actor, created_by, and its Idempotency-Key records.
  it('a tenant token never shares a principal with platform staff (audit actor, idempotency records)', async () => {
    const ops = await as(platformToken(['platform_admin']));
    const impostor = await as(token({ sub: 'platform:ops@operator.test' }));
    const opsId = str((await ops('GET', '/whoami')).json.id);
    const impostorId = str((await impostor('GET', '/whoami')).json.id);
    expect(impostorId).not.toBe(opsId);

    const body = { name: 'by-ops', role: 'tenant_viewer' };
    const headers = { 'idempotency-key': 'onboarding-1' };
    const first = await ops('POST', '/tenants/acme/admin-keys', { body, headers });
    expect(first.status, first.text).toBe(201);
    const second = await impostor('POST', '/tenants/acme/admin-keys', { body, headers });
    expect(second.status, second.text).toBe(201);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect(second.json.id).not.toBe(first.json.id);
    expect(second.json.created_by).not.toBe(first.json.created_by);

    const log = await (await as(token({ roles: ['tenant_auditor'] })))('GET', '/tenants/acme/audit?action=admin_key.create');
    const actors = new Set((log.json.data as { actor_id: string }[]).map((e) => e.actor_id));
    expect(actors.has(opsId)).toBe(true);
    expect(actors.has(impostorId)).toBe(true);
  });

  it('refuses tokens that are expired, forged, for another tenant or without an admin role', async () => {
    envelope(await (await as(token({ exp: Math.floor(Date.now() / 1000) - 120 })))('GET', '/tenants/acme/teams'), 401, 'expired_api_key');
    envelope(await (await as(token({ key: strangerKey })))('GET', '/tenants/acme/teams'), 401, 'invalid_api_key');
    // Signed by acme's provider but claiming globex: acme's issuer speaks for acme only.
    envelope(await (await as(token({ org: 'globex' })))('GET', '/tenants/globex/teams'), 401, 'invalid_api_key');
    const noRole = envelope(await (await as(token({ roles: ['reader'] })))('GET', '/tenants/acme/teams'), 401, 'invalid_api_key');
    expect(noRole.message).toMatch(/no Gatehouse admin role/);
    // A tenant's provider cannot mint platform roles.
    envelope(await (await as(token({ roles: ['platform_admin'] })))('GET', '/tenants'), 401, 'invalid_api_key');
  });

  it('audits a refused token in the tenant whose provider signed it', async () => {
    await (await as(token({ roles: ['reader'], sub: 'mallory@acme.test' })))('GET', '/tenants/acme/teams');
    const auditor = await as(token({ roles: ['tenant_auditor'] }));
    let found = false;
    for (let i = 0; i < 50 && !found; i++) {
      const log = await auditor('GET', '/tenants/acme/audit?action=admin_jwt.auth_failed');
      found = (log.json.data as { after: { reason?: string } | null }[]).some((e) => e.after?.reason === 'jwt_no_role');
      if (!found) await new Promise((r) => setTimeout(r, 100));
    }
    expect(found).toBe(true);
  });
});

describe('operator staff sign in with the platform identity provider', () => {
  it('platform_admin manages tenants; platform_auditor only reads the audit log', async () => {
    const ops = await as(platformToken(['platform_admin']));
    const tenants = await ops('GET', '/tenants');
    expect(tenants.status, tenants.text).toBe(200);
    const made = await ops('POST', '/tenants', { body: { slug: 'initech', name: 'Initech' } });
    expect(made.status, made.text).toBe(201);
    expect(str(made.json.slug)).toBe('initech');

    const auditor = await as(platformToken(['platform_auditor']));
    envelope(await auditor('POST', '/tenants', { body: { slug: 'nope', name: 'Nope' } }), 403);
    expect((await auditor('GET', '/platform/audit')).status).toBe(200);
    // Platform roles from the platform issuer act in no tenant's data either.
    envelope(await auditor('GET', '/tenants/acme/teams'), 403);
  });

  it('platform_billing reads billing of every tenant and changes nothing; platform_admin outranks it in one token', async () => {
    const finance = await as(platformToken(['platform_billing', 'platform_auditor']));
    const me = await finance('GET', '/whoami');
    expect(me.json).toMatchObject({ role: 'platform_billing' });
    expect((await finance('GET', '/tenants/acme/invoices')).status).toBe(200);
    expect((await finance('GET', '/tenants/acme/invoice-draft')).status).toBe(200);
    envelope(await finance('POST', '/tenants', { body: { slug: 'nope', name: 'Nope' } }), 403);
    envelope(await finance('GET', '/tenants/acme/teams'), 403);
    const both = await as(platformToken(['platform_billing', 'platform_admin']));
    expect((await both('GET', '/whoami')).json).toMatchObject({ role: 'platform_admin' });
  });

  it('a platform token without a platform role is refused', async () => {
    envelope(await (await as(platformToken(['tenant_admin'])))('GET', '/tenants'), 401, 'invalid_api_key');
  });
});

describe('tenants register their identity providers through the admin API', () => {
  it('a registration authenticates data-plane and admin tokens at once; removing it refuses them', async () => {
    const ops = client(gw, BOOTSTRAP_KEY);
    const t = await ops('POST', '/tenants', { body: { slug: 'umbrella', name: 'Umbrella' } });
    expect(t.status, t.text).toBe(201);
    const key = await ops('POST', '/tenants/umbrella/admin-keys', { body: { name: 'owner', role: 'tenant_admin' } });
    const admin = client(gw, str(key.json.key));

    const idp = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(idp.publicKey)), kid: 'u-1' };
    const iss = 'https://login.umbrella.test/';
    const reg = await admin('POST', '/tenants/umbrella/jwt-issuers', {
      body: { issuer: iss, audience: 'gatehouse-admin', jwks: { keys: [jwk] }, claims: { tenant: 'org' } },
    });
    expect(reg.status, reg.text).toBe(201);
    const id = str(reg.json.id);
    expect(reg.json.claims).toEqual({ tenant: 'org', roles: 'roles', team: 'team', user: 'sub' });
    envelope(await admin('POST', '/tenants/umbrella/jwt-issuers', { body: { issuer: iss, jwks: { keys: [jwk] } } }), 409);

    const umbrella = (roles: string[]) =>
      token({ key: idp.privateKey, iss, kid: 'u-1', org: 'umbrella', roles, sub: 'wesker@umbrella.test' });
    // Admin sign-in and the data plane both trust it now (this replica answered after the reload).
    const staff = await as(umbrella(['tenant_admin']));
    expect((await staff('GET', '/tenants/umbrella/teams')).status).toBe(200);
    const models = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${await umbrella(['tenant_developer'])}` } });
    expect(models.status).toBe(200);

    expect((await admin('GET', `/tenants/umbrella/jwt-issuers/${id}`)).json.issuer).toBe(iss);
    expect((await admin('DELETE', `/tenants/umbrella/jwt-issuers/${id}`)).status).toBe(204);
    envelope(await staff('GET', '/tenants/umbrella/teams'), 401);
    envelope(await admin('GET', `/tenants/umbrella/jwt-issuers/${id}`), 404);
  });

  it('refuses private keys, two key sources, plain-http JWKS URLs and unknown fields', async () => {
    const ops = client(gw, BOOTSTRAP_KEY);
    const key = await ops('POST', '/tenants/acme/admin-keys', { body: { name: 'jwks-check', role: 'tenant_admin' } });
    const admin = client(gw, str(key.json.key));
    const pair = await generateKeyPair('ES256', { extractable: true });
    const priv = await exportJWK(pair.privateKey);
    const bad = [
      { issuer: 'https://a.test/', jwks: { keys: [priv] } },
      { issuer: 'https://a.test/', jwks: { keys: [await exportJWK(pair.publicKey)] }, jwks_url: 'https://a.test/jwks' },
      { issuer: 'https://a.test/', jwks_url: 'http://a.test/jwks' },
      { issuer: 'https://a.test/', jwks_url: 'https://a.test/jwks', secret: 'x' },
      { issuer: '', jwks_url: 'https://a.test/jwks' },
    ];
    for (const body of bad) envelope(await admin('POST', '/tenants/acme/jwt-issuers', { body }), 400, 'invalid_request');
  });

  // The gateway fetches a registered JWKS URL whenever a token names its issuer (anyone can send
  // one): a tenant-set address like a webhook URL, under the same outbound rules. It was stored
  // as given, so a tenant admin could point the gateway at the metadata service or a loopback port.
  it('refuses JWKS URLs that point at non-public addresses, naming the rule, and stores none of them', async () => {
    const ops = client(gw, BOOTSTRAP_KEY);
    const key = await ops('POST', '/tenants/acme/admin-keys', { body: { name: 'jwks-ssrf', role: 'tenant_admin' } });
    const admin = client(gw, str(key.json.key));
    const bad: [string, string][] = [
      ['https://169.254.169.254/latest/meta-data/', 'link_local'],
      ['https://[::ffff:169.254.169.254]/jwks', 'link_local'],
      ['https://127.0.0.1:9443/jwks', 'loopback'],
      ['https://2130706433/jwks', 'loopback'],
      ['https://10.0.0.5/jwks', 'private'],
      ['https://localhost/jwks', 'local_name'],
      ['https://idp.corp.internal/jwks', 'local_name'],
      ['https://user:pw@idp.example.com/jwks', 'credentials'],
    ];
    for (const [url, rule] of bad) {
      const r = await admin('POST', '/tenants/acme/jwt-issuers', { body: { issuer: `https://ssrf-${rule}.test/`, jwks_url: url } });
      const e = envelope(r, 400, 'invalid_request');
      expect(e.param, url).toBe('jwks_url');
      expect(e.message, url).toContain(`rule: ${rule}`);
    }
    const listed = await admin('GET', '/tenants/acme/jwt-issuers');
    expect((listed.json.data as { issuer: string }[]).filter((i) => i.issuer.startsWith('https://ssrf-'))).toEqual([]);
    // A public address is still accepted.
    const ok = await admin('POST', '/tenants/acme/jwt-issuers', { body: { issuer: 'https://public-idp.test/', jwks_url: 'https://203.0.113.7/jwks' } });
    expect(ok.status, ok.text).toBe(201);
    expect((await admin('DELETE', `/tenants/acme/jwt-issuers/${str(ok.json.id)}`)).status).toBe(204);
  });
});
