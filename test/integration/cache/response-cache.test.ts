/**
 * The response cache's storage, for real: the in-memory store and a real Redis (shared by two
 * tenants), store / get / expiry / quota, encryption at rest (the stored bytes do not contain the
 * plaintext), no cross-tenant reads, and crypto-shredding on an embedded store with real tenant
 * data keys (after it, the tenant's entries are unreadable).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CachedResponse } from '../../../src/cache/entry.js';
import { cacheKey, normalizedRequest } from '../../../src/cache/key.js';
import { createMemoryStore } from '../../../src/cache/memory-store.js';
import { createRedisStore, tenantPrefix } from '../../../src/cache/redis-store.js';
import { deriveCacheKeys, openEntry } from '../../../src/cache/seal.js';
import { createResponseCache, type ResponseCache } from '../../../src/cache/service.js';
import { createKeySource, storeKeyLoader, type TenantCacheState } from '../../../src/cache/tenant-keys.js';
import type { CacheStore } from '../../../src/cache/types.js';
import { createKeyring } from '../../../src/crypto/keyring.js';
import { localKms } from '../../../src/crypto/kms.js';
import { scheduleTenantShred, shredDueTenants } from '../../../src/crypto/shredding.js';
import { planPricingSchema } from '../../../src/billing/plan-pricing.js';
import { PLATFORM_SCOPE_ID } from '../../../src/identity/roles.js';
import { billingRepo, plansRepo, tenantsRepo, upsertTenantBySlug } from '../../../src/store/index.js';
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { REDIS_URL, redisAvailable } from '../../helpers/services.js';

const PLAINTEXT = 'the-secret-answer-7f3a9c1e';
const entry = (storedAt = Date.now()): CachedResponse => ({
  status: 200,
  contentType: 'application/json',
  storedAt,
  usage: { promptTokens: 5, completionTokens: 7, totalTokens: 12, cachedTokens: 0 },
  body: Buffer.from(JSON.stringify({ answer: PLAINTEXT })),
});
const normalized = normalizedRequest('chat', 'gpt-4o-mini', { messages: [{ role: 'user', content: 'q' }], temperature: 0 });

/** Two tenants with their own data keys, loaded without a database. */
function twoTenants(): { a: string; b: string; cacheOver: (store: CacheStore, maxTenantBytes?: number) => ResponseCache } {
  const a = randomUUID();
  const b = randomUUID();
  const dataKeys = new Map<string, Buffer>([
    [a, randomBytes(32)],
    [b, randomBytes(32)],
  ]);
  const cacheOver = (store: CacheStore, maxTenantBytes = 1_000_000) =>
    createResponseCache({
      store,
      keys: createKeySource({
        load: async (id): Promise<TenantCacheState> => ({ settings: { enabled: true, ttlSeconds: 60 }, keys: deriveCacheKeys(id, 1, dataKeys.get(id) as Buffer) }),
        refreshMs: 60_000,
        retryMs: 1000,
        maxTenants: 10,
      }),
      maxEntryBytes: 100_000,
      maxTenantBytes,
    });
  return { a, b, cacheOver };
}

async function lookup(cache: ResponseCache, tenantId: string, maxAgeMs = 60_000): Promise<CachedResponse | undefined> {
  const keys = (await cache.keys.get(tenantId))?.keys;
  if (keys === undefined) return undefined;
  return cache.lookup(keys, cacheKey(keys.hmacKey, normalized), maxAgeMs);
}

