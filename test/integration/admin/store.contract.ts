/**
 * The admin API's store parts, run on PGlite and on PostgreSQL: row-level security of the new
 * tables below the application, the version trigger behind ETags, idempotency records under
 * concurrency, admin-key scoping, and the services used by both the API and `gatehouse apply`.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../../../src/admin/context.js';
import { etagOf } from '../../../src/admin/http/etag.js';
import { createTeam, updateTeam } from '../../../src/admin/services/teams.js';
import { createTenant } from '../../../src/admin/services/tenants.js';
import { createCredential } from '../../../src/admin/services/secrets.js';
import { tenantSealer } from '../../../src/crypto/envelope.js';
import { processKeyring } from '../../../src/crypto/process-keyring.js';
import { hashApiKey } from '../../../src/crypto/keys.js';
import { PLATFORM_SCOPE_ID } from '../../../src/identity/roles.js';
import {
  adminKeysRepo,
  idempotencyRepo,
  providerCredentialsRepo,
  sqlState,
  teamsManageRepo,
  tenantsManageRepo,
  usersRepo,
  type Store,
} from '../../../src/store/index.js';
import { GatewayError } from '../../../src/errors.js';

export interface AdminStoreFactory {
  label: string;
  open(): Promise<{ store: Store; close(): Promise<void> }>;
  /** Whether transactions really run side by side (PostgreSQL) or one at a time (PGlite). */
  concurrent: boolean;
}

const PEPPER = Buffer.alloc(32, 7);
const actor: Actor = {
  principal: { scope: 'platform', role: 'platform_admin', id: 'test', label: 'test', kind: 'cli', keyId: null },
  requestId: null,
  sourceIp: null,
};
const ADMIN_TABLES = ['users', 'memberships', 'service_accounts', 'policies', 'admin_keys', 'idempotency_keys'];

async function stateOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return sqlState(err) ?? (err instanceof Error ? err.name : 'error');
  }
}

