/** verifyJwt with one `iss` registered by two tenants: the outcome must not depend on their order. */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { trustIssuer, verifyJwt, type TrustedIssuer } from '../../../src/identity/jwt.js';

const ISS = 'https://shared-idp.example.com/';

async function registration(tenantId: string) {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: tenantId, alg: 'ES256' };
  const issuer = trustIssuer({
    tenantId,
    issuer: ISS,
    audience: null,
    jwks: { keys: [jwk] },
    jwksUrl: null,
    claims: { tenant: 'tenant', roles: 'roles', user: 'sub', team: 'team' },
    owner: 'tenant',
  });
  const sign = (exp: number, tenant: string) =>
    new SignJWT({ tenant, roles: ['member'] }).setProtectedHeader({ alg: 'ES256', kid: tenantId }).setIssuer(ISS).setSubject('u').setExpirationTime(exp).sign(privateKey);
  return { issuer, sign };
}

describe('verifyJwt with an issuer two tenants registered', () => {
  it('an expired token of one is "expired" whichever registration is tried first', async () => {
    const [a, b] = [await registration('tenant-a'), await registration('tenant-b')];
    const expired = await b.sign(Math.floor(Date.now() / 1000) - 3600, 'tenant-b');
    const matches = (issuer: TrustedIssuer, claimed: string) => issuer.tenantId === claimed;
    for (const order of [[a.issuer, b.issuer], [b.issuer, a.issuer]]) {
      expect(await verifyJwt(expired, new Map([[ISS, order]]), matches)).toMatchObject({ ok: false, reason: 'expired' });
    }
    const valid = await b.sign(Math.floor(Date.now() / 1000) + 3600, 'tenant-b');
    for (const order of [[a.issuer, b.issuer], [b.issuer, a.issuer]]) {
      expect(await verifyJwt(valid, new Map([[ISS, order]]), matches)).toMatchObject({ ok: true });
    }
  });
});
