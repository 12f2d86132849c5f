/**
 * A full reload (snapshot-load.ts) reads the keys only of tenants whose key digest changed
 * (apiKeysRepo.snapshotDigests), and must still give exactly what reading everything gives: a
 * full reload exists to catch changes whose notification was lost, so every column the snapshot
 * reads, changed with no notification at all, must reach it. On PGlite and on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey, hashApiKey, keyPrefix } from '../../../src/crypto/keys.js';
import { openStore, upsertTenantBySlug, type PlatformTx, type Store } from '../../../src/store/index.js';
import { createPostgresTestDatabase, openPgliteTestStore } from '../../../src/store/testing.js';
import { readTenantChanges } from '../../../src/tenancy/refresh-tenants.js';
import { createConfigRefresh } from '../../../src/tenancy/refresh.js';
import { patchSnapshot } from '../../../src/tenancy/snapshot-build.js';
import { loadSnapshot } from '../../../src/tenancy/snapshot-load.js';
import { createRegistry, type Snapshot } from '../../../src/tenancy/snapshot.js';
import type { ApiKeyRecord } from '../../../src/tenancy/types.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';
import { captureLogs, createKey, PEPPER, sleep, waitFor } from './helpers.js';

const available = await postgresAvailable();

/** The store as loadSnapshot sees it, counting the key rows its page queries return. */
function counted(store: Store) {
  let rows = 0;
  const platform = <T>(fn: (tx: PlatformTx) => Promise<T>): Promise<T> =>
    store.platform((tx) =>
      fn({
        scope: 'platform',
        async query(sql, params) {
          const result = await tx.query(sql, params);
          // The page query (pageForSnapshot), not the digests' aggregate.
          if (/FROM api_keys WHERE/.test(sql) && /ORDER BY tenant_id, id/.test(sql)) rows += result.rows.length;
          return result as never;
        },
      }),
    );
  return {
    store: { platform, withTenant: store.withTenant.bind(store) },
    /** Key rows read since the last call. */
    take(): number {
      const n = rows;
      rows = 0;
      return n;
    },
  };
}

/** A change made with triggers off: no notification is sent, as when one is lost. */
async function silently(store: Store, sql: string, params: unknown[]): Promise<void> {
  await store.admin(async (tx) => {
    await tx.exec('SET LOCAL session_replication_role = replica');
    await tx.query(sql, params);
  });
}

const keyView = (k: ApiKeyRecord) => ({ ...k, hash: k.hash.toString('hex'), revokedAtMs: k.revokedAtMs ?? null, allowedCidrs: k.allowedCidrs ?? null });
const keyList = (list: readonly ApiKeyRecord[]) => list.map(keyView).sort((a, b) => a.id.localeCompare(b.id));

/** What the request path can see of keys and tenants, as sorted plain data. */
function view(s: Snapshot) {
  return {
    tenants: [...s.tenantsById.keys()].sort(),
    keysByPrefix: [...s.keysByPrefix].map(([p, list]) => [p, keyList(list)]).sort(),
    revokedByPrefix: [...s.revokedByPrefix].map(([p, list]) => [p, keyList(list)]).sort(),
    cidrsByKey: [...s.cidrsByKey].map(([id, list]) => [id, list.rules]).sort(),
    entries: [...s.entries].map(([id, e]) => [id, keyList(e.keys)]).sort(),
  };
}

