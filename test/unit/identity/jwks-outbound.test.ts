/**
 * The JWKS of an identity provider a tenant registered is a tenant-set address: fetched through
 * the connect-time outbound guard (src/identity/jwks-fetch.ts), so a name that passed the
 * save-time check and resolves to a loopback address when the keys are fetched (DNS rebinding)
 * is never connected to. The operator's issuers (configuration file) are fetched as before.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { verifyTenantJwt } from '../../../src/identity/jwt.js';
import { guardedJwksFetch } from '../../../src/identity/jwks-fetch.js';
import { checkOutboundUrl, compileOutboundPolicy, outboundGuard, type Resolver } from '../../../src/routing/ssrf.js';
import { buildSnapshot } from '../../../src/tenancy/snapshot-build.js';
import type { JwtIssuer, JwtIssuerOwner, Tenant } from '../../../src/tenancy/types.js';

const ISS = 'https://idp.acme.example/';
const REBIND = 'idp.acme.example';
const acme: Tenant = { id: '11111111-1111-4111-8111-111111111111', slug: 'acme', name: 'Acme', status: 'active', domains: [], allowedModels: '*', regions: [], updatedAtMs: 0 };

let server: Server;
let port: number;
let signer: CryptoKey;
let jwk: JWK;
/** Every request path the local listener saw. */
const seen: string[] = [];

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  signer = pair.privateKey;
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/stall') return; // never answers
    if (req.url === '/redirect') {
      res.writeHead(302, { location: `http://127.0.0.1:${port}/jwks` }).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  seen.length = 0;
});

/** Public when the URL is saved, loopback afterwards: the rebinding a save-time check cannot see. */
function rebinding(): Resolver {
  let calls = 0;
  return async (host) => {
    if (host !== REBIND) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    calls += 1;
    return calls === 1 ? ['203.0.113.7'] : ['127.0.0.1'];
  };
}

const issuer = (jwksUrl: string, owner: JwtIssuerOwner, iss = ISS): JwtIssuer => ({
  tenantId: acme.id,
  issuer: iss,
  audience: null,
  jwks: null,
  jwksUrl,
  claims: { tenant: 'tenant', roles: 'roles', team: 'team', user: 'sub' },
  owner,
});

const token = (iss = ISS) =>
  new SignJWT({ tenant: 'acme', roles: ['tenant_developer'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(iss)
    .setSubject('alice')
    .setExpirationTime('5m')
    .sign(signer);

async function verify(registration: JwtIssuer, guard = outboundGuard(compileOutboundPolicy())) {
  const snapshot = buildSnapshot({ tenants: [acme], keys: [], deployments: [], issuers: [registration], jwksGuard: guard });
  const outcome = await verifyTenantJwt(await token(registration.issuer), snapshot.issuersByIss, (_, claimed) => claimed === 'acme');
  const trusted = snapshot.issuersByIss.get(registration.issuer)?.[0];
  return { outcome, trusted };
}

describe('JWKS of a tenant-registered issuer', () => {
  it('a name that passed the save-time check and resolves to 127.0.0.1 at fetch time is refused at connect: nothing reaches the listener', async () => {
    const resolve = rebinding();
    const policy = compileOutboundPolicy();
    const url = `http://${REBIND}:${port}/jwks`;
    // The admin API's check when the URL is saved: public then.
    expect(await checkOutboundUrl(url, policy, resolve)).toBeUndefined();

    const { outcome, trusted } = await verify(issuer(url, 'tenant'), outboundGuard(policy, resolve));
    expect(outcome).toEqual({ ok: false, reason: 'invalid' });
    expect(seen).toEqual([]);
    // Refused by the guard (it names the rule), not by a closed port.
    const err = (await Promise.resolve(trusted?.keys({ alg: 'ES256', kid: 'k1' }, { payload: '', signature: '' })).catch((e: unknown) => e)) as { cause?: { code?: string; message?: string } };
    expect(err.cause?.code).toBe('ERR_OUTBOUND_REFUSED');
    expect(err.cause?.message).toMatch(/loopback.*idp\.acme\.example resolves to it/);
    expect(seen).toEqual([]);
  });

  it('an IP-literal JWKS URL the rules refuse is never fetched (no lookup happens for it)', async () => {
    const { outcome } = await verify(issuer(`http://127.0.0.1:${port}/jwks`, 'tenant'));
    expect(outcome).toEqual({ ok: false, reason: 'invalid' });
    expect(seen).toEqual([]);
  });

  it('an address the operator allows (security.outbound) is fetched through the guard and verifies', async () => {
    const policy = compileOutboundPolicy({ allowPrivate: false, allowHosts: [], allowCidrs: ['127.0.0.1/32'] });
    const toLoopback: Resolver = async () => ['127.0.0.1'];
    const { outcome } = await verify(issuer(`http://${REBIND}:${port}/jwks`, 'tenant'), outboundGuard(policy, toLoopback));
    expect(outcome).toMatchObject({ ok: true, subject: 'alice' });
    expect(seen).toEqual(['/jwks']);
  });

  it('a redirect is not followed, even to an allowed address', async () => {
    const policy = compileOutboundPolicy({ allowPrivate: false, allowHosts: [], allowCidrs: ['127.0.0.1/32'] });
    const { outcome } = await verify(issuer(`http://127.0.0.1:${port}/redirect`, 'tenant'), outboundGuard(policy));
    expect(outcome).toEqual({ ok: false, reason: 'invalid' });
    expect(seen).toEqual(['/redirect']);
  });

  it("keeps jose's timeout: the signal jose passes aborts the guarded fetch as a TimeoutError", async () => {
    const policy = compileOutboundPolicy({ allowPrivate: false, allowHosts: [], allowCidrs: ['127.0.0.1/32'] });
    const fetchJwks = guardedJwksFetch(outboundGuard(policy));
    const started = Date.now();
    const err = (await fetchJwks(`http://127.0.0.1:${port}/stall`, {
      method: 'GET',
      redirect: 'manual',
      headers: new Headers({ accept: 'application/json' }),
      signal: AbortSignal.timeout(200),
    }).catch((e: unknown) => e)) as { name?: string };
    // jose turns exactly this name into JWKSTimeout.
    expect(err.name).toBe('TimeoutError');
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe("JWKS of the operator's issuers (configuration file)", () => {
  it('are fetched without the outbound rules: an internal IdP keeps working with no security.outbound entry', async () => {
    const { outcome } = await verify(issuer(`http://127.0.0.1:${port}/jwks`, 'platform', 'https://idp.ops.internal/'));
    expect(outcome).toMatchObject({ ok: true, subject: 'alice' });
    expect(seen).toEqual(['/jwks']);
  });
});
