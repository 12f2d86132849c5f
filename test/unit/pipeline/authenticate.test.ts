import { describe, expect, it } from 'vitest';
import { authenticate } from '../../../src/pipeline/authenticate.js';
import type { TenantClaim } from '../../../src/pipeline/context.js';
import { failure, makeContext, makeKey, makeRegistry, makeTenant, pepper } from './fixtures.js';

const NOW = 1_750_000_000_000;

const acme = makeTenant('acme');
const globex = makeTenant('globex');
const initech = makeTenant('initech', { status: 'suspended' });

const acmeKey = makeKey(acme, { scopes: ['chat'], allowedModels: ['gpt-mini'], teamId: 'team-1' });
const globexKey = makeKey(globex);
const initechKey = makeKey(initech);
const expiring = makeKey(acme, { expiresAt: NOW + 1 });
const expiredNow = makeKey(acme, { expiresAt: NOW });
const expiredLong = makeKey(acme, { expiresAt: NOW - 86_400_000 });
const revoked = makeKey(acme, { revoked: true });
// Foreign-format keys declared in configuration: same first 12 characters, different tenants.
const sharedA = makeKey(acme, { key: 'sk-shared-prefix-tenant-a' });
const sharedB = makeKey(globex, { key: 'sk-shared-prefix-tenant-b' });

const registry = makeRegistry(
  [acme, globex, initech],
  [acmeKey, globexKey, initechKey, expiring, expiredNow, expiredLong, revoked, sharedA, sharedB],
);
const stage = authenticate({ registry, pepper, now: () => NOW });

function ctxFor(credential: string | undefined, claims: TenantClaim[] = []) {
  return makeContext({ fields: { credential, claims } });
}

function claim(source: TenantClaim['source'], tenantId: string | undefined): TenantClaim {
  return { source, value: tenantId ?? 'unknown-tenant', tenantId };
}

describe('authenticate: the key', () => {
  it('rejects a request without a key with missing_api_key 401', async () => {
    const err = await failure(() => stage(ctxFor(undefined)));
    expect([err.code, err.status]).toEqual(['missing_api_key', 401]);
  });

  it('rejects an unknown key, and a key whose prefix matches but whose secret does not', async () => {
    const unknown = await failure(() => stage(ctxFor('ghk_zzzzzzzz_notakeyatall')));
    expect([unknown.code, unknown.status]).toEqual(['invalid_api_key', 401]);

    const forged = `${acmeKey.record.prefix}_${'x'.repeat(40)}`;
    expect(registry.current.keysByPrefix.has(acmeKey.record.prefix)).toBe(true);
    const wrong = await failure(() => stage(ctxFor(forged)));
    expect(wrong.code).toBe('invalid_api_key');
    expect(wrong.message).toBe(unknown.message);

    const truncated = await failure(() => stage(ctxFor(acmeKey.key.slice(0, -1))));
    expect(truncated.code).toBe('invalid_api_key');
  });

  it('accepts a valid key and sets the tenant and principal', () => {
    const ctx = ctxFor(acmeKey.key);
    stage(ctx);
    expect(ctx.tenant).toBe(acme);
    expect(ctx.principal).toEqual({
      kind: 'api_key',
      keyId: acmeKey.record.id,
      tenantId: acme.id,
      teamId: 'team-1',
      scopes: ['chat'],
      allowedModels: ['gpt-mini'],
    });
  });

  it('rejects expired keys from their expiry instant on', async () => {
    expect(() => stage(ctxFor(expiring.key))).not.toThrow();
    for (const k of [expiredNow, expiredLong]) {
      const err = await failure(() => stage(ctxFor(k.key)));
      expect([err.code, err.status]).toEqual(['expired_api_key', 401]);
    }
  });

  it('does not know revoked keys', async () => {
    expect(registry.current.keysByPrefix.get(revoked.record.prefix)).toBeUndefined();
    const err = await failure(() => stage(ctxFor(revoked.key)));
    expect(err.code).toBe('invalid_api_key');
  });

  it('authenticates two keys sharing a prefix each to its own tenant', () => {
    expect(sharedA.record.prefix).toBe(sharedB.record.prefix);
    expect(registry.current.keysByPrefix.get(sharedA.record.prefix)).toHaveLength(2);
    const a = ctxFor(sharedA.key);
    const b = ctxFor(sharedB.key);
    stage(a);
    stage(b);
    expect([a.tenant?.id, a.principal?.keyId]).toEqual([acme.id, sharedA.record.id]);
    expect([b.tenant?.id, b.principal?.keyId]).toEqual([globex.id, sharedB.record.id]);
  });
});

