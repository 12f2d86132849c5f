/** The start-up repositories: typed records, expected outcomes as values. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey, verifyApiKey } from '../../../src/crypto/keys.js';
import {
  apiKeysRepo,
  domainsRepo,
  metaRepo,
  teamsRepo,
  tenantsRepo,
  upsertTenantBySlug,
} from '../../../src/store/index.js';
import type { NewApiKey } from '../../../src/store/index.js';
import { PEPPER, seedTenant, sqlStateOf, uniq } from './factory.js';
import type { SeededTenant, StoreFactory, StoreHandle } from './factory.js';

function newKey(overrides: Partial<NewApiKey> = {}): NewApiKey & { key: string } {
  const { key, prefix } = generateApiKey();
  return { key, name: 'k', prefix, hash: hashApiKey(key, PEPPER), scopes: ['inference', 'models:read'], ...overrides };
}

export function reposContract(factory: StoreFactory): void {
  describe(`repositories [${factory.label}]`, () => {
    let h: StoreHandle;
    let a: SeededTenant;
    let b: SeededTenant;

    beforeAll(async () => {
      h = await factory.open();
      a = await seedTenant(h.store, 'a');
      b = await seedTenant(h.store, 'b');
    });
    afterAll(async () => h?.close());

    describe('tenants', () => {
      it('upserts by slug: creates once, then updates the given fields', async () => {
        const slug = `up-${uniq()}`;
        const first = await upsertTenantBySlug(h.store, { slug, name: 'One', regions: ['eu'], allowedModels: ['gpt-x'], timeZone: 'Europe/Paris' });
        expect(first.created).toBe(true);
        expect(first.tenant).toMatchObject({ slug, name: 'One', status: 'active', regions: ['eu'], allowedModels: ['gpt-x'], timeZone: 'Europe/Paris', settings: {} });
        expect(first.tenant.createdAt).toBeInstanceOf(Date);
        const second = await upsertTenantBySlug(h.store, { slug, name: 'Two', status: 'suspended', allowedModels: '*' });
        expect(second.created).toBe(false);
        expect(second.tenant).toMatchObject({ id: first.tenant.id, name: 'Two', status: 'suspended', regions: ['eu'], allowedModels: null, timeZone: 'Europe/Paris' });
      });

      it('concurrent upserts of one new slug create one tenant', async () => {
        const slug = `race-${uniq()}`;
        const results = await Promise.all([1, 2, 3].map((i) => upsertTenantBySlug(h.store, { slug, name: `R${i}` })));
        expect(new Set(results.map((r) => r.tenant.id)).size).toBe(1);
        expect(results.filter((r) => r.created)).toHaveLength(1);
      });

      it("get and update only reach the transaction's own tenant", async () => {
        expect((await h.store.withTenant(a.id, (tx) => tenantsRepo.get(tx)))?.slug).toBe(a.slug);
        const ghost = '00000000-0000-4000-8000-000000000000';
        expect(await h.store.withTenant(ghost, (tx) => tenantsRepo.get(tx))).toBeNull();
        expect(await h.store.withTenant(ghost, (tx) => tenantsRepo.update(tx, { name: 'x' }))).toBeNull();
        const updated = await h.store.withTenant(a.id, (tx) => tenantsRepo.update(tx, { settings: { n: 1 } }));
        expect(updated?.settings).toEqual({ n: 1 });
      });

      it('refuses an unknown time zone', async () => {
        await expect(upsertTenantBySlug(h.store, { slug: `tz-${uniq()}`, name: 'x', timeZone: 'Mars/Olympus' })).rejects.toThrow(RangeError);
      });

      it('lists every tenant for the snapshot, with domains and "*" for all models', async () => {
        const tenants = await h.store.platform((tx) => tenantsRepo.listForSnapshot(tx));
        const mine = tenants.find((t) => t.id === a.id);
        // updatedAtMs: the row's updated_at, which the platform role may read (a change marker for state kept off the snapshot).
        const row = await h.store.withTenant(a.id, (tx) => tenantsRepo.get(tx));
        expect(mine).toEqual({
          id: a.id, slug: a.slug, name: 'Tenant a', status: 'active', domains: [a.domain], allowedModels: '*', regions: [], updatedAtMs: row?.updatedAt.getTime(),
        });
        expect(tenants.some((t) => t.id === b.id)).toBe(true);
        expect(await h.store.platform((tx) => tenantsRepo.findIdBySlug(tx, b.slug))).toBe(b.id);
        expect(await h.store.platform((tx) => tenantsRepo.findIdBySlug(tx, 'no-such-tenant'))).toBeNull();
      });
    });

    describe('domains', () => {
      it('a domain belongs to one tenant: claiming another tenant’s is a value, not an error', async () => {
        const d = `${uniq()}.example.org`;
        expect(await h.store.withTenant(a.id, (tx) => domainsRepo.add(tx, d.toUpperCase()))).toEqual({ ok: true, created: true });
        expect(await h.store.withTenant(a.id, (tx) => domainsRepo.add(tx, d))).toEqual({ ok: true, created: false });
        // The transaction stays usable after the refusal.
        const r = await h.store.withTenant(b.id, async (tx) => ({ add: await domainsRepo.add(tx, d), list: await domainsRepo.list(tx) }));
        expect(r).toEqual({ add: { ok: false, reason: 'domain_taken' }, list: [b.domain] });
        expect(await h.store.withTenant(b.id, (tx) => domainsRepo.remove(tx, d))).toBe(false);
        const all = await h.store.platform((tx) => domainsRepo.listAll(tx));
        expect(all).toEqual(expect.arrayContaining([{ tenantId: a.id, domain: d }, { tenantId: b.id, domain: b.domain }]));
        expect(await h.store.withTenant(a.id, (tx) => domainsRepo.remove(tx, d))).toBe(true);
        expect(await h.store.withTenant(b.id, (tx) => domainsRepo.add(tx, d))).toEqual({ ok: true, created: true });
      });
    });

    describe('teams', () => {
      it('slugs are unique per tenant, not globally', async () => {
        const ta = await h.store.withTenant(a.id, (tx) => teamsRepo.upsert(tx, { slug: 'shared', name: 'A' }));
        const tb = await h.store.withTenant(b.id, (tx) => teamsRepo.upsert(tx, { slug: 'shared', name: 'B' }));
        expect(ta.id).not.toBe(tb.id);
        const renamed = await h.store.withTenant(a.id, (tx) => teamsRepo.upsert(tx, { slug: 'shared', name: 'A2' }));
        expect(renamed).toMatchObject({ id: ta.id, tenantId: a.id, name: 'A2' });
        expect((await h.store.withTenant(a.id, (tx) => teamsRepo.list(tx))).map((t) => t.slug)).toEqual(['core', 'shared']);
        expect(await h.store.withTenant(a.id, (tx) => teamsRepo.remove(tx, tb.id))).toBe(false);
        expect(await h.store.withTenant(a.id, (tx) => teamsRepo.remove(tx, 'nope'))).toBe(false);
        const all = await h.store.platform((tx) => teamsRepo.listAll(tx));
        expect(all.filter((t) => t.slug === 'shared').map((t) => t.tenantId).sort()).toEqual([a.id, b.id].sort());
      });
    });

    describe('api keys', () => {
      it('stores the hash, lists every key for the snapshot, and verifies', async () => {
        const k = newKey({ allowedModels: ['m1'], expiresAt: new Date('2030-01-01T00:00:00Z') });
        const r = await h.store.withTenant(a.id, (tx) => apiKeysRepo.insert(tx, k));
        if (!r.ok) throw new Error('insert failed');
        expect(r.key).toMatchObject({
          tenantId: a.id,
          teamId: null,
          prefix: k.prefix,
          scopes: ['inference', 'models:read'],
          allowedModels: ['m1'],
          expiresAt: Date.parse('2030-01-01T00:00:00Z'),
          revoked: false,
          revokedAt: null,
        });
        const all = await h.store.platform((tx) => apiKeysRepo.listAll(tx));
        const found = all.find((x) => x.id === r.key.id);
        expect(Buffer.isBuffer(found?.hash)).toBe(true);
        expect(found && verifyApiKey(k.key, found.hash, PEPPER)).toBe(true);
        expect(all.some((x) => x.tenantId === b.id)).toBe(true);
      });

      it('reads the snapshot keys page by page: each once, in (tenant, id) order, long-revoked ones left out', async () => {
        // Tenants of its own: the other tests count a's and b's keys.
        const pa = await seedTenant(h.store, 'pa');
        const pb = await seedTenant(h.store, 'pb');
        const expires = new Date('2031-02-03T04:05:06.789Z');
        const made: string[] = [];
        for (const [tenant, i] of [pa, pb, pa, pb, pa].map((t, n) => [t, n] as const)) {
          const r = await h.store.withTenant(tenant.id, (tx) => apiKeysRepo.insert(tx, newKey({ name: `page ${i}`, expiresAt: i === 0 ? expires : null })));
          if (!r.ok) throw new Error('insert failed');
          made.push(r.key.id);
        }
        const [live, recent, old] = [made[0] ?? '', made[1] ?? '', made[2] ?? ''];
        await h.store.withTenant(pb.id, (tx) => tx.query(`UPDATE api_keys SET revoked_at = now() - interval '1 day' WHERE id = $1`, [recent]));
        await h.store.withTenant(pa.id, (tx) => tx.query(`UPDATE api_keys SET revoked_at = now() - interval '40 days' WHERE id = $1`, [old]));
        const since = Date.now() - 30 * 86_400_000;
        const pages: string[][] = [];
        const seen = await h.store.platform(async (tx) => {
          const out: Awaited<ReturnType<typeof apiKeysRepo.pageForSnapshot>> = [];
          let after: { tenantId: string; id: string } | null = null;
          for (;;) {
            const page = await apiKeysRepo.pageForSnapshot(tx, after, 2, since);
            pages.push(page.map((k) => k.id));
            out.push(...page);
            const last = page[page.length - 1];
            if (last === undefined || page.length < 2) return out;
            after = { tenantId: last.tenantId, id: last.id };
          }
        });
        const order = seen.map((k) => `${k.tenantId}/${k.id}`);
        expect(order).toEqual([...order].sort());
        expect(new Set(order).size).toBe(order.length);
        expect(pages.every((p) => p.length <= 2)).toBe(true);
        const ids = seen.map((k) => k.id);
        expect(ids).toEqual(expect.arrayContaining([live, recent, made[3], made[4]]));
        expect(ids).not.toContain(old);
        const first = seen.find((k) => k.id === live);
        expect(first).toMatchObject({ tenantId: pa.id, expiresAt: expires.getTime(), revoked: false, revokedAtMs: null, allowedCidrs: null });
        expect(Buffer.isBuffer(first?.hash) && first.hash.length).toBe(32);
        expect(first).not.toHaveProperty('name');
        const revoked = seen.find((k) => k.id === recent);
        expect(revoked?.revoked).toBe(true);
        expect(Math.abs((revoked?.revokedAtMs ?? 0) - (Date.now() - 86_400_000))).toBeLessThan(60_000);
        // One tenant's own keys, under its row-level security, the same way.
        const own = await h.store.withTenant(pa.id, (tx) => apiKeysRepo.listForSnapshot(tx, since));
        expect(own.every((k) => k.tenantId === pa.id)).toBe(true);
        expect(own.map((k) => k.id)).toEqual(expect.arrayContaining([live, made[4]]));
        expect(own.map((k) => k.id)).not.toContain(old);
      });

      it('a key belongs to exactly one tenant', async () => {
        const k = newKey();
        expect((await h.store.withTenant(a.id, (tx) => apiKeysRepo.insert(tx, k))).ok).toBe(true);
        const again = await h.store.withTenant(b.id, async (tx) => ({
          insert: await apiKeysRepo.insert(tx, k),
          upsert: await apiKeysRepo.upsertByHash(tx, k),
          count: (await apiKeysRepo.list(tx)).length,
        }));
        expect(again).toEqual({ insert: { ok: false, reason: 'key_in_use' }, upsert: { ok: false, reason: 'key_in_use' }, count: 1 });
      });

      it('upsertByHash updates the declared key in place and un-revokes it', async () => {
        const k = newKey({ name: 'declared' });
        const first = await h.store.withTenant(a.id, (tx) => apiKeysRepo.upsertByHash(tx, k));
        if (!first.ok) throw new Error('upsert failed');
        await h.store.withTenant(a.id, (tx) => apiKeysRepo.revoke(tx, first.key.id));
        const second = await h.store.withTenant(a.id, (tx) => apiKeysRepo.upsertByHash(tx, { ...k, name: 'renamed', scopes: ['chat'], teamId: a.teamId }));
        expect(second).toMatchObject({ ok: true, key: { id: first.key.id, name: 'renamed', scopes: ['chat'], teamId: a.teamId, revoked: false } });
      });

      it("revokes idempotently, only the tenant's own keys", async () => {
        expect(await h.store.withTenant(a.id, (tx) => apiKeysRepo.revoke(tx, b.keyId))).toBe(false);
        expect(await h.store.withTenant(a.id, (tx) => apiKeysRepo.revoke(tx, 'not-a-uuid'))).toBe(false);
        expect(await h.store.withTenant(b.id, (tx) => apiKeysRepo.revoke(tx, b.keyId))).toBe(true);
        const after = await h.store.withTenant(b.id, async (tx) => {
          const first = await apiKeysRepo.get(tx, b.keyId);
          await apiKeysRepo.revoke(tx, b.keyId);
          return { first, second: await apiKeysRepo.get(tx, b.keyId) };
        });
        expect(after.first?.revoked).toBe(true);
        expect(after.second?.revokedAt).toEqual(after.first?.revokedAt);
        expect(await h.store.withTenant(a.id, (tx) => apiKeysRepo.get(tx, b.keyId))).toBeNull();
      });

      it("cannot attach another tenant's team", async () => {
        const state = await sqlStateOf(h.store.withTenant(a.id, (tx) => apiKeysRepo.insert(tx, newKey({ teamId: b.teamId }))));
        expect(state).toBe('23503');
      });

      it('refuses unknown scopes', async () => {
        const bad = { ...newKey(), scopes: ['root'] } as unknown as NewApiKey;
        await expect(h.store.withTenant(a.id, (tx) => apiKeysRepo.insert(tx, bad))).rejects.toThrow(RangeError);
      });
    });

    describe('meta', () => {
      it('is written by the owner and read by the platform', async () => {
        await h.store.admin((tx) => metaRepo.set(tx, 'instance', 'one'));
        await h.store.admin((tx) => metaRepo.set(tx, 'instance', 'two'));
        expect(await h.store.platform((tx) => metaRepo.get(tx, 'instance'))).toBe('two');
        expect(await h.store.admin((tx) => metaRepo.get(tx, 'missing'))).toBeNull();
      });
    });
  });
}