function storeContract(label: string, open: () => Promise<{ store: CacheStore; raw: (tenantId: string, key: string) => Promise<Buffer | undefined>; close: () => Promise<void> }>, skip = false) {
  describe.skipIf(skip)(`response cache store [${label}]`, () => {
    let h: Awaited<ReturnType<typeof open>>;
    beforeAll(async () => {
      h = await open();
    });
    afterAll(async () => h?.close());

    it('stores, serves, and keeps ciphertext only at rest', async () => {
      const { a, cacheOver } = twoTenants();
      const cache = cacheOver(h.store);
      expect(await lookup(cache, a)).toBeUndefined();
      expect(await cache.save(a, normalized, entry(), 60_000, undefined)).toBe('stored');
      const got = await lookup(cache, a);
      expect(got?.body.toString()).toContain(PLAINTEXT);
      expect(got?.usage?.completionTokens).toBe(7);

      const keys = (await cache.keys.get(a))?.keys;
      const key = cacheKey(keys?.hmacKey as Buffer, normalized);
      const stored = await h.raw(a, key);
      expect(stored).toBeDefined();
      expect((stored as Buffer).includes(Buffer.from(PLAINTEXT))).toBe(false);
      expect((stored as Buffer).includes(Buffer.from('answer'))).toBe(false);
    });

    it('two tenants sending the identical request never read each other\'s entry, even in one store', async () => {
      const { a, b, cacheOver } = twoTenants();
      const cache = cacheOver(h.store);
      await cache.save(a, normalized, entry(), 60_000, undefined);
      expect(await lookup(cache, b)).toBeUndefined();
      // Even the raw ciphertext under B's namespace with A's key name does not open with B's keys.
      const ka = (await cache.keys.get(a))?.keys as ReturnType<typeof deriveCacheKeys>;
      const kb = (await cache.keys.get(b))?.keys as ReturnType<typeof deriveCacheKeys>;
      const keyA = cacheKey(ka.hmacKey, normalized);
      expect(cacheKey(kb.hmacKey, normalized)).not.toBe(keyA);
      const sealed = (await h.raw(a, keyA)) as Buffer;
      expect(openEntry(kb, keyA, sealed)).toBeUndefined();
    });

    it('entries expire; max-age bounds what a lookup accepts', async () => {
      const { a, cacheOver } = twoTenants();
      const cache = cacheOver(h.store);
      expect(await cache.save(a, normalized, entry(Date.now() - 5000), 300, undefined)).toBe('stored');
      expect(await lookup(cache, a, 1000)).toBeUndefined(); // older than max-age
      expect(await lookup(cache, a, 60_000)).toBeDefined();
      await new Promise((r) => setTimeout(r, 400));
      expect(await lookup(cache, a, 60_000)).toBeUndefined();
    });

    it('a tenant at its cache_bytes quota stores nothing more; another tenant is unaffected', async () => {
      const { a, b, cacheOver } = twoTenants();
      const cache = cacheOver(h.store);
      const other = normalizedRequest('chat', 'gpt-4o-mini', { messages: [{ role: 'user', content: 'other' }], temperature: 0 });
      expect(await cache.save(a, normalized, entry(), 60_000, 600)).toBe('stored');
      expect(await cache.save(a, other, entry(), 60_000, 600)).toBe('quota');
      expect(await lookup(cache, a)).toBeDefined(); // the first one stays
      expect(await cache.save(b, other, entry(), 60_000, 600)).toBe('stored');
    });
  });
}

storeContract('memory', async () => {
  const store = createMemoryStore({ maxBytes: 10_000_000, maxTenantBytes: 1_000_000 });
  return { store, raw: async (t, k) => store.get(t, k), close: () => store.close() };
});

const haveRedis = await redisAvailable();
storeContract(
  'Redis',
  async () => {
    const store = createRedisStore({ url: REDIS_URL, commandTimeoutMs: 1000 });
    const client = new Redis(REDIS_URL);
    await store.ready();
    return {
      store,
      raw: async (t, k) => (await client.getBuffer(`${tenantPrefix(t)}e:${k}`)) ?? undefined,
      async close() {
        await store.close();
        client.disconnect();
      },
    };
  },
  !haveRedis,
);

describe.skipIf(!haveRedis)('response cache on Redis: keys', () => {
  it('every key of a tenant carries its hash tag and names no content', async () => {
    const { a, cacheOver } = twoTenants();
    const store = createRedisStore({ url: REDIS_URL, commandTimeoutMs: 1000 });
    const client = new Redis(REDIS_URL);
    try {
      await store.ready();
      await cacheOver(store).save(a, normalized, entry(), 60_000, undefined);
      const keys = await client.keys(`gh:cache:{${a}}:*`);
      expect(keys.length).toBe(3); // the entry, its expiry index, its sizes
      for (const k of keys) expect(k).toMatch(new RegExp(`^gh:cache:\\{${a}\\}:(e:[A-Za-z0-9_-]{43}|i|s)$`));
      expect(await client.pttl(keys[0] as string)).toBeGreaterThan(0);
    } finally {
      await store.close();
      client.disconnect();
    }
  });
});

