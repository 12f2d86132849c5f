/** The store contract on real PostgreSQL: a fresh database per suite. */
import { describe, expect, it } from 'vitest';
import { openStore } from '../../../src/store/index.js';
import { MIGRATIONS } from '../../../src/store/migrations/index.js';
import { createPostgresTestDatabase, openPostgresTestStore } from '../../../src/store/testing.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';
import { storeContract } from './contract.js';

const available = await postgresAvailable();

if (available) {
  storeContract({
    label: 'PostgreSQL',
    async open(opts) {
      const { store, drop } = await openPostgresTestStore(POSTGRES_URL, opts);
      return { store, close: drop };
    },
    async openUnmigrated() {
      const db = await createPostgresTestDatabase(POSTGRES_URL);
      const store = await openStore({ databaseUrl: db.url });
      return { store, close: () => db.drop(store) };
    },
  });
}

describe.skipIf(!available)('PostgreSQL only', () => {
  it('concurrent migrators on one database serialise: the schema is applied exactly once', async () => {
    const db = await createPostgresTestDatabase(POSTGRES_URL);
    const stores = await Promise.all([1, 2, 3, 4].map(() => openStore({ databaseUrl: db.url, poolSize: 2 })));
    try {
      const results = await Promise.all(stores.map((s) => s.migrate()));
      // Each migration is applied by exactly one of them (which one may differ per migration).
      expect(results.flatMap((r) => r.applied).sort((x, y) => x - y)).toEqual(MIGRATIONS.map((m) => m.id));
      const rows = await stores[0]?.admin(async (tx) => (await tx.query('SELECT id FROM schema_migrations ORDER BY id')).rows);
      expect(rows).toEqual(MIGRATIONS.map((m) => ({ id: m.id })));
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await db.drop();
    }
  });

  it('a second database on the same server migrates although the roles already exist', async () => {
    const [one, two] = await Promise.all([openPostgresTestStore(POSTGRES_URL), openPostgresTestStore(POSTGRES_URL)]);
    try {
      for (const t of [one, two]) expect(await t.store.migrate()).toEqual({ applied: [] });
    } finally {
      await Promise.all([one.drop(), two.drop()]);
    }
  });

  it('refuses to start on an unreachable database', async () => {
    const u = new URL(POSTGRES_URL);
    u.pathname = '/gh_no_such_database';
    await expect(openStore({ databaseUrl: u.toString() })).rejects.toThrow(/does not exist/);
  });
});