function fullReloadSuite(label: string, open: () => Promise<{ store: Store; close(): Promise<void> }>): void {
  describe(`a full reload re-reads only tenants whose keys changed [${label}]`, () => {
    let store: Store;
    let close: () => Promise<void>;
    const tenants: string[] = [];
    const keysOf = new Map<string, { id: string; key: string }[]>();
    let snapshot: Snapshot;
    const reads = { take: () => 0, store: undefined as unknown as Pick<Store, 'platform' | 'withTenant'> };

    /** A full reload of `snapshot`, checked against a whole read of the same state. */
    async function reload(now?: number): Promise<{ next: Snapshot; rows: number }> {
      const opts = { deployments: [], ...(now === undefined ? {} : { now }) };
      reads.take();
      const next = await loadSnapshot(reads.store, { ...opts, previous: snapshot });
      const rows = reads.take();
      expect(view(next)).toEqual(view(await loadSnapshot(store, opts)));
      snapshot = next;
      return { next, rows };
    }

    beforeAll(async () => {
      ({ store, close } = await open());
      const tag = Math.random().toString(36).slice(2, 8);
      for (const n of [0, 1, 2, 3]) {
        const id = (await upsertTenantBySlug(store, { slug: `reload-${tag}-${n}`, name: `Reload ${n}` })).tenant.id;
        tenants.push(id);
        const keys = [];
        for (let k = 0; k < 3; k++) keys.push(await createKey(store, id, `k${k}`));
        keysOf.set(id, keys);
      }
      Object.assign(reads, counted(store));
      snapshot = await loadSnapshot(store, { deployments: [] });
    });
    afterAll(async () => close?.());

    const keyOf = (tenant: number, n = 0) => (keysOf.get(tenants[tenant] as string) ?? [])[n] as { id: string; key: string };
    const knows = (s: Snapshot, key: string) => (s.keysByPrefix.get(keyPrefix(key)) ?? []).some((k) => k.hash.equals(hashApiKey(key, PEPPER)));

    it('nothing changed: no key row is read and every entry is the one it replaces', async () => {
      const before = snapshot;
      const { next, rows } = await reload();
      expect(rows).toBe(0);
      for (const id of tenants) expect(next.entries.get(id)).toBe(before.entries.get(id));
    });

    // Every column the snapshot reads of a key, changed in place with no notification.
    const columns: [string, string][] = [
      ['team_id', `UPDATE api_keys SET team_id = (SELECT id FROM teams WHERE tenant_id = api_keys.tenant_id LIMIT 1) WHERE id = $1`],
      ['prefix', `UPDATE api_keys SET prefix = 'ghk_zzzzzzzz' WHERE id = $1`],
      ['key_hash', `UPDATE api_keys SET key_hash = decode(md5(id::text) || md5(id::text), 'hex') WHERE id = $1`],
      ['scopes', `UPDATE api_keys SET scopes = ARRAY['chat'] WHERE id = $1`],
      ['allowed_models', `UPDATE api_keys SET allowed_models = ARRAY['gpt-4o'] WHERE id = $1`],
      ['allowed_cidrs', `UPDATE api_keys SET allowed_cidrs = ARRAY['10.0.0.0/8']::cidr[] WHERE id = $1`],
      ['expires_at', `UPDATE api_keys SET expires_at = now() + interval '1 day' WHERE id = $1`],
      ['revoked_at', `UPDATE api_keys SET revoked_at = now() WHERE id = $1`],
    ];
    it.each(columns)('a key whose %s changed without a notification: only its tenant is re-read', async (column, sql) => {
      const tenant = tenants[1] as string;
      if (column === 'team_id') {
        await store.admin((tx) => tx.query(`INSERT INTO teams (tenant_id, slug, name) VALUES ($1, 'reload-team', 'Reload team') ON CONFLICT DO NOTHING`, [tenant]));
        await reload(); // the team's own notification is not what this is about
      }
      const key = keyOf(1, columns.findIndex(([c]) => c === column) % 3);
      const before = snapshot;
      const entry = (s: Snapshot) => s.entries.get(tenant)?.keys.find((k) => k.id === key.id);
      await silently(store, sql, [key.id]);
      const { next, rows } = await reload();
      expect(rows).toBe(3); // that tenant's keys only
      expect(entry(next)).not.toEqual(entry(before));
      for (const other of [0, 2, 3]) expect(next.entries.get(tenants[other] as string)).toBe(before.entries.get(tenants[other] as string));
    });

    it('keys added and deleted, in several tenants at once, with no notification', async () => {
      const before = snapshot;
      const added = await createKey(store, tenants[2] as string, 'added'); // notifies, but no one listens here
      await silently(store, 'DELETE FROM api_keys WHERE id = $1', [keyOf(3, 0).id]);
      const { next, rows } = await reload();
      expect(rows).toBe(4 + 2);
      expect(knows(next, added.key)).toBe(true);
      expect(knows(next, keyOf(3, 0).key)).toBe(false);
      expect(next.entries.get(tenants[0] as string)).toBe(before.entries.get(tenants[0] as string));
    });

    it('a tenant patched since (its digest unknown) is re-read by the next full reload, once', async () => {
      const tenant = tenants[0] as string;
      const fresh = await createKey(store, tenant, 'patched');
      snapshot = patchSnapshot(snapshot, { tenants: await readTenantChanges(store, [tenant]) });
      expect(snapshot.entries.get(tenant)?.keysDigest).toBeUndefined();
      expect(knows(snapshot, fresh.key)).toBe(true);
      expect((await reload()).rows).toBe(4);
      expect(snapshot.entries.get(tenant)?.keysDigest).toMatch(/^\d+:-?\d+:-?\d+$/);
      expect((await reload()).rows).toBe(0);
    });

    it('a revoked key that ages out of the snapshot is dropped by a later full reload', async () => {
      const key = keyOf(2, 1);
      await silently(store, `UPDATE api_keys SET revoked_at = now() - interval '29 days' WHERE id = $1`, [key.id]);
      const revoked = (s: Snapshot) => (s.revokedByPrefix.get(keyPrefix(key.key)) ?? []).some((k) => k.id === key.id);
      await reload();
      expect(revoked(snapshot)).toBe(true);
      const { rows } = await reload(Date.now() + 2 * 86_400_000);
      expect(rows).toBe(3);
      expect(revoked(snapshot)).toBe(false);
    });

    it('the refresher: a key inserted without a notification is accepted after the periodic full reload', async () => {
      const registry = createRegistry(await loadSnapshot(store, { deployments: [] }));
      const refresh = createConfigRefresh({ store, registry, deployments: [], logger: captureLogs().logger, fullReloadMs: 0 });
      await refresh.start();
      try {
        await waitFor('the start-up reload', () => refresh.stats().reloads >= 1);
        const { key } = generateApiKey();
        await silently(
          store,
          `INSERT INTO api_keys (tenant_id, name, prefix, key_hash, scopes) VALUES ($1, 'silent', $2, $3, ARRAY['inference'])`,
          [tenants[3], keyPrefix(key), hashApiKey(key, PEPPER)],
        );
        await sleep(300);
        expect(knows(registry.current, key)).toBe(false); // nothing announced it
        refresh.request('periodic');
        await waitFor('the silent key after a full reload', () => knows(registry.current, key));
      } finally {
        await refresh.stop();
      }
    });
  });
}

fullReloadSuite('PGlite', async () => {
  const store = await openPgliteTestStore();
  return { store, close: () => store.close() };
});

if (available) {
  fullReloadSuite('PostgreSQL', async () => {
    const db = await createPostgresTestDatabase(POSTGRES_URL);
    const store = await openStore({ databaseUrl: db.url, poolSize: 2 });
    await store.migrate();
    return { store, close: () => db.drop(store) };
  });
}
