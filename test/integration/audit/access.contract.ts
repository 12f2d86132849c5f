/**
 * Who may touch the audit tables, proven with raw SQL as the database roles (not through
 * src/audit/, so a bug there cannot make these pass).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, queryAudit, verifyAuditChain } from '../../../src/audit/index.js';
import type { AdminTx } from '../../../src/store/index.js';
import { sqlStateOf } from '../store/factory.js';
import type { StoreFactory, StoreHandle } from '../store/factory.js';
import { auditTenantIsolation } from '../store/isolation-audit.js';
import { appendMany, asApp, event, newTenant, READER } from './helpers.js';

const INSUFFICIENT_PRIVILEGE = '42501';
const CHECK_VIOLATION = '23514';
const TABLES = ['audit_entries', 'audit_checkpoints'];

export function accessContract(factory: StoreFactory): void {
  describe(`audit tables: row-level security and privileges [${factory.label}]`, () => {
    let h: StoreHandle;
    let a: string;
    let b: string;
    beforeAll(async () => {
      h = await factory.open();
      a = await newTenant(h.store, 'a');
      b = await newTenant(h.store, 'b');
      await appendMany(h.store, a, 3);
      await appendMany(h.store, b, 3);
    });
    afterAll(async () => h?.close());

    it('the catalogue audit passes with the audit tables (RLS forced, tenant policy, keys lead with tenant_id)', async () => {
      expect(await h.store.admin((tx) => auditTenantIsolation(tx))).toEqual([]);
      const rls = await h.store.admin(
        async (tx) =>
          (
            await tx.query<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>(
              `SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
               WHERE relname = ANY($1::text[]) AND relnamespace = current_schema()::regnamespace ORDER BY relname`,
              [TABLES],
            )
          ).rows,
      );
      expect(rls).toEqual([
        { relname: 'audit_checkpoints', relrowsecurity: true, relforcerowsecurity: true },
        { relname: 'audit_entries', relrowsecurity: true, relforcerowsecurity: true },
      ]);
    });

    it('gatehouse_app may insert and select audit entries, never update, delete or truncate them', async () => {
      const rights = await h.store.admin(async (tx) => {
        const { rows } = await tx.query<{ priv: string; entries: boolean; checkpoints: boolean }>(
          `SELECT p AS priv, has_table_privilege('gatehouse_app', 'audit_entries', p) AS entries,
                  has_table_privilege('gatehouse_app', 'audit_checkpoints', p) AS checkpoints
           FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p ORDER BY p`,
        );
        return rows;
      });
      expect(rights).toEqual([
        { priv: 'DELETE', entries: false, checkpoints: false },
        { priv: 'INSERT', entries: true, checkpoints: true },
        { priv: 'REFERENCES', entries: false, checkpoints: false },
        { priv: 'SELECT', entries: true, checkpoints: true },
        { priv: 'TRIGGER', entries: false, checkpoints: false },
        { priv: 'TRUNCATE', entries: false, checkpoints: false },
        // Table-level UPDATE on checkpoints is false: only (seq, hash, at) are granted, below.
        { priv: 'UPDATE', entries: false, checkpoints: false },
      ]);
      const columns = await h.store.admin(
        async (tx) =>
          (
            await tx.query<{ table_name: string; column_name: string; privilege_type: string }>(
              `SELECT table_name, column_name, privilege_type FROM information_schema.column_privileges
               WHERE grantee = 'gatehouse_app' AND table_name = ANY($1::text[]) AND privilege_type = 'UPDATE'
               ORDER BY table_name, column_name`,
              [TABLES],
            )
          ).rows,
      );
      expect(columns).toEqual(['at', 'hash', 'seq'].map((c) => ({ table_name: 'audit_checkpoints', column_name: c, privilege_type: 'UPDATE' })));
    });

    it('UPDATE, DELETE and TRUNCATE fail for gatehouse_app even with the tenant set', async () => {
      const attempts = [
        "UPDATE audit_entries SET action = 'test.forged' WHERE seq = 1",
        'DELETE FROM audit_entries WHERE seq = 3',
        'TRUNCATE audit_entries',
        'DELETE FROM audit_checkpoints',
        'TRUNCATE audit_checkpoints',
        'UPDATE audit_checkpoints SET tenant_id = tenant_id',
      ];
      for (const sql of attempts) {
        expect({ sql, state: await sqlStateOf(asApp(h.store, a, (tx) => tx.query(sql))) }).toEqual({ sql, state: INSUFFICIENT_PRIVILEGE });
      }
      // Through the tenant handle as well (its guard refuses TRUNCATE before the database does).
      for (const sql of attempts.filter((s) => !s.startsWith('TRUNCATE'))) {
        expect({ sql, state: await sqlStateOf(h.store.withTenant(a, (tx) => tx.query(sql))) }).toEqual({ sql, state: INSUFFICIENT_PRIVILEGE });
      }
      expect(await verifyAuditChain(h.store, a)).toMatchObject({ ok: true, entries: 3 });
    });

    it('the checkpoint only moves forward, and a new one can only be the genesis head', async () => {
      const back = asApp(h.store, a, (tx) => tx.query('UPDATE audit_checkpoints SET seq = seq - 1'));
      expect(await sqlStateOf(back)).toBe(CHECK_VIOLATION);
      const same = asApp(h.store, a, (tx) => tx.query('UPDATE audit_checkpoints SET hash = $1', [Buffer.alloc(32, 1)]));
      expect(await sqlStateOf(same)).toBe(CHECK_VIOLATION);
      const t = await newTenant(h.store);
      const planted = asApp(h.store, t, (tx) =>
        tx.query('INSERT INTO audit_checkpoints (tenant_id, seq, hash) VALUES ($1, 5, $2)', [t, Buffer.alloc(32, 7)]),
      );
      expect(await sqlStateOf(planted)).toBe(CHECK_VIOLATION);
    });

    it("tenant A cannot read B's chain", async () => {
      const seen = await h.store.withTenant(a, async (tx) => ({
        entries: (await tx.query<{ tenant_id: string }>('SELECT DISTINCT tenant_id FROM audit_entries')).rows,
        b: (await tx.query('SELECT 1 FROM audit_entries WHERE tenant_id = $1', [b])).rowCount,
        heads: (await tx.query<{ tenant_id: string }>('SELECT tenant_id FROM audit_checkpoints')).rows,
      }));
      expect(seen).toEqual({ entries: [{ tenant_id: a }], b: 0, heads: [{ tenant_id: a }] });
      const page = await h.store.withTenant(a, (tx) => queryAudit(tx, { limit: 1000 }, READER));
      expect(page.ok && page.entries.every((e) => e.tenantId === a)).toBe(true);
    });

    it("tenant A cannot append into B's chain or move B's head", async () => {
      const insert = (tx: { query: AdminTx['query'] }) =>
        tx.query(
          `INSERT INTO audit_entries (tenant_id, seq, id, at, actor_kind, action, outcome, prev_hash, hash, version)
           VALUES ($1, 99, gen_random_uuid(), now(), 'system', 'test.x', 'success', $2, $2, 1)`,
          [b, Buffer.alloc(32)],
        );
      expect(await sqlStateOf(h.store.withTenant(a, insert))).toBe(INSUFFICIENT_PRIVILEGE);
      const c = await newTenant(h.store);
      const head = h.store.withTenant(a, (tx) =>
        tx.query('INSERT INTO audit_checkpoints (tenant_id, seq, hash) VALUES ($1, 0, $2)', [c, Buffer.alloc(32)]),
      );
      expect(await sqlStateOf(head)).toBe(INSUFFICIENT_PRIVILEGE);
      const moved = await h.store.withTenant(a, (tx) => tx.query('UPDATE audit_checkpoints SET seq = seq + 1 WHERE tenant_id = $1', [b]));
      expect(moved.rowCount).toBe(0);
      expect(await verifyAuditChain(h.store, b)).toMatchObject({ ok: true, entries: 3 });
    });

    it('appendAudit writes to the transaction tenant only, whatever the event says', async () => {
      const e = await h.store.withTenant(a, (tx) => appendAudit(tx, event(5, { target: { kind: 'tenant', id: b } })));
      expect(e.tenantId).toBe(a);
      expect(await verifyAuditChain(h.store, b)).toMatchObject({ ok: true, entries: 3 });
    });

    it('with no tenant set, gatehouse_app sees no audit rows', async () => {
      const counts = await h.store.admin(async (tx) => {
        await tx.query('SET LOCAL ROLE gatehouse_app');
        const out: Record<string, number | undefined> = {};
        for (const t of TABLES) out[t] = (await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)).rows[0]?.n;
        return out;
      });
      expect(counts).toEqual({ audit_entries: 0, audit_checkpoints: 0 });
    });

    it('gatehouse_platform has no access to audit content or heads', async () => {
      const grants = await h.store.admin(
        async (tx) =>
          (
            await tx.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM information_schema.column_privileges
               WHERE grantee = 'gatehouse_platform' AND table_name = ANY($1::text[])`,
              [TABLES],
            )
          ).rows[0]?.n,
      );
      expect(grants).toBe(0);
      for (const sql of ['SELECT count(*) FROM audit_entries', 'SELECT tenant_id FROM audit_checkpoints', 'SELECT after FROM audit_entries']) {
        expect({ sql, state: await sqlStateOf(h.store.platform((tx) => tx.query(sql))) }).toEqual({ sql, state: INSUFFICIENT_PRIVILEGE });
      }
    });
  });
}