export function adminStoreContract(factory: AdminStoreFactory): void {
  describe(`admin store [${factory.label}]`, () => {
    let store: Store;
    let close: () => Promise<void>;
    let a: string;
    let b: string;

    beforeAll(async () => {
      ({ store, close } = await factory.open());
      a = randomUUID();
      b = randomUUID();
      for (const [id, slug] of [[a, `a-${a.slice(0, 8)}`], [b, `b-${b.slice(0, 8)}`]] as const) {
        await store.withTenant(id, async (tx) => {
          await createTenant(tx, actor, { slug, name: slug, template: 'free' });
          await createTeam(tx, actor, { slug: 'core' });
          const u = await usersRepo.insert(tx, { email: `x@${slug}.example.com`, name: 'X' });
          if (!u.ok) throw new Error('seed user');
          await tx.query('INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)', [id, u.user.id, 'tenant_admin']);
          await tx.query('INSERT INTO service_accounts (tenant_id, name) VALUES ($1, $2)', [id, 'ci']);
          await tx.query('INSERT INTO policies (tenant_id, name, document) VALUES ($1, $2, $3::jsonb)', [id, 'p', '{"rules":[]}']);
          await adminKeysRepo.insert(tx, {
            name: 'k', role: 'tenant_admin', prefix: 'gha_x', hash: hashApiKey(`key-of-${id}`, PEPPER), userId: null, serviceAccountId: null, createdBy: 'test', expiresAt: null,
          });
          await idempotencyRepo.claim(tx, { principal: 'p', key: 'k', requestHash: Buffer.alloc(32), ttlSeconds: 60 });
        });
      }
    });
    afterAll(async () => close?.());

    it("the new tables show a tenant only its own rows, and nothing without a tenant", async () => {
      for (const table of ADMIN_TABLES) {
        const own = await store.withTenant(a, async (tx) => (await tx.query<{ t: string }>(`SELECT DISTINCT tenant_id::text AS t FROM ${table}`)).rows);
        expect({ table, own }).toEqual({ table, own: [{ t: a }] });
      }
      await store.admin(async (tx) => {
        await tx.query('SET LOCAL ROLE gatehouse_app');
        for (const table of ADMIN_TABLES) {
          const n = (await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n;
          expect({ table, n }).toEqual({ table, n: 0 });
        }
      });
    });

    it("writing a row into another tenant fails (WITH CHECK), and the platform role reads none of the new tables", async () => {
      const state = await stateOf(store.withTenant(a, (tx) => tx.query('INSERT INTO service_accounts (tenant_id, name) VALUES ($1, $2)', [b, 'evil'])));
      expect(state).toBe('42501');
      for (const table of ADMIN_TABLES) {
        expect({ table, state: await stateOf(store.platform((tx) => tx.query(`SELECT tenant_id FROM ${table}`))) }).toEqual({ table, state: '42501' });
      }
      const deleting = await store.platform((tx) => tx.query('SELECT deletion_requested_at FROM tenants'));
      expect(deleting.rowCount).toBeGreaterThanOrEqual(2);
    });

    it('keeps platform roles in the platform scope and tenant roles out of it (CHECK)', async () => {
      const key = (role: 'platform_admin' | 'tenant_admin') => ({
        name: 'x', role, prefix: 'gha_y', hash: hashApiKey(randomUUID(), PEPPER), userId: null, serviceAccountId: null, createdBy: 't', expiresAt: null,
      });
      expect(await stateOf(store.withTenant(a, (tx) => adminKeysRepo.insert(tx, key('platform_admin'))))).toBe('23514');
      expect(await stateOf(store.withTenant(PLATFORM_SCOPE_ID, (tx) => adminKeysRepo.insert(tx, key('tenant_admin'))))).toBe('23514');
      expect(await stateOf(store.withTenant(PLATFORM_SCOPE_ID, (tx) => adminKeysRepo.insert(tx, key('platform_admin'))))).toBeUndefined();
    });

    it("finds an admin key only in the scope it names", async () => {
      const hash = hashApiKey(`key-of-${a}`, PEPPER);
      expect(await store.withTenant(a, (tx) => adminKeysRepo.findCredential(tx, hash))).toMatchObject({ role: 'tenant_admin', revoked: false, ownerActive: true, tenantDeleting: false });
      expect(await store.withTenant(b, (tx) => adminKeysRepo.findCredential(tx, hash))).toBeNull();
      expect(await store.withTenant(PLATFORM_SCOPE_ID, (tx) => adminKeysRepo.findCredential(tx, hash))).toBeNull();
    });

    it('bumps a version on every real change, whoever writes, and not on a no-op or a last-use write', async () => {
      const team = await store.withTenant(a, (tx) => teamsManageRepo.getBySlug(tx, 'core'));
      const v0 = team?.version ?? 0;
      await store.withTenant(a, (tx) => tx.query("UPDATE teams SET name = 'Renamed' WHERE slug = 'core'"));
      await store.withTenant(a, (tx) => tx.query("UPDATE teams SET name = 'Renamed' WHERE slug = 'core'"));
      const after = await store.withTenant(a, (tx) => teamsManageRepo.getBySlug(tx, 'core'));
      expect(after?.version).toBe(v0 + 1);
      const k = await store.withTenant(a, async (tx) => (await tx.query<{ id: string; version: string }>('SELECT id, version FROM admin_keys')).rows[0]);
      await store.withTenant(a, (tx) => adminKeysRepo.touch(tx, k?.id ?? ''));
      const k2 = await store.withTenant(a, (tx) => adminKeysRepo.get(tx, k?.id ?? ''));
      expect(k2?.version).toBe(Number(k?.version));
      expect(k2?.lastUsedAt).not.toBeNull();
    });

    it('services check If-Match against the stored version and stay inside their tenant', async () => {
      const team = await store.withTenant(a, (tx) => teamsManageRepo.getBySlug(tx, 'core'));
      const id = team?.id ?? '';
      const stale = { any: false as const, tags: ['"v999"'] };
      const err = await store.withTenant(a, (tx) => updateTeam(tx, actor, id, { name: 'x' }, stale)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).code).toBe('precondition_failed');
      const current = { any: false as const, tags: [etagOf(team?.version ?? 0)] };
      const other = await store.withTenant(b, (tx) => updateTeam(tx, actor, id, { name: 'x' }, current)).catch((e: unknown) => e);
      expect((other as GatewayError).code).toBe('not_found');
      const ok = await store.withTenant(a, (tx) => updateTeam(tx, actor, id, { name: 'Core 2' }, current));
      expect(ok.version).toBe((team?.version ?? 0) + 1);
    });

    it('an idempotency key claimed in a running transaction blocks its duplicate, which then sees the result', async () => {
      const key = `k-${randomUUID()}`;
      const hash = Buffer.alloc(32, 1);
      let release: () => void = () => {};
      const hold = new Promise<void>((r) => (release = r));
      let claimed!: () => void;
      const isClaimed = new Promise<void>((r) => (claimed = r));
      const first = store.withTenant(a, async (tx) => {
        expect(await idempotencyRepo.claim(tx, { principal: 'p', key, requestHash: hash, ttlSeconds: 60 })).toEqual({ claimed: true });
        claimed();
        await hold;
        await idempotencyRepo.complete(tx, { principal: 'p', key, status: 201, response: { id: 'first' }, headers: { etag: '"v1"' } });
      });
      await isClaimed;
      const second = store.withTenant(a, (tx) => idempotencyRepo.claim(tx, { principal: 'p', key, requestHash: hash, ttlSeconds: 60 }));
      await new Promise((r) => setTimeout(r, 100));
      release();
      await first;
      expect(await second).toEqual({ claimed: false, existing: { requestHash: hash, status: 201, response: { id: 'first' }, headers: { etag: '"v1"' } } });
      // Another tenant's identical key is a different record.
      expect(await store.withTenant(b, (tx) => idempotencyRepo.claim(tx, { principal: 'p', key, requestHash: hash, ttlSeconds: 60 }))).toEqual({ claimed: true });
    });

    it('pages by keyset: every row once, in order, across pages', async () => {
      await store.withTenant(b, async (tx) => {
        for (let i = 0; i < 7; i++) await usersRepo.insert(tx, { email: `u${i}@page.example.com`, name: '' });
      });
      const seen: string[] = [];
      let after: string | null = null;
      do {
        const page: Awaited<ReturnType<typeof usersRepo.list>> = await store.withTenant(b, (tx) => usersRepo.list(tx, { after, limit: 3 }));
        seen.push(...page.items.map((u) => u.email));
        after = page.next;
      } while (after !== null);
      expect(seen).toEqual([...seen].sort());
      expect(seen.filter((e) => e.endsWith('@page.example.com'))).toHaveLength(7);
      const summary = await store.platform((tx) => tenantsManageRepo.list(tx, { after: null, limit: 500 }));
      expect(summary.items.map((t) => t.id)).toEqual(expect.arrayContaining([a, b]));
    });

    it("stores a provider credential's secret only encrypted, readable by its tenant alone", async () => {
      const sealer = tenantSealer(processKeyring(Buffer.alloc(32, 9), []));
      const canary = `sk-CANARY-${randomUUID()}`;
      const meta = await store.withTenant(a, (tx) => createCredential(tx, actor, sealer, { name: `c-${randomUUID()}`, provider: 'openai', secret: canary }));
      const raw = await store.admin(async (tx) => (await tx.query<{ c: Buffer }>('SELECT secret_ciphertext AS c FROM provider_credentials WHERE id = $1', [meta.id])).rows[0]?.c);
      expect(raw).toBeDefined();
      expect(Buffer.from(raw ?? Buffer.alloc(0)).includes(Buffer.from('CANARY'))).toBe(false);
      expect(await store.withTenant(a, (tx) => providerCredentialsRepo.readSecret(tx, sealer, meta.id))).toBe(canary);
      expect(await store.withTenant(b, (tx) => providerCredentialsRepo.readSecret(tx, sealer, meta.id))).toBeNull();
    });

    it.skipIf(!factory.concurrent)('two connections racing to create one team slug: one wins, the other learns it is taken', async () => {
      const results = await Promise.allSettled([1, 2, 3].map(() => store.withTenant(a, (tx) => createTeam(tx, actor, { slug: 'contended' }))));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect((r.reason as GatewayError).code).toBe('conflict');
    });
  });
}
