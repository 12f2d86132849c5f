/** The cache_bytes storage-quota migration (src/store/migrations/*_cache_bytes.ts). */
import { describe, expect, it } from 'vitest';
import { limitRulesRepo, openStore, plansRepo, upsertTenantBySlug } from '../../../src/store/index.js';

const rule = { id: 'cache', scope: 'tenant' as const, subject: null, metric: 'cache_bytes' as const, window: null, limit: 4096, burst: null, models: null };

describe('migration cache_bytes', () => {
  it('lets limit_rules hold a tenant-wide cache_bytes quota, refuses other shapes, and seeds the plans', async () => {
    const store = await openStore({ memory: true });
    try {
      await store.migrate();
      const plans = await store.platform((tx) => plansRepo.listAll(tx));
      const quota = (name: string) => plans.find((p) => p.name === name)?.rules.find((r) => r.id === 'cache-bytes');
      expect(quota('free')).toMatchObject({ metric: 'cache_bytes', limit: 0, window: null, scope: 'tenant' });
      expect(quota('standard')?.limit).toBe(64 * 1024 * 1024);
      expect(quota('enterprise')?.limit).toBe(1024 * 1024 * 1024);

      const { tenant } = await upsertTenantBySlug(store, { slug: 'quota-t', name: 'q' });
      await store.withTenant(tenant.id, (tx) => limitRulesRepo.replaceAll(tx, [rule]));
      const stored = await store.withTenant(tenant.id, (tx) => limitRulesRepo.list(tx));
      expect(stored.map((r) => [r.metric, r.limit])).toEqual([['cache_bytes', 4096]]);
      // A storage quota has no window: the database refuses one even if a writer skipped validation.
      await expect(store.withTenant(tenant.id, (tx) => limitRulesRepo.replaceAll(tx, [{ ...rule, window: 'day' }]))).rejects.toThrow();
    } finally {
      await store.close();
    }
  }, 60_000);
});
