/**
 * JWKS URLs of identity providers a tenant registered are tenant-set addresses: the gateway
 * fetches them through the connect-time outbound guard, so a registration that points at the
 * gateway's own network when the keys are fetched (rebinding, a name that turned private after
 * the save-time check, a row from before that check) is never connected to, and its tokens are
 * refused with the usual 401. Issuers the operator's configuration declares may point at an
 * internal IdP without any `security.outbound` entry. Checked over HTTP against a real gateway.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantsRepo } from '../../src/store/index.js';
import { jwtIssuersRepo } from '../../src/store/repos/jwt-issuers.js';
import { envelope, str, type Reply } from '../integration/admin/helpers.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const OPS_ISS = 'https://idp.ops.internal/';
const CLAIMS = { tenant: 'org', roles: 'roles', team: 'team', user: 'sub' };

let gw: TestGateway;
let idp: Server;
let port: number;
let signer: CryptoKey;
/** Every path the local listener (the "internal" address) was asked for. */
const seen: string[] = [];

beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  signer = pair.privateKey;
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] });
  idp = createServer((req, res) => {
    seen.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  port = (idp.address() as AddressInfo).port;
  // No security.outbound: loopback is refused for every address a tenant sets.
  gw = await startTestGateway({
    yaml: `
tenants:
  - slug: acme
    models: [gpt-4o-mini]
    jwt:
      - issuer: "${OPS_ISS}"
        jwksUrl: "http://127.0.0.1:${port}/ops/jwks"
        claims: { tenant: org }
  - slug: globex
    models: [gpt-4o-mini]
`,
  });
});
afterAll(async () => {
  await gw?.stop();
  idp?.closeAllConnections();
  await new Promise<void>((resolve) => (idp ? idp.close(() => resolve()) : resolve()));
});

function token(iss: string, org: string): Promise<string> {
  return new SignJWT({ org, roles: ['tenant_developer'] })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setIssuer(iss)
    .setSubject('alice')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signer);
}

async function models(bearer: string): Promise<Reply> {
  const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${bearer}` } });
  const text = await res.text();
  return { status: res.status, headers: {}, text, json: JSON.parse(text) as Reply['json'] };
}

const UNKNOWN_ISSUER = 'The bearer token was not issued by a trusted identity provider.';

describe('JWKS fetches', () => {
  it("an issuer the operator's configuration declares may use an internal IdP (no security.outbound entry)", async () => {
    const r = await models(await token(OPS_ISS, 'acme'));
    expect(r.status, r.text).toBe(200);
    expect(seen).toContain('/ops/jwks');
  });

  it.each([
    // A name: resolved at connect time by the guard (here a local name, as a rebound name would
    // resolve to loopback), refused before any socket is opened.
    ['a name', 'localhost'],
    // An IP literal: Node does no lookup for it; the guard checks it before the request.
    ['an IP literal', '127.0.0.1'],
  ])('a tenant registration whose JWKS URL is %s on the local network is refused at connect: 401, nothing fetched', async (_, host) => {
    const iss = `https://idp-${host}.globex.example/`;
    const path = `/tenant/${host}/jwks`;
    // Written past the admin API (whose save-time check would refuse it today): what a name that
    // resolved publicly when saved and privately now amounts to when the keys are fetched.
    const globex = str(await gw.store.platform((tx) => tenantsRepo.findIdBySlug(tx, 'globex')));
    await gw.store.withTenant(globex, (tx) =>
      jwtIssuersRepo.insert(tx, { issuer: iss, audience: null, jwks: null, jwksUrl: `http://${host}:${port}${path}`, claims: CLAIMS }),
    );
    const bearer = await token(iss, 'globex');
    // The snapshot hears of the registration within a second (NOTIFY).
    let r = await models(bearer);
    const started = Date.now();
    while (r.status === 401 && r.json.error?.message === UNKNOWN_ISSUER && Date.now() - started < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      r = await models(bearer);
    }
    const e = envelope(r, 401, 'invalid_api_key');
    expect(e.message).toBe('The bearer token failed verification.');
    expect(seen.filter((p) => p.startsWith('/tenant/'))).toEqual([]);
  });
});
