/**
 * The encryption tables below the application: isolation audit, what the platform role cannot
 * read, and what the tenant role cannot write. Raw SQL as the database roles.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantSealer } from '../../../src/crypto/envelope.js';
import { ENCRYPTED_TABLES } from '../../../src/crypto/reencrypt.js';
import { providerCredentialsRepo, webhooksRepo } from '../../../src/store/index.js';
import { auditTenantIsolation } from '../store/isolation-audit.js';
import { ident } from '../store/factory.js';
import { keyringFor, newMaster, newTenant, sqlStateOf } from './fixtures.js';
import type { StoreFactory, StoreHandle } from './fixtures.js';

const INSUFFICIENT_PRIVILEGE = '42501';
const TABLES = ['provider_credentials', 'tenant_data_keys', 'tenant_keyrings', 'webhooks'];

export function grantsContract(factory: StoreFactory): void {
  describe(`encryption tables: isolation and grants [${factory.label}]`, () => {
    let h: StoreHandle;
    let a: string;
    let b: string;
    beforeAll(async () => {
      h = await factory.open();
      const keys = keyringFor(newMaster());
      a = await newTenant(h.store, 'grant-a');
      b = await newTenant(h.store, 'grant-b');
      for (const t of [a, b]) {
        await h.store.withTenant(t, async (tx) => {
          await providerCredentialsRepo.create(tx, tenantSealer(keys), { name: 'x', provider: 'openai', baseUrl: 'https://api.example.com/v1', secret: 's' });
          await webhooksRepo.create(tx, tenantSealer(keys), { url: 'https://hooks.example.com/T0KEN', events: ['a'], secret: 's' });
        });
      }
    });
    afterAll(async () => h?.close());

    it('the catalogue audit passes and covers the new tables', async () => {
      expect(await h.store.admin((tx) => auditTenantIsolation(tx))).toEqual([]);
      const rls = await h.store.admin(
        async (tx) =>
          (
            await tx.query<{ relname: string; relrowsecurity: boolean; relforcerowsecurity: boolean }>(
              `SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
               WHERE relname = ANY($1::text[]) AND relkind = 'r' ORDER BY relname`,
              [TABLES],
            )
          ).rows,
      );
      expect(rls).toEqual(TABLES.map((relname) => ({ relname, relrowsecurity: true, relforcerowsecurity: true })));
    });

    it("with tenant A set, B's keys, keyring, credentials and webhooks are invisible and cannot be written", async () => {
      await h.store.withTenant(a, async (tx) => {
        for (const t of TABLES) {
          const { rows } = await tx.query<{ owners: string[] }>(`SELECT coalesce(array_agg(DISTINCT tenant_id::text), '{}') AS owners FROM ${ident(t)}`);
          expect({ t, owners: rows[0]?.owners }).toEqual({ t, owners: [a] });
        }
      });
      const attempts: Array<[string, string, unknown[]]> = [
        ['tenant_data_keys', "INSERT INTO tenant_data_keys (tenant_id, version, wrapped_key, kek_id, state) VALUES ($1, 99, $2, 'k', 'retired')", [b, randomBytes(64)]],
        ['tenant_keyrings', 'INSERT INTO tenant_keyrings (tenant_id) VALUES ($1)', [b]],
        ['provider_credentials', "INSERT INTO provider_credentials (tenant_id, id, name, provider, secret_ciphertext, key_version) VALUES ($1, $2, 'n', 'openai', $3, 1)", [b, randomUUID(), randomBytes(40)]],
        ['webhooks', "INSERT INTO webhooks (tenant_id, id, url, secret_ciphertext, key_version) VALUES ($1, $2, 'https://x.example', $3, 1)", [b, randomUUID(), randomBytes(40)]],
      ];
      for (const [table, sql, params] of attempts) {
        const state = await sqlStateOf(h.store.withTenant(a, (tx) => tx.query(sql, params)));
        expect({ table, state }).toEqual({ table, state: INSUFFICIENT_PRIVILEGE });
      }
      const changed = await h.store.withTenant(a, async (tx) => {
        let n = 0;
        n += (await tx.query("UPDATE tenant_data_keys SET state = 'retired' WHERE tenant_id = $1", [b])).rowCount;
        n += (await tx.query('UPDATE provider_credentials SET secret_ciphertext = $2 WHERE tenant_id = $1', [b, randomBytes(40)])).rowCount;
        n += (await tx.query('DELETE FROM webhooks WHERE tenant_id = $1', [b])).rowCount;
        return n;
      });
      expect(changed).toBe(0);
    });

    it('gatehouse_platform cannot read ciphertext, wrapped keys or webhook URLs', async () => {
      for (const sql of [
        'SELECT wrapped_key FROM tenant_data_keys',
        'SELECT version, kek_id FROM tenant_data_keys',
        'SELECT count(*) FROM tenant_data_keys',
        'SELECT secret_ciphertext FROM provider_credentials',
        'SELECT * FROM provider_credentials',
        'SELECT secret_ciphertext FROM webhooks',
        'SELECT url FROM webhooks',
        'SELECT * FROM webhooks',
      ]) {
        const state = await sqlStateOf(h.store.platform((tx) => tx.query(sql)));
        expect({ sql, state }).toEqual({ sql, state: INSUFFICIENT_PRIVILEGE });
      }
      const privileges = await h.store.admin(
        async (tx) =>
          (
            await tx.query<{ table_name: string; column_name: string }>(
              `SELECT table_name, column_name FROM information_schema.column_privileges
               WHERE grantee = 'gatehouse_platform' AND table_schema = current_schema() AND table_name = ANY($1::text[])`,
              [TABLES],
            )
          ).rows,
      );
      const cols = privileges.map((p) => `${p.table_name}.${p.column_name}`);
      expect(cols.filter((c) => c.startsWith('tenant_data_keys.') || c.endsWith('_ciphertext') || c === 'webhooks.url')).toEqual([]);
      // Metadata it may read, of every tenant.
      const creds = await h.store.platform((tx) => providerCredentialsRepo.listAll(tx));
      expect(creds.map((c) => c.tenantId)).toEqual(expect.arrayContaining([a, b]));
      const hooks = await h.store.platform((tx) => webhooksRepo.listAll(tx));
      expect(hooks.map((w) => w.tenantId)).toEqual(expect.arrayContaining([a, b]));
      expect(JSON.stringify(hooks)).not.toContain('T0KEN');
    });

    it('every encrypted column in the catalogue takes part in re-encryption and is hidden from the platform', async () => {
      // By naming convention (*_ciphertext), so a future encrypted column is found without
      // anyone adding it to this test.
      const columns = await h.store.admin(
        async (tx) =>
          (
            await tx.query<{ table_name: string; column_name: string; platform: boolean }>(
              `SELECT table_name, column_name,
                      has_column_privilege('gatehouse_platform', format('%I', table_name), column_name, 'SELECT') AS platform
               FROM information_schema.columns
               WHERE table_schema = current_schema() AND (column_name LIKE '%\\_ciphertext' OR column_name = 'wrapped_key')
               ORDER BY table_name, column_name`,
            )
          ).rows,
      );
      expect(columns.length).toBeGreaterThanOrEqual(3);
      expect(columns.filter((c) => c.platform)).toEqual([]);
      const encrypted = new Set(columns.filter((c) => c.column_name !== 'wrapped_key').map((c) => c.table_name));
      expect([...encrypted].sort()).toEqual(ENCRYPTED_TABLES.map((t) => t.table).sort());
    });

    it('the tenant role cannot rewrite or erase key material, nor mark itself shredded', async () => {
      for (const sql of [
        'UPDATE tenant_data_keys SET wrapped_key = $1',
        "UPDATE tenant_data_keys SET kek_id = 'x' WHERE $1::bytea IS NOT NULL",
        'DELETE FROM tenant_data_keys WHERE $1::bytea IS NOT NULL',
        'UPDATE tenant_keyrings SET shredded_at = now() WHERE $1::bytea IS NOT NULL',
        'DELETE FROM tenant_keyrings WHERE $1::bytea IS NOT NULL',
      ]) {
        const state = await sqlStateOf(h.store.withTenant(a, (tx) => tx.query(sql, [randomBytes(64)])));
        expect({ sql, state }).toEqual({ sql, state: INSUFFICIENT_PRIVILEGE });
      }
    });
  });
}
