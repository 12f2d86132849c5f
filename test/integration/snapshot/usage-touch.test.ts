/**
 * last_used_at written asynchronously: touch() only records in memory, flushes write one UPDATE
 * per tenant inside that tenant's transaction, memory is bounded, the database being down never
 * reaches the caller, and the writes do not make the fleet reload (no notification).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyUsageRepo, upsertTenantBySlug, type Store, type TenantTx } from '../../../src/store/index.js';
import { createKeyTouch } from '../../../src/tenancy/usage-touch.js';
import { bothStores, type OpenedStore } from '../../helpers/stores.js';
import { captureLogs, createKey, hear, waitFor } from './helpers.js';

const factories = await bothStores();

for (const f of factories) {
  describe.skipIf(f.skip)(`API key last use [${f.label}]`, () => {
    let h: OpenedStore;
    let a: string;
    let b: string;
    beforeAll(async () => {
      h = await f.open();
      const slug = `touch-${Math.random().toString(36).slice(2, 8)}`;
      a = (await upsertTenantBySlug(h.store, { slug: `${slug}-a`, name: 'A' })).tenant.id;
      b = (await upsertTenantBySlug(h.store, { slug: `${slug}-b`, name: 'B' })).tenant.id;
    });
    afterAll(async () => h?.close());

    const lastUsed = (tenant: string, keyId: string) => h.store.withTenant(tenant, (tx) => keyUsageRepo.lastUsed(tx, keyId));

    /** The store, counting tenant transactions. */
    function counting(): { store: Pick<Store, 'withTenant'>; tenants: string[] } {
      const tenants: string[] = [];
      return {
        tenants,
        store: {
          withTenant<T>(tenantId: string, fn: (tx: TenantTx) => Promise<T>): Promise<T> {
            tenants.push(tenantId);
            return h.store.withTenant(tenantId, fn);
          },
        },
      };
    }

    it('batches uses in memory and writes one UPDATE per tenant, keeping the latest time', async () => {
      const [k1, k2, k3] = [await createKey(h.store, a, 'k1'), await createKey(h.store, a, 'k2'), await createKey(h.store, b, 'k3')];
      let clock = Date.parse('2030-01-01T00:00:00Z');
      const { store, tenants } = counting();
      const touch = createKeyTouch(store, { intervalMs: 60_000, now: () => clock });
      try {
        for (let i = 0; i < 100; i++) {
          touch.touch(k1.id, a);
          touch.touch(k2.id, a);
          touch.touch(k3.id, b);
          clock += 1_000;
        }
        expect(tenants).toEqual([]); // nothing written on the request path
        expect(touch.stats().pending).toBe(3);
        await touch.flush();
        expect(tenants.sort()).toEqual([a, b].sort());
        expect(touch.stats()).toMatchObject({ pending: 0, written: 3, dropped: 0 });
        expect((await lastUsed(a, k1.id))?.toISOString()).toBe(new Date(clock - 1_000).toISOString());
        expect((await lastUsed(b, k3.id))?.toISOString()).toBe(new Date(clock - 1_000).toISOString());

        // Another replica's older batch arriving late never moves it backwards.
        const older = createKeyTouch(h.store, { now: () => Date.parse('2029-01-01T00:00:00Z') });
        older.touch(k1.id, a);
        await older.close();
        expect((await lastUsed(a, k1.id))?.toISOString()).toBe(new Date(clock - 1_000).toISOString());
      } finally {
        await touch.close();
      }
    });

    it('flushes on its own timer, and the writes send no configuration notification', async () => {
      const k = await createKey(h.store, a, 'timed');
      const heard = await hear(h.store);
      try {
        await heard.sync();
        heard.payloads.length = 0;
        const touch = createKeyTouch(h.store, { intervalMs: 50 });
        touch.touch(k.id, a);
        await waitFor('the timer flush', async () => (await lastUsed(a, k.id)) !== null, 3_000);
        await touch.close();
        await heard.sync();
        expect(heard.changes()).toEqual([]);
      } finally {
        await heard.stop();
      }
    });

    it('holds at most maxPending keys, counting what it drops', async () => {
      const { store, tenants } = counting();
      const touch = createKeyTouch(store, { intervalMs: 60_000, maxPending: 2 });
      const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
      for (const id of ids) touch.touch(id, a);
      touch.touch(ids[0] ?? '', a); // a key already held is still updated
      expect(touch.stats()).toMatchObject({ pending: 2, dropped: 1 });
      await waitFor('the early flush a full buffer asks for', () => tenants.length > 0);
      await touch.close();
    });

    it('never throws to the caller when the database fails; logs and keeps the uses for the next flush', async () => {
      const { logger, lines } = captureLogs();
      const broken: Pick<Store, 'withTenant'> = {
        withTenant: () => Promise.reject(new Error('connection refused (simulated)')),
      };
      const touch = createKeyTouch(broken, { intervalMs: 60_000, logger });
      expect(() => touch.touch(crypto.randomUUID(), a)).not.toThrow();
      await touch.flush();
      expect(touch.stats()).toMatchObject({ pending: 1, failedFlushes: 1 });
      expect(lines.join('')).toContain('connection refused (simulated)');
      await touch.close();
      touch.touch(crypto.randomUUID(), a); // after close: ignored, no throw
      expect(touch.stats().pending).toBe(1);
    });
  });
}