describe('response cache and tenant data keys (embedded store)', () => {
  it('reads the opt-in in the tenant\'s transaction; after crypto-shredding the entries are unreadable', async () => {
    const store = await openPgliteTestStore();
    try {
      const keyring = createKeyring(localKms(randomBytes(32)));
      const { tenant } = await upsertTenantBySlug(store, { slug: `cache-${Date.now()}`, name: 'c' });
      const { tenant: off } = await upsertTenantBySlug(store, { slug: `nocache-${Date.now()}`, name: 'n' });
      await store.withTenant(tenant.id, (tx) => tenantsRepo.setCacheSettings(tx, { enabled: true, ttlSeconds: 60 }));
      const keys = createKeySource({ load: storeKeyLoader(store, keyring), refreshMs: 60_000, retryMs: 0, maxTenants: 10 });
      const mem = createMemoryStore({ maxBytes: 1_000_000, maxTenantBytes: 1_000_000 });
      const cache = createResponseCache({ store: mem, keys, maxEntryBytes: 100_000, maxTenantBytes: 1_000_000 });

      expect((await keys.get(off.id))?.settings).toBeUndefined();
      const state = await keys.get(tenant.id);
      expect(state?.settings).toEqual({ enabled: true, ttlSeconds: 60 });
      expect(await cache.save(tenant.id, normalized, entry(), 60_000, undefined)).toBe('stored');
      expect(await lookup(cache, tenant.id)).toBeDefined();

      await store.withTenant(tenant.id, (tx) => scheduleTenantShred(tx, { graceMs: 0 }));
      await shredDueTenants(store, { keyrings: [keyring] });
      keys.forget(tenant.id); // what the periodic refresh does within KEY_REFRESH_MS
      const after = await keys.get(tenant.id);
      expect(after?.keys).toBeUndefined();
      expect(await lookup(cache, tenant.id)).toBeUndefined();
      expect(await cache.save(tenant.id, normalized, entry(), 60_000, undefined)).toBe('error');
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('response cache as a plan feature (embedded store)', () => {
  it('a tenant opted in on a plan without caching caches nothing; on a plan with it, it does', async () => {
    const store = await openPgliteTestStore();
    try {
      const keyring = createKeyring(localKms(randomBytes(32)));
      const planWith = async (caching: boolean): Promise<string> =>
        store.withTenant(PLATFORM_SCOPE_ID, async (tx) => {
          const r = await plansRepo.create(tx, { name: `cache-${caching}-${randomUUID().slice(0, 6)}`, weight: 1, rules: [] });
          if (!r.ok) throw new Error('plan');
          await billingRepo.setPlanPricing(tx, r.plan.id, planPricingSchema.parse({ features: { caching } }));
          return r.plan.id;
        });
      const without = await planWith(false);
      const withIt = await planWith(true);
      const { tenant: a } = await upsertTenantBySlug(store, { slug: `nofeat-${Date.now()}`, name: 'a', planId: without });
      const { tenant: b } = await upsertTenantBySlug(store, { slug: `feat-${Date.now()}`, name: 'b', planId: withIt });
      for (const t of [a, b]) await store.withTenant(t.id, (tx) => tenantsRepo.setCacheSettings(tx, { enabled: true, ttlSeconds: 60 }));
      const keys = createKeySource({ load: storeKeyLoader(store, keyring), refreshMs: 60_000, retryMs: 0, maxTenants: 10 });
      expect(await keys.get(a.id)).toEqual({ settings: undefined, keys: undefined });
      expect((await keys.get(b.id))?.settings).toEqual({ enabled: true, ttlSeconds: 60 });
      expect((await keys.get(b.id))?.keys).toBeDefined();
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('response cache in memory: per-tenant bound', () => {
  it('a tenant without a cache_bytes limit makes room from its own least recently used entries', async () => {
    const { a, b, cacheOver } = twoTenants();
    const store = createMemoryStore({ maxBytes: 10_000_000, maxTenantBytes: 500 });
    const cache = cacheOver(store, 500);
    const other = normalizedRequest('chat', 'gpt-4o-mini', { messages: [{ role: 'user', content: 'other' }], temperature: 0 });
    expect(await cache.save(b, normalized, entry(), 60_000, undefined)).toBe('stored');
    expect(await cache.save(a, normalized, entry(), 60_000, undefined)).toBe('stored');
    expect(await cache.save(a, other, entry(), 60_000, undefined)).toBe('stored');
    expect(await lookup(cache, a)).toBeUndefined(); // evicted: A's oldest
    expect(await lookup(cache, b)).toBeDefined(); // B's untouched
  });
});
