/** Migrations: idempotent, checksummed, one transaction each. */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrationError } from '../../../src/store/index.js';
import { runMigrations } from '../../../src/store/migrate.js';
import { MIGRATIONS } from '../../../src/store/migrations/index.js';
import type { Migration } from '../../../src/store/migrations/index.js';
import type { StoreFactory, StoreHandle } from './factory.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** `own` opens a database of the suite's own, for the test that adds migrations. */
export function migrationsContract(factory: StoreFactory, own: StoreFactory = factory): void {
  describe(`migrations [${factory.label}]`, () => {
    let h: StoreHandle;
    beforeAll(async () => {
      h = await factory.open();
    });
    afterAll(async () => h?.close());

    const applied = () =>
      h.store.admin(async (tx) => (await tx.query<{ id: number; name: string; checksum: string }>('SELECT id, name, checksum FROM schema_migrations ORDER BY id')).rows);

    it('records each applied migration with its sha256, and a second run applies nothing', async () => {
      expect(await applied()).toEqual(MIGRATIONS.map((m) => ({ id: m.id, name: m.name, checksum: sha256(m.sql) })));
      expect(await h.store.migrate()).toEqual({ applied: [] });
      expect(await Promise.all([h.store.migrate(), h.store.migrate()])).toEqual([{ applied: [] }, { applied: [] }]);
    });

    it('aborts when an applied migration has changed', async () => {
      await h.store.admin((tx) => tx.query("UPDATE schema_migrations SET checksum = 'edited' WHERE id = 1"));
      try {
        await expect(h.store.migrate()).rejects.toThrow(MigrationError);
        await expect(h.store.migrate()).rejects.toThrow(/0001 \(init\) was applied with checksum edited, but the code now has/);
      } finally {
        await h.store.admin((tx) => tx.query('UPDATE schema_migrations SET checksum = $1 WHERE id = 1', [sha256(MIGRATIONS[0]?.sql ?? '')]));
      }
      expect(await h.store.migrate()).toEqual({ applied: [] });
    });

    it('aborts when the database was migrated by a newer version', async () => {
      await h.store.admin((tx) => tx.query("INSERT INTO schema_migrations (id, name, checksum) VALUES (999, 'future', 'x')"));
      try {
        await expect(h.store.migrate()).rejects.toThrow(/0999 \(future\).*newer version/);
      } finally {
        await h.store.admin((tx) => tx.query('DELETE FROM schema_migrations WHERE id = 999'));
      }
    });

    it('runs a new migration in its own transaction: a failure leaves nothing behind', async () => {
      const mine = await own.open();
      try {
        const next = (MIGRATIONS.at(-1)?.id ?? 0) + 1;
        const bad: Migration = { id: next, name: 'bad', sql: 'CREATE TABLE meta_probe (k text); SELECT 1/0;' };
        await expect(runMigrations(mine.store, [...MIGRATIONS, bad])).rejects.toThrow(
          new RegExp(`migration ${String(next).padStart(4, '0')} \\(bad\\) failed: division by zero`),
        );
        const probe = async () => mine.store.admin(async (tx) => (await tx.query<{ r: string | null }>("SELECT to_regclass('meta_probe')::text AS r")).rows[0]?.r);
        expect(await probe()).toBeNull();

        const good: Migration = { id: next, name: 'good', sql: 'CREATE TABLE meta_probe (k text PRIMARY KEY);' };
        expect(await runMigrations(mine.store, [...MIGRATIONS, good])).toEqual({ applied: [next] });
        expect(await probe()).toBe('meta_probe');
        expect(await runMigrations(mine.store, [...MIGRATIONS, good])).toEqual({ applied: [] });
        await expect(runMigrations(mine.store, [...MIGRATIONS, { ...good, sql: `${good.sql} ` }])).rejects.toThrow(/checksum/);
        // Code that lacks the newer migration refuses too.
        await expect(mine.store.migrate()).rejects.toThrow(/newer version/);
        await expect(runMigrations(mine.store, [good, { ...good, id: 7 }])).rejects.toThrow(/out of order/);
      } finally {
        await mine.close();
      }
    });
  });
}