describe('authenticate: tenant claims', () => {
  it('accepts claims that all name the key tenant', () => {
    const ctx = ctxFor(globexKey.key, [claim('path', globex.id), claim('header', globex.id), claim('host', globex.id)]);
    stage(ctx);
    expect(ctx.tenant).toBe(globex);
  });

  it.each(['path', 'header', 'host'] as const)(
    'rejects a %s claim of another or an unknown tenant identically, with tenant_mismatch 403',
    async (source) => {
      const other = await failure(() => stage(ctxFor(acmeKey.key, [claim(source, globex.id)])));
      const unknown = await failure(() => stage(ctxFor(acmeKey.key, [claim(source, undefined)])));
      expect([other.code, other.status]).toEqual(['tenant_mismatch', 403]);
      expect([unknown.code, unknown.status, unknown.message]).toEqual([other.code, other.status, other.message]);
      expect(other.message).not.toContain('globex');
      expect(other.message).not.toContain(globex.id);
    },
  );

  it('rejects when any one claim disagrees, and leaves the context unauthenticated', async () => {
    const ctx = ctxFor(acmeKey.key, [claim('path', acme.id), claim('header', acme.id), claim('host', globex.id)]);
    const err = await failure(() => stage(ctx));
    expect(err.code).toBe('tenant_mismatch');
    expect(ctx.tenant).toBeUndefined();
    expect(ctx.principal).toBeUndefined();
  });

  it('rejects a valid key of a suspended tenant with tenant_suspended 403', async () => {
    const ctx = ctxFor(initechKey.key, [claim('path', initech.id)]);
    const err = await failure(() => stage(ctx));
    expect([err.code, err.status]).toEqual(['tenant_suspended', 403]);
    expect(ctx.tenant).toBeUndefined();
  });

  it('reads the registry per request, so a replaced snapshot takes effect', async () => {
    const local = makeRegistry([acme], [acmeKey]);
    const localStage = authenticate({ registry: local, pepper, now: () => NOW });
    expect(() => localStage(ctxFor(acmeKey.key))).not.toThrow();
    local.replace(makeRegistry([acme], [{ ...acmeKey, record: { ...acmeKey.record, revoked: true } }]).current);
    expect((await failure(() => localStage(ctxFor(acmeKey.key)))).code).toBe('invalid_api_key');
  });
});

describe('authenticate: master-key rotation', () => {
  it('accepts keys hashed under a previous pepper only when that pepper is configured', async () => {
    const { randomBytes } = await import('node:crypto');
    const { hashApiKey } = await import('../../../src/crypto/keys.js');
    const oldPepper = randomBytes(32);
    const legacy = makeKey(acme);
    legacy.record = { ...legacy.record, hash: hashApiKey(legacy.key, oldPepper) };
    const reg = makeRegistry([acme], [legacy]);
    const strict = authenticate({ registry: reg, pepper, now: () => NOW });
    expect((await failure(() => strict(ctxFor(legacy.key)))).code).toBe('invalid_api_key');
    const rotating = authenticate({ registry: reg, pepper, previousPeppers: [oldPepper], now: () => NOW });
    const ctx = ctxFor(legacy.key);
    await rotating(ctx);
    expect(ctx.principal?.keyId).toBe(legacy.record.id);
  });
});

describe('authenticate: verified-key cache', () => {
  it('refuses a key revoked after it was used: a new snapshot starts with an empty cache', async () => {
    const key = makeKey(acme);
    const reg = makeRegistry([acme], [key]);
    const s = authenticate({ registry: reg, pepper, now: () => NOW });
    await s(ctxFor(key.key));
    await s(ctxFor(key.key)); // served from the cache
    const revokedReg = makeRegistry([acme], [{ ...key, record: { ...key.record, revoked: true } }]);
    reg.replace(revokedReg.current);
    expect((await failure(() => s(ctxFor(key.key)))).code).toBe('invalid_api_key');
  });

  it('still checks expiry for a cached key', async () => {
    let now = NOW;
    const key = makeKey(acme, { expiresAt: NOW + 1000 });
    const s = authenticate({ registry: makeRegistry([acme], [key]), pepper, now: () => now });
    await s(ctxFor(key.key));
    now = NOW + 1000;
    expect((await failure(() => s(ctxFor(key.key)))).code).toBe('expired_api_key');
  });
});

describe('authenticate: IP allow-lists', () => {
  it('admits addresses inside the list (IPv4-mapped IPv6 counts as IPv4) and refuses the rest with 403', async () => {
    const key = makeKey(acme, { allowedCidrs: ['10.1.0.0/16', '2001:db8::/32'] });
    const s = authenticate({ registry: makeRegistry([acme], [key]), pepper, now: () => NOW });
    const from = (remoteAddress: string) => {
      const ctx = ctxFor(key.key);
      return { ...ctx, remoteAddress };
    };
    for (const ok of ['10.1.2.3', '::ffff:10.1.200.1', '2001:db8::5']) await s(from(ok));
    for (const bad of ['10.2.0.1', '127.0.0.1', '::ffff:192.168.0.1', '2001:db9::1', '']) {
      const err = await failure(() => s(from(bad)));
      expect([bad, err.code, err.status]).toEqual([bad, 'ip_not_allowed', 403]);
    }
  });
});
