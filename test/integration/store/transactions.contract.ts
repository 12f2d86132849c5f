/** The tenant-bound handle: what it refuses, and that nothing leaks between transactions. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ForbiddenStatementError, StoreClosedError, teamsRepo } from '../../../src/store/index.js';
import type { TenantTx } from '../../../src/store/index.js';
import { seedTenant, sqlStateOf } from './factory.js';
import type { SeededTenant, StoreFactory, StoreHandle } from './factory.js';

class Abort extends Error {}

export function transactionsContract(factory: StoreFactory): void {
  describe(`tenant transactions [${factory.label}]`, () => {
    let h: StoreHandle;
    let a: SeededTenant;
    let b: SeededTenant;

    beforeAll(async () => {
      // Pool of one (PostgreSQL): every transaction reuses the same connection, so anything a
      // transaction left behind would be seen by the next (DESIGN §12).
      h = await factory.open({ poolSize: 1 });
      a = await seedTenant(h.store, 'a');
      b = await seedTenant(h.store, 'b');
    });
    afterAll(async () => h?.close());

    it('refuses a tenant id that is not a uuid', async () => {
      await expect(h.store.withTenant('acme', async () => 1)).rejects.toThrow(TypeError);
      await expect(h.store.withTenant('', async () => 1)).rejects.toThrow(TypeError);
    });

    it('refuses statements that could leave the role or the tenant', async () => {
      for (const sql of [
        'RESET ROLE',
        'SET ROLE postgres',
        'set local role none',
        '  /* hi */ reset role',
        '-- comment\nRESET ROLE',
        '/* nested /* comment */ */ RESET ROLE',
        "SELECT set_config('role', 'postgres', true)",
        `SELECT "set_config"('app.tenant_id', '${b.id}', true)`,
        "SET app.tenant_id = 'x'",
        'DO $$ BEGIN EXECUTE $q$RESET ROLE$q$; END $$',
        'CREATE TEMP TABLE t (x int)',
        'BEGIN',
        'COMMIT',
      ]) {
        await expect(h.store.withTenant(a.id, (tx) => tx.query(sql)), sql).rejects.toThrow(ForbiddenStatementError);
        await expect(h.store.platform((tx) => tx.query(sql)), sql).rejects.toThrow(ForbiddenStatementError);
      }
    });

    it('runs exactly one statement per query (no piggy-backed second statement)', async () => {
      const state = await sqlStateOf(h.store.withTenant(a.id, (tx) => tx.query('SELECT 1; RESET ROLE')));
      expect(state).toBe('42601'); // "cannot insert multiple commands into a prepared statement"
    });

    it('why the guard matters: RESET ROLE on the superuser connection would see every tenant', async () => {
      const n = await h.store.admin(async (tx) => {
        await tx.query('SET LOCAL ROLE gatehouse_app');
        await tx.query("SELECT set_config('app.tenant_id', $1, true)", [a.id]);
        await tx.query('RESET ROLE');
        return (await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM tenants WHERE id IN ($1, $2)', [a.id, b.id])).rows[0]?.n;
      });
      expect(n).toBe(2);
    });

    it('a handle kept past its callback refuses to run', async () => {
      let leaked: TenantTx | undefined;
      await h.store.withTenant(a.id, async (tx) => {
        leaked = tx;
      });
      await expect(leaked?.query('SELECT 1')).rejects.toThrow(StoreClosedError);
    });

    it('rolls back when the callback throws', async () => {
      const slug = 'rolled-back';
      await expect(
        h.store.withTenant(a.id, async (tx) => {
          await teamsRepo.upsert(tx, { slug, name: 'x' });
          throw new Abort();
        }),
      ).rejects.toThrow(Abort);
      expect(await h.store.withTenant(a.id, (tx) => teamsRepo.getBySlug(tx, slug))).toBeNull();
    });

    it('leaves no role or tenant on the connection after commit or rollback', async () => {
      const sessionUser = await h.store.admin(async (tx) => (await tx.query<{ u: string }>('SELECT session_user AS u')).rows[0]?.u);
      await h.store.withTenant(a.id, async (tx) => tx.query('SELECT 1'));
      await h.store.withTenant(b.id, async () => {
        throw new Abort();
      }).catch(() => {});
      await h.store.withTenant(a.id, (tx) => tx.query('SELECT 1/0')).catch(() => {});
      const after = await h.store.admin(
        async (tx) =>
          (await tx.query<{ u: string; t: string | null }>("SELECT current_user AS u, current_setting('app.tenant_id', true) AS t")).rows[0],
      );
      expect(after?.u).toBe(sessionUser);
      expect(after?.t ?? '').toBe('');
    });

    it('interleaved, partly aborted transactions of two tenants each see only their own rows', async () => {
      const run = (t: SeededTenant, i: number) =>
        h.store.withTenant(t.id, async (tx) => {
          const setting = (await tx.query<{ t: string }>("SELECT current_setting('app.tenant_id') AS t")).rows[0]?.t;
          const owners = (await tx.query<{ tenant_id: string }>('SELECT DISTINCT tenant_id FROM teams')).rows.map((r) => r.tenant_id);
          if (i % 3 === 0) throw new Abort(); // aborted by the application
          if (i % 3 === 1) await tx.query('SELECT 1/0'); // aborted by the database
          return { setting, owners };
        });
      const results = await Promise.allSettled(Array.from({ length: 30 }, (_, i) => run(i % 2 === 0 ? a : b, i)));
      // Every third call succeeds; each saw exactly its own tenant.
      const seen = results.flatMap((r, i) => (r.status === 'fulfilled' ? [{ i, ...r.value }] : []));
      expect(seen).toHaveLength(10);
      for (const s of seen) {
        const own = s.i % 2 === 0 ? a.id : b.id;
        expect(s).toEqual({ i: s.i, setting: own, owners: [own] });
      }
      // And afterwards the connection still serves both tenants correctly.
      const owners = await h.store.withTenant(b.id, async (tx) => (await tx.query<{ tenant_id: string }>('SELECT DISTINCT tenant_id FROM teams')).rows);
      expect(owners).toEqual([{ tenant_id: b.id }]);
    });

    it('a platform transaction is a read-only snapshot without a tenant', async () => {
      const info = await h.store.platform(
        async (tx) =>
          (
            await tx.query<{ u: string; ro: string; iso: string; t: string | null }>(
              `SELECT current_user AS u, current_setting('transaction_read_only') AS ro,
                      current_setting('transaction_isolation') AS iso, current_setting('app.tenant_id', true) AS t`,
            )
          ).rows[0],
      );
      expect(info).toEqual({ u: 'gatehouse_platform', ro: 'on', iso: 'repeatable read', t: '' });
    });

    it('refuses work after close', async () => {
      const own = await factory.open();
      await own.close();
      await expect(own.store.withTenant(a.id, async () => 1)).rejects.toThrow(StoreClosedError);
      await own.close(); // idempotent
    });
  });
}
