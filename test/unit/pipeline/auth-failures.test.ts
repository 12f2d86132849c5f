/**
 * The failure hook of authenticate, authorize and route: every refused credential that belongs
 * to a known tenant is reported once, with that tenant and key and never the secret; made-up
 * credentials and successes are not reported at all.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AuthFailure } from '../../../src/audit/index.js';
import { hashApiKey } from '../../../src/crypto/keys.js';
import { authenticate } from '../../../src/pipeline/authenticate.js';
import { authorize } from '../../../src/pipeline/authorize.js';
import type { TenantClaim } from '../../../src/pipeline/context.js';
import { route } from '../../../src/pipeline/route.js';
import { buildSnapshot, createRegistry, REVOKED_KEPT_MS } from '../../../src/tenancy/snapshot.js';
import type { JwtIssuer } from '../../../src/tenancy/types.js';
import { failure, makeContext, makeDeployment, makeKey, makePrincipal, makeRegistry, makeTenant, pepper } from './fixtures.js';

const NOW = Date.now();
const acme = makeTenant('acme');
const globex = makeTenant('globex');
const initech = makeTenant('initech', { status: 'suspended' });

const live = makeKey(acme);
const expired = makeKey(acme, { expiresAt: NOW - 1 });
const fenced = makeKey(acme, { allowedCidrs: ['10.0.0.0/8'] });
const suspendedKey = makeKey(initech);
const recentlyRevoked = makeKey(acme, { revoked: true, revokedAtMs: NOW - 60_000 });
const longRevoked = makeKey(acme, { revoked: true, revokedAtMs: NOW - REVOKED_KEPT_MS - 1 });
const sharedA = makeKey(acme, { key: 'sk-shared-prefix-tenant-a' });
const sharedB = makeKey(globex, { key: 'sk-shared-prefix-tenant-b' });
const sameTenant1 = makeKey(acme, { key: 'sk-acme-team-one-0000000000' });
const sameTenant2 = makeKey(acme, { key: 'sk-acme-team-two-0000000000' });

const keys = [live, expired, fenced, suspendedKey, recentlyRevoked, longRevoked, sharedA, sharedB, sameTenant1, sameTenant2];
const registry = createRegistry(
  buildSnapshot({ tenants: [acme, globex, initech], keys: keys.map((k) => k.record), deployments: [], now: NOW }),
);

function recorder() {
  const seen: AuthFailure[] = [];
  return { seen, hook: (f: AuthFailure) => void seen.push(f) };
}

function ctxFor(credential: string, claims: TenantClaim[] = [], remoteAddress = '192.0.2.7') {
  return { ...makeContext({ fields: { credential, claims } }), remoteAddress, requestId: 'req-audit-1' };
}

async function refusedWith(credential: string, claims: TenantClaim[] = []) {
  const r = recorder();
  const stage = authenticate({ registry, pepper, now: () => NOW, onAuthFailure: r.hook });
  const err = await failure(() => stage(ctxFor(credential, claims)));
  return { err, seen: r.seen };
}

describe('authenticate reports refusals it can attribute', () => {
  it('a wrong secret behind a known prefix: that key, reason wrong_secret, never the secret', async () => {
    const forged = `${live.record.prefix}_${'Q'.repeat(40)}`;
    const { err, seen } = await refusedWith(forged);
    expect(err.code).toBe('invalid_api_key');
    expect(seen).toEqual([
      { tenantId: acme.id, credential: 'api_key', keyId: live.record.id, keyPrefix: live.record.prefix, reason: 'wrong_secret', requestId: 'req-audit-1', sourceIp: '192.0.2.7' },
    ]);
    expect(JSON.stringify(seen)).not.toContain('QQQQ');
  });

  it('expired, outside the allow-list, suspended tenant, another tenant claimed', async () => {
    expect((await refusedWith(expired.key)).seen.map((f) => [f.keyId, f.reason])).toEqual([[expired.record.id, 'expired']]);
    expect((await refusedWith(fenced.key)).seen.map((f) => [f.keyId, f.reason])).toEqual([[fenced.record.id, 'ip_not_allowed']]);
    expect((await refusedWith(suspendedKey.key)).seen.map((f) => [f.tenantId, f.reason])).toEqual([[initech.id, 'tenant_suspended']]);
    const mismatch = await refusedWith(live.key, [{ source: 'header', value: 'globex', tenantId: globex.id }]);
    expect(mismatch.err.code).toBe('tenant_mismatch');
    // Attributed to the key's tenant, not to the tenant the request named.
    expect(mismatch.seen.map((f) => [f.tenantId, f.keyId, f.reason])).toEqual([[acme.id, live.record.id, 'tenant_mismatch']]);
  });

  it('a recently revoked key is named as revoked; it still gets the same answer as any bad key', async () => {
    const { err, seen } = await refusedWith(recentlyRevoked.key);
    expect(err.code).toBe('invalid_api_key');
    expect(err.message).toBe('Incorrect API key provided.');
    expect(seen.map((f) => [f.keyId, f.reason])).toEqual([[recentlyRevoked.record.id, 'revoked']]);
    // A wrong secret behind the revoked key's prefix is a wrong secret, not a use of the key.
    const forged = `${recentlyRevoked.record.prefix}_${'z'.repeat(40)}`;
    expect((await refusedWith(forged)).seen.map((f) => f.reason)).toEqual(['wrong_secret']);
  });

  it('a revoked key under a previous master-key pepper is still named', async () => {
    const oldPepper = randomBytes(32);
    const legacy = makeKey(acme, { revoked: true, revokedAtMs: NOW - 1000 });
    legacy.record = { ...legacy.record, hash: hashApiKey(legacy.key, oldPepper) };
    const reg = createRegistry(buildSnapshot({ tenants: [acme], keys: [legacy.record], deployments: [], now: NOW }));
    const r = recorder();
    const stage = authenticate({ registry: reg, pepper, previousPeppers: [oldPepper], onAuthFailure: r.hook });
    await failure(() => stage(ctxFor(legacy.key)));
    expect(r.seen.map((f) => f.reason)).toEqual(['revoked']);
  });

  it('does not report what it cannot attribute: unknown prefixes, long-revoked keys, prefixes of two tenants', async () => {
    expect((await refusedWith('ghk_zzzzzzzz_notakeyatall')).seen).toEqual([]);
    expect((await refusedWith(longRevoked.key)).seen).toEqual([]);
    expect(registry.current.revokedByPrefix.has(longRevoked.record.prefix)).toBe(false);
    expect((await refusedWith('sk-shared-prefix-tenant-c')).seen).toEqual([]);
  });

  it('names the tenant but no key when several of its keys share the prefix', async () => {
    expect(sameTenant1.record.prefix).toBe(sameTenant2.record.prefix);
    const { seen } = await refusedWith('sk-acme-team-xxx');
    expect(seen.map((f) => [f.tenantId, f.keyId, f.keyPrefix, f.reason])).toEqual([[acme.id, null, 'sk-acme-team', 'wrong_secret']]);
  });

  it('reports nothing for a success', async () => {
    const r = recorder();
    const stage = authenticate({ registry, pepper, now: () => NOW, onAuthFailure: r.hook });
    await stage(ctxFor(live.key));
    await stage(ctxFor(live.key)); // cached
    expect(r.seen).toEqual([]);
  });
});

describe('authorize and route report missing scopes', () => {
  const deployments = [makeDeployment('gpt-mini'), makeDeployment('embed-small', { kind: 'embedding' })];
  const reg = makeRegistry([acme], [], deployments);

  it('authorize: a key without the operation scope', async () => {
    const r = recorder();
    const principal = makePrincipal(acme, { keyId: 'key-narrow', scopes: ['embeddings'] });
    const ctx = makeContext({ fields: { tenant: acme, principal, credential: 'ghk_narrow00_secretsecretsecret', model: 'gpt-mini' } });
    const err = await failure(() => authorize({ onAuthFailure: r.hook })(ctx));
    expect(err.code).toBe('insufficient_scope');
    expect(r.seen).toEqual([
      { tenantId: acme.id, credential: 'api_key', keyId: 'key-narrow', keyPrefix: 'ghk_narrow00', reason: 'insufficient_scope', requestId: 'req_test', sourceIp: '127.0.0.1' },
    ]);
  });

  it('route: predict resolving to an operation the key may not call', async () => {
    const r = recorder();
    const principal = makePrincipal(acme, { scopes: ['chat'] });
    const ctx = makeContext({ endpoint: { op: 'predict', modelFromPath: 'embed-small' }, fields: { tenant: acme, principal, model: 'embed-small' } });
    await failure(() => route(reg, { onAuthFailure: r.hook })(ctx));
    expect(r.seen.map((f) => f.reason)).toEqual(['insufficient_scope']);
    const ok = makeContext({ endpoint: { op: 'predict', modelFromPath: 'gpt-mini' }, fields: { tenant: acme, principal, model: 'gpt-mini' } });
    route(reg, { onAuthFailure: r.hook })(ok);
    expect(r.seen).toHaveLength(1);
  });
});

describe('authenticate reports JWT refusals of a registered issuer', () => {
  const ISS = 'https://idp.acme.test/';
  const SHARED = 'https://idp.shared.test/';
  let signer: CryptoKey;
  let stranger: CryptoKey;
  let jwtRegistry: ReturnType<typeof createRegistry>;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    signer = pair.privateKey;
    stranger = (await generateKeyPair('ES256')).privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1' };
    const claims = { tenant: 'tenant', roles: 'roles', team: 'team', user: 'sub' };
    const issuer = (tenantId: string, iss: string): JwtIssuer => ({ tenantId, issuer: iss, audience: null, jwks: { keys: [jwk] }, jwksUrl: null, claims, owner: 'tenant' });
    jwtRegistry = createRegistry(
      buildSnapshot({ tenants: [acme, globex], keys: [], deployments: [], issuers: [issuer(acme.id, ISS), issuer(acme.id, SHARED), issuer(globex.id, SHARED)] }),
    );
  });

  const token = (o: { key?: CryptoKey; iss?: string; tenant?: string; roles?: string[]; exp?: number | string } = {}) =>
    new SignJWT({ tenant: o.tenant ?? 'acme', roles: o.roles ?? ['tenant_developer'] })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(o.iss ?? ISS)
      .setSubject('alice')
      .setExpirationTime(o.exp ?? '5m')
      .sign(o.key ?? signer);

  async function jwtFailures(credential: string, claims: TenantClaim[] = []) {
    const r = recorder();
    await failure(() => authenticate({ registry: jwtRegistry, pepper, onAuthFailure: r.hook })(ctxFor(credential, claims)));
    return r.seen.map((f) => [f.tenantId, f.credential, f.keyId, f.reason]);
  }

  it('bad signature, expired, wrong tenant claim, no role: attributed to the issuer tenant', async () => {
    expect(await jwtFailures(await token({ key: stranger }))).toEqual([[acme.id, 'jwt', `jwt:${ISS}`, 'jwt_invalid']]);
    expect(await jwtFailures(await token({ exp: Math.floor(Date.now() / 1000) - 3600 }))).toEqual([[acme.id, 'jwt', `jwt:${ISS}`, 'jwt_expired']]);
    expect(await jwtFailures(await token({ tenant: 'globex' }))).toEqual([[acme.id, 'jwt', `jwt:${ISS}`, 'jwt_wrong_tenant']]);
    expect(await jwtFailures(await token({ roles: ['nobody'] }))).toEqual([[acme.id, 'jwt', `jwt:${ISS}`, 'jwt_no_role']]);
  });

  it('a verified token used against another tenant names the verified principal', async () => {
    const seen = await jwtFailures(await token(), [{ source: 'path', value: 'globex', tenantId: globex.id }]);
    expect(seen).toEqual([[acme.id, 'jwt', `jwt:${ISS}#alice`, 'tenant_mismatch']]);
  });

  it('nothing for unknown issuers, malformed tokens, or an issuer several tenants share', async () => {
    expect(await jwtFailures(await token({ iss: 'https://elsewhere.test/' }))).toEqual([]);
    expect(await jwtFailures('eyJhbGciOiJFUzI1NiJ9.e30.AAAA')).toEqual([]);
    expect(await jwtFailures(await token({ iss: SHARED, key: stranger }))).toEqual([]);
  });
});
