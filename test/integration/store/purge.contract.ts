/**
 * Purging a deleted tenant after its keys are shredded (issue 4): every table with a tenant_id,
 * as the catalogue lists them, holds none of its rows afterwards, except the tables kept on
 * purpose; other tenants keep every row; the purge is recorded in the platform scope's chain.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../../src/audit/index.js';
import { scheduleTenantShred, shredDueTenants } from '../../../src/crypto/shredding.js';
import { PLATFORM_SCOPE_ID } from '../../../src/identity/roles.js';
import { auditRepo, billingRepo, domainsRepo, tenantsManageRepo, upsertTenantBySlug } from '../../../src/store/index.js';
import type { Store } from '../../../src/store/index.js';
import { KEPT_ON_PURGE, purgeDueTenants } from '../../../src/tenancy/purge.js';
import { ident, seedTenant, tenantTables, uniq, type StoreFactory, type StoreHandle } from './factory.js';

const HOUR = 3600_000;

/** Rows of `tenantId` in every tenant table, counted as the owner (row-level security set to it). */
async function rowCounts(store: Store, tenantId: string): Promise<Record<string, number>> {
  const tables = await tenantTables(store);
  return store.admin(async (tx) => {
    await tx.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    const out: Record<string, number> = {};
    for (const t of tables) {
      out[t] = (await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ident(t)} WHERE tenant_id = $1`, [tenantId])).rows[0]?.n ?? -1;
    }
    return out;
  });
}

/** Deletes the tenant as the admin API does, and shreds its keys as the hourly job does. */
async function deleteAndShred(store: Store, tenantId: string): Promise<void> {
  await store.withTenant(tenantId, async (tx) => {
    await tenantsManageRepo.markForDeletion(tx);
    await scheduleTenantShred(tx, { graceMs: 0 });
  });
  const shred = await shredDueTenants(store, { now: new Date(Date.now() + HOUR) });
  expect(shred.shredded.map((s) => s.tenantId)).toContain(tenantId);
}

export function purgeContract(factory: StoreFactory): void {
  describe(`tenant purge after shredding [${factory.label}]`, () => {
    let h: StoreHandle;
    beforeAll(async () => {
      h = await factory.open(); // a database of its own: one test adds a table
    });
    afterAll(async () => h?.close());

    it('leaves no row of the tenant in any tenant table but the kept ones; a bystander keeps every row', async () => {
      const doomed = await seedTenant(h.store, 'doomed');
      const bystander = await seedTenant(h.store, 'bystander');
      const tables = await tenantTables(h.store);
      const before = await rowCounts(h.store, doomed.id);
      // The fixture fills every tenant table, so "zero after" below is a change, not a given.
      expect(Object.entries(before).filter(([, n]) => n === 0).map(([t]) => t)).toEqual([]);
      const bystanderBefore = await rowCounts(h.store, bystander.id);

      // Not deleted yet: nothing is due, whatever its keys.
      expect(await purgeDueTenants(h.store, { purgeUnbilled: true })).toEqual({ purged: [], deferred: [] });
      await deleteAndShred(h.store, doomed.id);

      // The seed has usage after its last invoice: its final invoice is not issued, so it waits.
      const waiting = await purgeDueTenants(h.store);
      expect(waiting).toEqual({ purged: [], deferred: [{ tenantId: doomed.id, reason: 'unbilled_usage' }] });
      expect(await rowCounts(h.store, doomed.id)).toEqual({ ...before, tenant_keyrings: 1, tenant_data_keys: before.tenant_data_keys });

      const done = await purgeDueTenants(h.store, { purgeUnbilled: true });
      expect(done.purged.map((p) => p.tenantId)).toEqual([doomed.id]);
      const after = await rowCounts(h.store, doomed.id);
      const left = Object.entries(after).filter(([, n]) => n > 0).map(([t]) => t).sort();
      expect(left).toEqual([...KEPT_ON_PURGE.keys()].filter((t) => tables.includes(t)).sort());
      for (const t of tables) if (!KEPT_ON_PURGE.has(t)) expect({ t, n: after[t] }).toEqual({ t, n: 0 });
      // What the purge reports is what it deleted: at least what was there (scrubbing the tenant
      // row first adds a plan-history row, which the deletions then take too).
      const purged = done.purged[0];
      for (const [t, n] of Object.entries(purged?.deleted ?? {})) expect({ t, enough: n >= (before[t] ?? 0) }).toEqual({ t, enough: true });
      expect(await rowCounts(h.store, bystander.id)).toEqual(bystanderBefore);
      // Nothing is left to bill: closing periods fleet-wide skips it, not the bystander.
      const billable = await h.store.platform((tx) => billingRepo.tenantIds(tx));
      expect(billable).toContain(bystander.id);
      expect(billable).not.toContain(doomed.id);

      // The kept tenant row is scrubbed to what invoices and the trail need.
      const row = await h.store.admin(async (tx) => {
        await tx.query("SELECT set_config('app.tenant_id', $1, true)", [doomed.id]);
        return (await tx.query<Record<string, unknown>>(
          'SELECT t.slug, t.name, t.settings, t.plan_id, t.status, t.deletion_requested_at, k.purged_at FROM tenants t JOIN tenant_keyrings k ON k.tenant_id = t.id WHERE t.id = $1',
          [doomed.id],
        )).rows[0];
      });
      expect(row).toMatchObject({ slug: doomed.slug, name: 'Tenant doomed', settings: {}, plan_id: null, status: 'suspended' });
      expect(row?.deletion_requested_at).toBeInstanceOf(Date);
      expect(row?.purged_at).toBeInstanceOf(Date);
      // Its trail still verifies, and the purge is an entry in the platform chain.
      expect(await verifyAuditChain(h.store, doomed.id)).toMatchObject({ ok: true, entries: 1 });
      expect(await verifyAuditChain(h.store, PLATFORM_SCOPE_ID)).toMatchObject({ ok: true });
      const entries = await h.store.withTenant(PLATFORM_SCOPE_ID, (tx) =>
        auditRepo.search(tx, { from: null, to: null, action: 'tenant.purge', actionPrefix: null, actorKind: null, actorId: null, afterSeq: null, maxSeq: null, order: 'asc', limit: 10 }),
      );
      const entry = entries.find((e) => e.targetId === doomed.id);
      expect(entry).toMatchObject({ action: 'tenant.purge', outcome: 'success', actorKind: 'system', targetKind: 'tenant' });
      expect(entry?.after).toMatchObject({ deleted: { api_keys: 1, usage_events: 1 }, purge_unbilled: true });
      // Its custom domain is free for others now; nothing is due any more.
      const other = await upsertTenantBySlug(h.store, { slug: `heir-${uniq()}`, name: 'Heir' });
      expect(await h.store.withTenant(other.tenant.id, (tx) => domainsRepo.add(tx, doomed.domain))).toMatchObject({ ok: true });
      expect(await purgeDueTenants(h.store, { purgeUnbilled: true })).toEqual({ purged: [], deferred: [] });
    });

    it('a tenant whose usage is all invoiced is purged without being told to', async () => {
      const t = await seedTenant(h.store, 'billed');
      await h.store.admin(async (tx) => {
        await tx.query("SELECT set_config('app.tenant_id', $1, true)", [t.id]);
        await tx.query("UPDATE invoices SET period_end = now() + interval '1 day' WHERE tenant_id = $1", [t.id]); // covers the seeded usage
      });
      await deleteAndShred(h.store, t.id);
      const r = await purgeDueTenants(h.store);
      expect(r.purged.map((p) => p.tenantId)).toEqual([t.id]);
      expect((await rowCounts(h.store, t.id)).usage_rollups).toBe(0);
    });

    it('a tenant table added later is purged without being named anywhere', async () => {
      await h.store.admin((tx) =>
        tx.exec(`
          CREATE TABLE purge_probe (tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE, note text, PRIMARY KEY (tenant_id, note));
          ALTER TABLE purge_probe ENABLE ROW LEVEL SECURITY;
          ALTER TABLE purge_probe FORCE ROW LEVEL SECURITY;
          CREATE POLICY tenant_isolation ON purge_probe USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
          GRANT SELECT, INSERT, DELETE ON purge_probe TO gatehouse_app;
        `),
      );
      const t = await seedTenant(h.store, 'probe');
      const keep = await seedTenant(h.store, 'probe-keep');
      for (const id of [t.id, keep.id]) await h.store.withTenant(id, (tx) => tx.query("INSERT INTO purge_probe (tenant_id, note) VALUES ($1, 'x')", [id]));
      await deleteAndShred(h.store, t.id);
      const r = await purgeDueTenants(h.store, { purgeUnbilled: true });
      expect(r.purged.find((p) => p.tenantId === t.id)?.deleted).toMatchObject({ purge_probe: 1 });
      expect((await rowCounts(h.store, t.id)).purge_probe).toBe(0);
      expect((await rowCounts(h.store, keep.id)).purge_probe).toBe(1);
    });
  });
}
