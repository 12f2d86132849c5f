/**
 * The snapshot refresher on a real (PGlite) store: notifications reload the registry, bursts
 * coalesce (one reload in flight, one queued), failures keep the old snapshot, and a periodic
 * reload runs without any notification.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../../src/crypto/keys.js';
import { CONFIG_CHANNEL, upsertTenantBySlug, type Store } from '../../../src/store/index.js';
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { loadTenancy } from '../../../src/tenancy/bootstrap.js';
import { createConfigRefresh, type ConfigRefreshOptions } from '../../../src/tenancy/refresh.js';
import { buildSnapshot, createRegistry, type Registry } from '../../../src/tenancy/snapshot.js';
import { captureLogs, createKey, PEPPER, revokeKey, sleep, waitFor } from './helpers.js';

/** Whether the registry currently authenticates `key`. */
function knows(registry: Registry, key: string): boolean {
  const hash = hashApiKey(key, PEPPER);
  return (registry.current.keysByPrefix.get(key.slice(0, 12)) ?? []).some((k) => k.hash.equals(hash));
}

describe('configuration refresh', () => {
  let store: Store;
  let tenantId: string;
  beforeAll(async () => {
    store = await openPgliteTestStore();
    tenantId = (await upsertTenantBySlug(store, { slug: 'refresh', name: 'Refresh' })).tenant.id;
  });
  afterAll(async () => store?.close());

  async function started(extra: Partial<ConfigRefreshOptions> = {}) {
    const registry = createRegistry(buildSnapshot({ ...(await loadTenancy(store)), deployments: [] }));
    const { logger, lines } = captureLogs();
    const refresh = createConfigRefresh({ store, registry, deployments: [], logger, fullReloadMs: 0, ...extra });
    await refresh.start();
    await waitFor('the start-up reload', () => refresh.stats().reloads >= 1 || refresh.stats().failures >= 1);
    return { registry, refresh, lines };
  }

  it('a key created or revoked through the store reaches the registry within a second', async () => {
    const { registry, refresh } = await started();
    try {
      const { id, key } = await createKey(store, tenantId, 'fresh');
      expect(await waitFor('the new key in the registry', () => knows(registry, key), 1_000)).toBeLessThan(1_000);
      await revokeKey(store, tenantId, id);
      expect(await waitFor('the revoked key gone', () => !knows(registry, key), 1_000)).toBeLessThan(1_000);
      expect(refresh.stats().notifications).toBeGreaterThanOrEqual(2);
    } finally {
      await refresh.stop();
    }
  });

  it('reloadTenant() resolves only once the change is on the hot path (read-your-writes for the admin API)', async () => {
    let fullLoads = 0;
    const load = async () => {
      fullLoads += 1;
      return loadTenancy(store);
    };
    const { registry, refresh } = await started({ load, debounceMs: 200 });
    try {
      await refresh.settled();
      const { key } = await createKey(store, tenantId, 'read your writes');
      await refresh.reloadTenant(tenantId);
      expect(knows(registry, key)).toBe(true);
      expect(fullLoads).toBe(1);
      const { key: other } = await createKey(store, tenantId, 'after a full reload');
      await refresh.reloadAll();
      expect(knows(registry, other)).toBe(true);
      expect(fullLoads).toBe(2);
    } finally {
      await refresh.stop();
    }
  });

  it('coalesces a burst: one reload in flight, exactly one queued behind it, however many notifications', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let loads = 0;
    let gate: Promise<void> = Promise.resolve();
    const load = async () => {
      loads += 1;
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await gate; // a slow database: notifications pile up behind the running reload
        return await loadTenancy(store);
      } finally {
        inFlight -= 1;
      }
    };
    const notify = (i: number) => store.admin((tx) => tx.query('SELECT pg_notify($1, $2)', [CONFIG_CHANNEL, `burst ${i}`]));
    const { refresh } = await started({ load, debounceMs: 20 });
    await refresh.settled();
    loads = 0;
    const heardBefore = refresh.stats().notifications;
    let release = () => {};
    gate = new Promise<void>((resolve) => (release = resolve));
    try {
      await notify(0);
      await waitFor('the first reload to start', () => loads === 1);
      for (let i = 1; i <= 40; i++) await notify(i);
      await waitFor('every notification heard', () => refresh.stats().notifications === heardBefore + 41);
      expect(loads).toBe(1);
      release();
      await waitFor('the queued reload', () => loads === 2);
      await refresh.settled();
      await sleep(100); // nothing else is pending: no third reload may start
      expect(loads).toBe(2);
      expect(maxInFlight).toBe(1);
    } finally {
      release();
      await refresh.stop();
    }
  });

  it('a failed reload keeps the previous snapshot, is logged, and is retried (tenant path)', async () => {
    let outage = false;
    // The refresher's view of the database fails; the test's own writes still go through.
    const flaky: Store = {
      ...store,
      withTenant: (id, fn) => (outage ? Promise.reject(new Error('database unreachable (simulated)')) : store.withTenant(id, fn)),
    };
    const { registry, refresh, lines } = await started({ store: flaky, retryMs: 50 });
    try {
      const before = registry.current;
      outage = true;
      const { key } = await createKey(store, tenantId, 'during outage');
      await waitFor('a failed reload', () => refresh.stats().failures >= 1);
      expect(registry.current).toBe(before);
      expect(lines.join('')).toContain('configuration reload failed; keeping the previous snapshot');
      expect(lines.join('')).toContain('database unreachable (simulated)');
      outage = false;
      await waitFor('the retry to pick up the key', () => knows(registry, key), 2_000);
    } finally {
      await refresh.stop();
    }
  });

  it('a failed full reload keeps the previous snapshot and is retried', async () => {
    let fail = false;
    const load = async () => {
      if (fail) throw new Error('platform read failed (simulated)');
      return loadTenancy(store);
    };
    const { registry, refresh } = await started({ load, retryMs: 50 });
    try {
      const before = registry.current;
      fail = true;
      refresh.request('periodic');
      await waitFor('a failed full reload', () => refresh.stats().failures >= 1);
      expect(registry.current).toBe(before);
      const reloads = refresh.stats().reloads;
      fail = false;
      await waitFor('the retried full reload', () => refresh.stats().reloads > reloads, 2_000);
      expect(registry.current).not.toBe(before);
    } finally {
      await refresh.stop();
    }
  });

  it('a change names its tenant: only that tenant is re-read; a deleted tenant disappears with its keys', async () => {
    let fullLoads = 0;
    const load = async () => {
      fullLoads += 1;
      return loadTenancy(store);
    };
    const { registry, refresh } = await started({ load });
    try {
      const gone = (await upsertTenantBySlug(store, { slug: 'short-lived', name: 'Short-lived' })).tenant.id;
      const { key } = await createKey(store, gone, 'doomed');
      await waitFor('the new tenant and key', () => knows(registry, key) && registry.current.tenantsById.has(gone), 1_000);
      expect(fullLoads).toBe(1); // the start-up reload only
      expect(refresh.stats().patches).toBeGreaterThanOrEqual(1);

      await store.withTenant(gone, (tx) => tx.query('DELETE FROM tenants WHERE id = $1', [gone]));
      await waitFor('the tenant and its key gone', () => !knows(registry, key) && !registry.current.tenantsById.has(gone), 1_000);
      expect(registry.current.tenantsById.has(tenantId)).toBe(true); // the others stay
      expect(fullLoads).toBe(1);
    } finally {
      await refresh.stop();
    }
  });

  it('a TRUNCATE, an unknown table or too many tenants at once reload in full', async () => {
    let fullLoads = 0;
    const load = async () => {
      fullLoads += 1;
      return loadTenancy(store);
    };
    const { refresh } = await started({ load, maxTenantPatch: 2 });
    const notify = (payload: object) => store.admin((tx) => tx.query('SELECT pg_notify($1, $2)', [CONFIG_CHANNEL, JSON.stringify(payload)]));
    try {
      await refresh.settled();
      const at = fullLoads;
      await notify({ op: 'truncate', table: 'api_keys', tenant_id: null });
      await waitFor('a full reload for TRUNCATE', () => fullLoads === at + 1);
      await refresh.settled();
      await notify({ op: 'update', table: 'jwt_issuers', tenant_id: tenantId });
      await waitFor('a full reload for a table it does not patch', () => fullLoads === at + 2);
      await refresh.settled();
      const patches = refresh.stats().patches;
      // One transaction: the three arrive together, in one batch.
      await store.admin(async (tx) => {
        for (let i = 0; i < 3; i++) {
          await tx.query('SELECT pg_notify($1, $2)', [CONFIG_CHANNEL, JSON.stringify({ op: 'update', table: 'api_keys', tenant_id: crypto.randomUUID() })]);
        }
      });
      await waitFor('a full reload for three tenants at once', () => fullLoads === at + 3);
      expect(refresh.stats().patches).toBe(patches);
    } finally {
      await refresh.stop();
    }
  });

  it('reloads periodically without any notification (the safety net for lost ones)', async () => {
    let loads = 0;
    const load = async () => {
      loads += 1;
      return loadTenancy(store);
    };
    const { refresh } = await started({ load, fullReloadMs: 100 });
    try {
      const at = loads;
      await waitFor('two periodic reloads', () => loads >= at + 2, 2_000);
      expect(refresh.stats().notifications).toBe(0);
    } finally {
      await refresh.stop();
    }
  });

  it('after stop, changes no longer reach the registry and no timer is left', async () => {
    const { registry, refresh } = await started();
    await refresh.stop();
    const version = registry.current.version;
    const { key } = await createKey(store, tenantId, 'after stop');
    await sleep(300);
    expect(registry.current.version).toBe(version);
    expect(knows(registry, key)).toBe(false);
    await refresh.stop(); // idempotent
  });
});
