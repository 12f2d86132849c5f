/**
 * Billing after migration 0017 on both stores: plan history written by the tenants trigger,
 * prorated invoices reproducible from the rollups and the segments stored with them, usage
 * lines per price version, the price book followed by deployments (an API price survives a
 * restart, a configuration change wins again), the platform_billing key role, and closing
 * periods on two replicas at once (PostgreSQL): one invoice and one audit entry per tenant.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCloseJob } from '../../../src/billing/close-job.js';
import { planPricingSchema } from '../../../src/billing/plan-pricing.js';
import { startPriceFollower } from '../../../src/billing/price-follower.js';
import { computeInvoiceFor, issueInvoice, recomputeInvoice, syncPriceBook } from '../../../src/billing/service.js';
import type { InvoiceLine } from '../../../src/billing/types.js';
import { PLATFORM_SCOPE_ID } from '../../../src/identity/roles.js';
import type { Deployment } from '../../../src/providers/types.js';
import { billingRepo, openStore, plansRepo, tenantsRepo, type Store } from '../../../src/store/index.js';
import { usageRepo, type UsageEventRecord } from '../../../src/store/repos/usage.js';
import { openPgliteTestStore, openPostgresTestStore } from '../../../src/store/testing.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';

const pgAvailable = await postgresAvailable();
if (!pgAvailable) console.warn('[billing versions] PostgreSQL not reachable: the PostgreSQL half and the two-replica test are skipped');

const factories = [
  { label: 'pglite', skip: false, open: async () => { const store = await openPgliteTestStore(); return { store, close: () => store.close(), url: null }; } },
  {
    label: 'postgres',
    skip: !pgAvailable,
    open: async () => {
      const { store, db, drop } = await openPostgresTestStore(POSTGRES_URL);
      return { store, close: drop, url: db.url };
    },
  },
];

function event(tenantId: string, at: string, o: Partial<UsageEventRecord> = {}): UsageEventRecord {
  return {
    tenantId, eventId: randomUUID(), requestId: randomUUID(), occurredAt: Date.parse(at), teamId: null, keyId: null, endUser: null, tags: [],
    model: 'gpt-v', deploymentId: 'dep-v', provider: 'openai', region: 'eu', inputTokens: 100, outputTokens: 50, cachedTokens: 0,
    costMicros: 1_000_000, priceVersion: null, latencyMs: 10, ttftMs: null, status: 200, streamed: false, clientAborted: false,
    usageEstimated: false, cacheHit: false, ...o,
  };
}

async function createPlan(store: Store, name: string, pricing: unknown): Promise<string> {
  return store.withTenant(PLATFORM_SCOPE_ID, async (tx) => {
    const r = await plansRepo.create(tx, { name, weight: 1, rules: [] });
    if (!r.ok) throw new Error('plan');
    await billingRepo.setPlanPricing(tx, r.plan.id, planPricingSchema.parse(pricing));
    return r.plan.id;
  });
}

async function auditCount(store: Store, tenantId: string, action: string): Promise<number> {
  return store.withTenant(tenantId, async (tx) => Number((await tx.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_entries WHERE action = $1', [action])).rows[0]?.n));
}

for (const f of factories) {
  describe.skipIf(f.skip)(`billing versions and proration [${f.label}]`, () => {
    let store: Store;
    let close: () => Promise<void>;
    let url: string | null;
    const t = randomUUID();
    const other = randomUUID();
    const tag = randomBytes(3).toString('hex');
    let small: string;
    let big: string;

    beforeAll(async () => {
      ({ store, close, url } = await f.open());
      small = await createPlan(store, `small-${tag}`, { baseFeeCents: 3_000 });
      big = await createPlan(store, `big-${tag}`, { baseFeeCents: 6_000, markupBps: 10_000, commitment: { kind: 'reserved', monthlyCents: 9_000, discountBps: 0 } });
      await store.withTenant(t, (tx) => tenantsRepo.insert(tx, { slug: `t-${tag}`, name: 'T', planId: small }));
      await store.withTenant(other, (tx) => tenantsRepo.insert(tx, { slug: `o-${tag}`, name: 'O' }));
      // Both existed since October (a month that ended before a tenant was created is never billed).
      await store.admin((tx) => tx.query("UPDATE tenants SET created_at = '2026-10-01T00:00:00Z' WHERE id = ANY($1::uuid[])", [[t, other]]));
      // November 2026 (UTC): small until the 11th at 00:00, big after. Written like the trigger
      // would have at those times (the trigger's own rows, from creation today, come later).
      await store.withTenant(t, async (tx) => {
        await tx.query('INSERT INTO tenant_plan_history (tenant_id, plan_id, effective_from) VALUES ($1, $2, $3), ($1, $4, $5)', [
          t, small, '2026-10-01T00:00:00Z', big, '2026-11-11T00:00:00Z',
        ]);
        await usageRepo.ingest(tx, [
          event(t, '2026-11-05T10:00:00Z', { costMicros: 20_000_000, priceVersion: 'v1' }),
          event(t, '2026-11-10T23:59:00Z', { costMicros: 5_000_000, priceVersion: 'v1' }),
          // After the change: priced under `big` (+100%).
          event(t, '2026-11-11T00:30:00Z', { costMicros: 10_000_000, priceVersion: 'v1' }),
          event(t, '2026-11-25T12:00:00Z', { costMicros: 30_000_000, priceVersion: 'v2' }),
          event(t, '2026-11-26T12:00:00Z', { status: 500, costMicros: 0, priceVersion: 'v2' }),
        ]);
      });
    }, 120_000);
    afterAll(async () => close?.());

    it('the tenants trigger records every plan change, in the changing transaction; history is insert-only and the tenant\'s own', async () => {
      const before = await store.withTenant(t, (tx) => billingRepo.planHistory(tx));
      await store.withTenant(t, (tx) => tenantsRepo.update(tx, { name: 'T renamed' })); // not a plan change
      await store.withTenant(t, (tx) => tenantsRepo.update(tx, { planId: big }));
      const after = await store.withTenant(t, (tx) => billingRepo.planHistory(tx));
      expect(after.length).toBe(before.length + 1);
      expect(after[after.length - 1]?.planId).toBe(big);
      // Creation was recorded too (the plan the tenant was created on).
      expect(after.filter((r) => r.effectiveFrom.getTime() > Date.parse('2026-12-01')).map((r) => r.planId)).toEqual([small, big]);
      await expect(store.withTenant(t, (tx) => tx.query("UPDATE tenant_plan_history SET effective_from = '2000-01-01'"))).rejects.toThrow(/permission denied/);
      await expect(store.withTenant(t, (tx) => tx.query('DELETE FROM tenant_plan_history'))).rejects.toThrow(/permission denied/);
      expect((await store.withTenant(other, (tx) => tx.query('SELECT 1 FROM tenant_plan_history WHERE tenant_id = $1', [t]))).rowCount).toBe(0);
      await expect(store.withTenant(other, (tx) => tx.query('INSERT INTO tenant_plan_history (tenant_id, plan_id) VALUES ($1, NULL)', [t]))).rejects.toThrow();
    });

    it('a month with a plan change is prorated by time, its usage priced per plan and per price version', async () => {
      const now = new Date('2026-12-05T00:00:00Z');
      const { invoice, created } = await store.withTenant(t, (tx) => issueInvoice(tx, '2026-11', now));
      expect(created).toBe(true);
      const lines = invoice.lines as InvoiceLine[];
      expect(lines.map((l) => [l.segment, l.kind, l.priceVersion, l.requests, l.amountCents])).toEqual([
        [0, 'base_fee', null, 0, 1_000], // 3,000 x 10/30
        [0, 'usage', 'v1', 2, 2_500], // Nov 5 and Nov 10 (the day before the change)
        [1, 'base_fee', null, 0, 4_000], // 6,000 x 20/30
        [1, 'usage', 'v1', 1, 2_000], // 1,000 cents at +100%
        [1, 'usage', 'v2', 1, 6_000], // the 500 is metered, never billed
        [1, 'commitment_fee', null, 0, 6_000], // 9,000 x 20/30
        [1, 'commitment_drawdown', null, 0, -6_000],
      ]);
      expect(invoice.totalCents).toBe(1_000 + 2_500 + 4_000 + 2_000 + 6_000 + 6_000 - 6_000);
      expect(invoice.planId).toBe(big);
      expect((invoice.segments as { planId: string; from: string }[]).map((s) => [s.planId, s.from])).toEqual([
        [small, '2026-11-01T00:00:00.000Z'],
        [big, '2026-11-11T00:00:00.000Z'],
      ]);
      expect(await auditCount(store, t, 'invoice.issued')).toBe(1);
    });

    it('an issued invoice is recomputed from the rollups and its stored segments, even after the plans were repriced', async () => {
      const inv = await store.withTenant(t, (tx) => billingRepo.invoiceByPeriod(tx, '2026-11'));
      if (inv === null) throw new Error('no invoice');
      const again = await store.withTenant(t, (tx) => recomputeInvoice(tx, inv));
      expect(again.lines).toEqual(inv.lines);
      expect(again.totalCents).toBe(inv.totalCents);
      await store.withTenant(PLATFORM_SCOPE_ID, (tx) => billingRepo.setPlanPricing(tx, big, planPricingSchema.parse({ baseFeeCents: 99_900 })));
      // Today's draft of that month follows the new pricing; the issued invoice does not move.
      const draft = await store.withTenant(t, (tx) => computeInvoiceFor(tx, '2026-11', new Date('2026-12-05T00:00:00Z')));
      expect(draft.draft.totalCents).not.toBe(inv.totalCents);
      const stillSame = await store.withTenant(t, (tx) => recomputeInvoice(tx, inv));
      expect(stillSame.lines).toEqual(inv.lines);
      const reissued = await store.withTenant(t, (tx) => issueInvoice(tx, '2026-11', new Date('2026-12-06T00:00:00Z')));
      expect(reissued).toMatchObject({ created: false, invoice: { id: inv.id, totalCents: inv.totalCents } });
      expect(await auditCount(store, t, 'invoice.issued')).toBe(1);
    });

    it('deployments follow the price book; an API price survives a restart, a configuration change wins again', async () => {
      const model = `m-${tag}`;
      const d = { id: `dep-${tag}`, model, prices: { inputPerMTok: 1_000, outputPerMTok: 2_000, cachedInputPerMTok: 0, perRequest: 0 } } as Deployment;
      const t0 = Date.parse('2031-01-01T00:00:00Z');
      let clock = t0;
      expect(await syncPriceBook(store, [d], new Date(clock))).toBe(1);
      clock += 1000;
      const follower = await startPriceFollower({ store, deployments: [d], refreshMs: 0, now: () => clock });
      try {
        const v1 = d.priceVersion;
        expect(v1).toMatch(/^[0-9a-f-]{36}$/);
        // An operator's model-wide price through the API (admin source), effective now.
        const api = await store.withTenant(PLATFORM_SCOPE_ID, (tx) =>
          billingRepo.insertPrice(tx, { model, deploymentId: null, effectiveFrom: new Date(clock + 1000), inputPerMTokMicros: 7_000, outputPerMTokMicros: 8_000, cachedPerMTokMicros: 0, perRequestMicros: 0, currency: 'USD', source: 'admin' }),
        );
        clock += 2000;
        await follower.refresh();
        expect(d.priceVersion).toBe(api?.id);
        expect(d.prices.inputPerMTok).toBe(7_000);
        // A restart with the same configuration adds nothing, so the API price stays in force.
        const configured = { ...d, prices: { inputPerMTok: 1_000, outputPerMTok: 2_000, cachedInputPerMTok: 0, perRequest: 0 } } as Deployment;
        expect(await syncPriceBook(store, [configured], new Date(clock))).toBe(0);
        expect((await store.platform((tx) => billingRepo.priceAt(tx, model, d.id, new Date(clock))))?.id).toBe(api?.id);
        // A changed configuration is a newer version and wins.
        clock += 1000;
        expect(await syncPriceBook(store, [{ ...configured, prices: { ...configured.prices, outputPerMTok: 3_000 } } as Deployment], new Date(clock))).toBe(1);
        clock += 1000;
        await follower.refresh();
        expect(d.prices.outputPerMTok).toBe(3_000);
        expect(d.priceVersion).not.toBe(v1);
        expect(d.priceVersion).not.toBe(api?.id);
        const sources = (await store.platform((tx) => billingRepo.listPrices(tx, model))).map((p) => p.source);
        // Model-wide first, then the deployment's own, newest first.
        expect(sources).toEqual(['admin', 'config', 'config']);
      } finally {
        follower.close();
      }
    });

    it('admin keys may be platform_billing in the platform scope only', async () => {
      const insert = (scope: string) =>
        store.withTenant(scope, (tx) =>
          tx.query(`INSERT INTO admin_keys (tenant_id, name, role, prefix, key_hash, created_by) VALUES ($1, 'finance', 'platform_billing', 'ghp_x', $2, 'test')`, [scope, randomBytes(32)]),
        );
      await expect(insert(PLATFORM_SCOPE_ID)).resolves.toMatchObject({ rowCount: 1 });
      await expect(insert(t)).rejects.toThrow(/admin_keys_platform_scope_check/);
    });

    it.skipIf(f.label !== 'postgres')('two replicas closing at once issue and audit each invoice once (PostgreSQL)', async () => {
      if (url === null) throw new Error('no database url');
      const tenants = await Promise.all(
        ['UTC', 'UTC', 'America/Los_Angeles'].map(async (timeZone, i) => {
          const id = randomUUID();
          await store.withTenant(id, (tx) => tenantsRepo.insert(tx, { slug: `r${i}-${tag}`, name: 'R', timeZone, planId: small }));
          await store.withTenant(id, (tx) => usageRepo.ingest(tx, [event(id, '2026-11-15T12:00:00Z')]));
          return id;
        }),
      );
      // Created on November 2nd: October is before them in every zone, November is theirs.
      await store.admin((tx) => tx.query("UPDATE tenants SET created_at = '2026-11-02T00:00:00Z' WHERE id = ANY($1::uuid[])", [tenants]));
      const second = await openStore({ databaseUrl: url });
      try {
        // 1 h 30 after November ended in UTC, with an hour of grace: the UTC tenants are due;
        // Los Angeles is 8 h behind.
        const now = Date.parse('2026-12-01T01:30:00Z');
        const jobs = [store, second].map((s) => createCloseJob({ store: s, intervalMs: 60_000, graceMs: 3_600_000, now: () => now }));
        const issued = await Promise.all(jobs.map((j) => j.runOnce()));
        expect(issued.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2);
        for (const [i, id] of tenants.entries()) {
          const invoices = await store.withTenant(id, (tx) => billingRepo.invoices(tx));
          expect({ i, periods: invoices.map((v) => v.period) }).toEqual({ i, periods: i < 2 ? ['2026-11'] : [] });
          expect(await auditCount(store, id, 'invoice.issued')).toBe(i < 2 ? 1 : 0);
        }
        // Within the grace period nothing is due yet for Los Angeles; past it, it is.
        const la = tenants[2] ?? '';
        await createCloseJob({ store: second, intervalMs: 60_000, graceMs: 3_600_000, now: () => Date.parse('2026-12-01T08:30:00Z') }).runOnce();
        expect((await store.withTenant(la, (tx) => billingRepo.invoices(tx))).length).toBe(0);
        await createCloseJob({ store: second, intervalMs: 60_000, graceMs: 3_600_000, now: () => Date.parse('2026-12-01T09:00:00Z') }).runOnce();
        expect((await store.withTenant(la, (tx) => billingRepo.invoices(tx))).map((v) => v.period)).toEqual(['2026-11']);
      } finally {
        await second.close();
      }
    });
  });
}
