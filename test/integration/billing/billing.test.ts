/**
 * Billing and usage analytics on both stores, from real rollups (metering's ingest): usage
 * series and breakdowns, the platform's aggregate grant (numbers, never team/key/tag or raw
 * events), invoices issued once and reproducible from the rollups, prepaid credit carried over,
 * chargeback, tenant isolation of invoices, the price book as an insert-only catalogue.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planPricingSchema } from '../../../src/billing/plan-pricing.js';
import { BillingError, chargebackFor, closePeriod, computeInvoiceFor, issueInvoice, planFeaturesOf, syncPriceBook } from '../../../src/billing/service.js';
import { PLATFORM_SCOPE_ID } from '../../../src/identity/roles.js';
import type { Deployment } from '../../../src/providers/types.js';
import { billingRepo, plansRepo, tenantsRepo, usageQueryRepo, type Store } from '../../../src/store/index.js';
import { usageRepo, type UsageEventRecord } from '../../../src/store/repos/usage.js';
import { openPgliteTestStore, openPostgresTestStore } from '../../../src/store/testing.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';
import { auditTenantIsolation } from '../store/isolation-audit.js';

const pgAvailable = await postgresAvailable();
if (!pgAvailable) console.warn('[billing.test] PostgreSQL not reachable: the PostgreSQL half is skipped');

const factories = [
  { label: 'pglite', skip: false, open: async () => { const store = await openPgliteTestStore(); return { store, close: () => store.close() }; } },
  { label: 'postgres', skip: !pgAvailable, open: async () => { const { store, drop } = await openPostgresTestStore(POSTGRES_URL); return { store, close: drop }; } },
];

const OCT = Date.parse('2026-10-10T12:00:00Z');
const NOV = Date.parse('2026-11-10T12:00:00Z');

function event(tenantId: string, at: number, o: Partial<UsageEventRecord> = {}): UsageEventRecord {
  return {
    tenantId,
    eventId: randomUUID(),
    requestId: randomUUID(),
    occurredAt: at,
    teamId: null,
    keyId: null,
    endUser: null,
    tags: [],
    model: 'gpt-a',
    deploymentId: 'dep-a',
    provider: 'openai',
    region: 'eu',
    inputTokens: 100,
    outputTokens: 50,
    cachedTokens: 0,
    costMicros: 25_000,
    priceVersion: null,
    latencyMs: 200,
    ttftMs: 40,
    status: 200,
    streamed: false,
    clientAborted: false,
    usageEstimated: false,
    cacheHit: false,
    ...o,
  };
}

for (const f of factories) {
  describe.skipIf(f.skip)(`billing [${f.label}]`, () => {
    let store: Store;
    let close: () => Promise<void>;
    const a = randomUUID();
    const b = randomUUID();
    const teamX = randomUUID();
    const keyY = randomUUID();
    let planId: string;

    beforeAll(async () => {
      ({ store, close } = await f.open());
      const pricing = planPricingSchema.parse({
        baseFeeCents: 1_000,
        features: { custom_domains: false },
        commitment: { kind: 'prepaid', creditCents: 5, discountBps: 0 },
      });
      planId = await store.withTenant(PLATFORM_SCOPE_ID, async (tx) => {
        const r = await plansRepo.create(tx, { name: `billed-${a.slice(0, 6)}`, weight: 1, rules: [] });
        if (!r.ok) throw new Error('plan');
        await billingRepo.setPlanPricing(tx, r.plan.id, pricing);
        return r.plan.id;
      });
      await store.withTenant(a, (tx) => tenantsRepo.insert(tx, { slug: `a-${a.slice(0, 8)}`, name: 'A', timeZone: 'Europe/Berlin', planId }));
      await store.withTenant(b, (tx) => tenantsRepo.insert(tx, { slug: `b-${b.slice(0, 8)}`, name: 'B' }));
      // Both existed before the months billed here (a tenant is never billed for a month that
      // ended before it was created).
      await store.admin((tx) => tx.query("UPDATE tenants SET created_at = '2026-09-01T00:00:00Z' WHERE id = ANY($1::uuid[])", [[a, b]]));
      await store.withTenant(a, (tx) =>
        usageRepo.ingest(tx, [
          event(a, OCT, { teamId: teamX, keyId: keyY, tags: ['proj:x'] }),
          event(a, OCT + 3_600_000, { teamId: teamX, model: 'gpt-b', costMicros: 70_000, tags: ['proj:x', 'batch'] }),
          event(a, OCT + 7_200_000, { status: 429, costMicros: 0, inputTokens: 0, outputTokens: 0 }),
          event(a, NOV, { costMicros: 1_000_000 }),
          // 23:30 UTC on Oct 31 is Nov 1 in Berlin: November's invoice, not October's.
          event(a, Date.parse('2026-10-31T23:30:00Z'), { costMicros: 5_000 }),
        ]),
      );
      await store.withTenant(b, (tx) => usageRepo.ingest(tx, [event(b, OCT, { costMicros: 999_999_999, model: 'secret-model' })]));
    });
    afterAll(async () => close?.());

    it('the schema still passes the isolation audit (price_book is a declared catalogue table)', async () => {
      expect(await store.admin((tx) => auditTenantIsolation(tx))).toEqual([]);
    });

    it('usage series and breakdowns come from the rollups, inside the tenant only', async () => {
      const from = new Date('2026-10-01T00:00:00Z');
      const to = new Date('2026-12-01T00:00:00Z');
      const byModel = await store.withTenant(a, (tx) => usageQueryRepo.aggregate(tx, { granularity: 'day', from, to }, 'model', false));
      expect(byModel.map((r) => [r.group, r.requests, r.costMicros])).toEqual([
        ['gpt-a', 4, 1_030_000],
        ['gpt-b', 1, 70_000],
      ]);
      const byStatus = await store.withTenant(a, (tx) => usageQueryRepo.aggregate(tx, { granularity: 'hour', from, to, model: 'gpt-a' }, 'status', false));
      expect(byStatus.map((r) => [r.group, r.requests])).toEqual([
        ['client_error', 1],
        ['ok', 3],
      ]);
      const team = await store.withTenant(a, (tx) => usageQueryRepo.aggregate(tx, { granularity: 'hour', from, to, teamId: teamX }, null, true));
      expect(team.map((r) => [r.bucketStart?.toISOString(), r.requests])).toEqual([
        ['2026-10-10T12:00:00.000Z', 1],
        ['2026-10-10T13:00:00.000Z', 1],
      ]);
      const tags = await store.withTenant(a, (tx) => usageQueryRepo.aggregate(tx, { granularity: 'day', from, to }, 'tag', false));
      expect(tags.map((r) => [r.group, r.requests, r.costMicros])).toEqual([
        ['batch', 1, 70_000],
        ['proj:x', 2, 95_000],
      ]);
      // B's numbers never show in A's view; B sees only its own.
      const bAll = await store.withTenant(b, (tx) => usageQueryRepo.aggregate(tx, { granularity: 'day', from, to }, 'model', false));
      expect(bAll.map((r) => r.group)).toEqual(['secret-model']);
    });

    it('the platform role aggregates numbers across tenants, and nothing else', async () => {
      const from = new Date('2026-10-01T00:00:00Z');
      const to = new Date('2026-12-01T00:00:00Z');
      const byTenant = await store.platform((tx) => usageQueryRepo.platformAggregate(tx, { granularity: 'day', from, to }, 'tenant', false));
      const mine = byTenant.filter((r) => r.group === `a-${a.slice(0, 8)}` || r.group === `b-${b.slice(0, 8)}`);
      expect(mine.map((r) => r.requests).sort()).toEqual([1, 5]);
      // Team and key ids, tags and raw events are not granted to it.
      await expect(store.platform((tx) => tx.query('SELECT team_id FROM usage_rollups LIMIT 1'))).rejects.toThrow(/permission denied/);
      await expect(store.platform((tx) => tx.query('SELECT tag FROM usage_tag_rollups LIMIT 1'))).rejects.toThrow(/permission denied/);
      await expect(store.platform((tx) => tx.query('SELECT request_id FROM usage_events LIMIT 1'))).rejects.toThrow(/permission denied/);
      // Invoice lines neither: totals only.
      await expect(store.platform((tx) => tx.query('SELECT lines FROM invoices LIMIT 1'))).rejects.toThrow(/permission denied/);
    });

    it('issues an ended period once, reproducibly from the rollups; refuses the open period', async () => {
      const now = new Date('2026-12-05T00:00:00Z');
      const oct = await store.withTenant(a, (tx) => issueInvoice(tx, '2026-10', now));
      expect(oct.created).toBe(true);
      // 25,000 + 70,000 micros: gpt-a 3 cents (2.5 rounds half-up), gpt-b 7; the 429 is not billed.
      expect((oct.invoice.lines as { kind: string; model: string | null; amountCents: number }[]).map((l) => [l.kind, l.model, l.amountCents])).toEqual([
        ['base_fee', null, 1_000],
        ['usage', 'gpt-a', 3],
        ['usage', 'gpt-b', 7],
        ['commitment_drawdown', null, -5],
      ]);
      expect(oct.invoice.totalCents).toBe(1_005);
      expect(oct.invoice.closingCreditCents).toBe(0);
      const recomputed = await store.withTenant(a, (tx) => computeInvoiceFor(tx, '2026-10', now));
      expect(recomputed.draft.lines).toEqual(oct.invoice.lines);
      expect(recomputed.draft.totalCents).toBe(oct.invoice.totalCents);
      const again = await store.withTenant(a, (tx) => issueInvoice(tx, '2026-10', now));
      expect(again).toMatchObject({ created: false, invoice: { id: oct.invoice.id } });
      await expect(store.withTenant(a, (tx) => issueInvoice(tx, '2026-12', now))).rejects.toThrow(/has not ended/);
      // November starts with October's closing credit (0): no drawdown line, Oct 31 23:30Z counted in November.
      const nov = await store.withTenant(a, (tx) => computeInvoiceFor(tx, '2026-11', now));
      expect(nov.draft.commitment).toMatchObject({ capacityCents: 0, drawdownCents: 0 });
      expect(nov.draft.lines.find((l) => l.kind === 'usage')).toMatchObject({ requests: 2, amountCents: 101 });
    });

    it("tenant B cannot see A's invoices: RLS hides them like ids that do not exist", async () => {
      const now = new Date('2026-12-05T00:00:00Z');
      const inv = await store.withTenant(a, (tx) => billingRepo.invoiceByPeriod(tx, '2026-10'));
      expect(inv).not.toBeNull();
      expect(await store.withTenant(b, (tx) => billingRepo.invoice(tx, inv?.id ?? ''))).toBeNull();
      expect(await store.withTenant(b, (tx) => billingRepo.invoices(tx))).toEqual([]);
      // Nor insert one into A.
      await expect(store.withTenant(b, (tx) => tx.query(`INSERT INTO invoices (tenant_id, period, period_start, period_end, currency, pricing, lines, usage_cents, total_cents)
        VALUES ($1, '2026-09', now() - interval '1 day', now(), 'USD', '{}', '[]', 0, 0)`, [a]))).rejects.toThrow();
      // Nor change an issued one, even its own: invoices are insert-only.
      await expect(store.withTenant(a, (tx) => tx.query(`UPDATE invoices SET total_cents = 0`))).rejects.toThrow(/permission denied/);
      const totals = await store.platform((tx) => billingRepo.invoiceTotals(tx, a));
      expect(totals).toEqual([expect.objectContaining({ period: '2026-10', totalCents: 1_005 })]);
      void now;
    });

    it('close-period issues every tenant whose period ended, idempotently', async () => {
      const now = new Date('2026-12-05T00:00:00Z');
      const first = await closePeriod(store, '2026-11', now);
      expect(first.issued).toBeGreaterThanOrEqual(2);
      const second = await closePeriod(store, '2026-11', now);
      expect(second.issued).toBe(0);
      expect(second.alreadyIssued).toBe(first.issued + first.alreadyIssued);
    });

    describe('a named period and tenants created since', () => {
      const now = new Date('2026-12-05T00:00:00Z');
      const mid = randomUUID(); // created during September (UTC): billed for it
      const edge = randomUUID(); // created the instant September ended (UTC): not billed for it
      const late = randomUUID(); // created in November: not billed for September
      const periods = async (id: string) => (await store.withTenant(id, (tx) => billingRepo.invoices(tx))).map((i) => i.period);
      let closed: Awaited<ReturnType<typeof closePeriod>>;

      beforeAll(async () => {
        for (const [id, name] of [[mid, 'mid'], [edge, 'edge'], [late, 'late']] as const) {
          await store.withTenant(id, (tx) => tenantsRepo.insert(tx, { slug: `${name}-${id.slice(0, 8)}`, name, timeZone: 'UTC', planId }));
        }
        await store.admin(async (tx) => {
          await tx.query("UPDATE tenants SET created_at = '2026-09-15T12:00:00Z' WHERE id = $1", [mid]);
          await tx.query("UPDATE tenants SET created_at = '2026-10-01T00:00:00Z' WHERE id = $1", [edge]);
          await tx.query("UPDATE tenants SET created_at = '2026-11-20T08:00:00Z' WHERE id = $1", [late]);
        });
        closed = await closePeriod(store, '2026-09', now);
      });

      it('closing it leaves out tenants created after it ended and invoices the others', async () => {
        expect(closed).toMatchObject({ tenants: 5, issued: 3, alreadyIssued: 0, open: 0, beforeCreation: 2, failed: 0 });
        expect(await periods(edge)).toEqual([]);
        expect(await periods(late)).toEqual([]);
        expect(await periods(a)).toContain('2026-09');
        expect(await periods(b)).toContain('2026-09');
        for (const id of [edge, late]) {
          const n = await store.withTenant(id, async (tx) => (await tx.query("SELECT 1 FROM audit_entries WHERE action = 'invoice.issued'")).rowCount);
          expect(n).toBe(0);
        }
        // Closing again changes nothing: still not billed, still counted.
        expect(await closePeriod(store, '2026-09', now)).toMatchObject({ issued: 0, alreadyIssued: 3, beforeCreation: 2, failed: 0 });
        expect(await periods(late)).toEqual([]);
      });

      it('a tenant asked for by name for a month that ended before it existed is refused (before_creation)', async () => {
        const refused = await store.withTenant(late, (tx) => issueInvoice(tx, '2026-09', now)).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(BillingError);
        expect(refused).toMatchObject({ reason: 'before_creation', message: expect.stringMatching(/2026-09 ended .* before the tenant was created/) });
        await expect(store.withTenant(edge, (tx) => issueInvoice(tx, '2026-09', now))).rejects.toMatchObject({ reason: 'before_creation' });
        expect(await periods(late)).toEqual([]);
        expect(await periods(edge)).toEqual([]);
        // The month it was created in is its first.
        expect(await store.withTenant(late, (tx) => issueInvoice(tx, '2026-11', now))).toMatchObject({ created: true, invoice: { period: '2026-11' } });
      });

      it('a tenant created during the month is invoiced for it, its whole base fee', async () => {
        const inv = await store.withTenant(mid, (tx) => billingRepo.invoiceByPeriod(tx, '2026-09'));
        expect(inv).not.toBeNull();
        expect((inv?.lines as { kind: string; amountCents: number }[]).find((l) => l.kind === 'base_fee')).toMatchObject({ amountCents: 1_000 });
        // The single-tenant path agrees: the issued invoice comes back.
        expect(await store.withTenant(mid, (tx) => issueInvoice(tx, '2026-09', now))).toMatchObject({ created: false, invoice: { id: inv?.id } });
      });
    });

    it('chargeback by team, key and tag', async () => {
      const now = new Date('2026-12-05T00:00:00Z');
      const team = await store.withTenant(a, (tx) => chargebackFor(tx, 'team', '2026-10', now));
      expect(team.rows.map((r) => [r.group, r.requests, r.amountCents])).toEqual([
        [teamX, 2, 10],
        [null, 0, 0],
      ].filter((r) => r[1] !== 0));
      const key = await store.withTenant(a, (tx) => chargebackFor(tx, 'key', '2026-10', now));
      expect(key.rows.map((r) => [r.group, r.amountCents])).toEqual([
        [null, 7],
        [keyY, 3],
      ]);
      const tag = await store.withTenant(a, (tx) => chargebackFor(tx, 'tag', '2026-10', now));
      expect(tag.rows.map((r) => [r.group, r.amountCents])).toEqual([
        ['proj:x', 10],
        ['batch', 7],
      ]);
    });

    it('plan features come from the plan; a tenant on no plan has every feature', async () => {
      expect((await store.withTenant(a, (tx) => planFeaturesOf(tx))).custom_domains).toBe(false);
      expect((await store.withTenant(b, (tx) => planFeaturesOf(tx))).custom_domains).toBe(true);
    });

    it('the price book is an insert-only catalogue written in the platform scope, synced from deployments', async () => {
      const dep = { id: 'dep-a', model: 'gpt-a', prices: { inputPerMTok: 1_000_000, outputPerMTok: 2_000_000, cachedInputPerMTok: 0, perRequest: 0 } } as unknown as Deployment;
      const t0 = new Date('2030-01-01T00:00:00Z');
      expect(await syncPriceBook(store, [dep], t0)).toBe(1);
      expect(await syncPriceBook(store, [dep], new Date('2030-01-02T00:00:00Z'))).toBe(0);
      const changed = { ...dep, prices: { ...dep.prices, outputPerMTok: 3_000_000 } } as Deployment;
      expect(await syncPriceBook(store, [changed], new Date('2030-02-01T00:00:00Z'))).toBe(1);
      const versions = await store.platform((tx) => billingRepo.listPrices(tx, 'gpt-a'));
      expect(versions.map((v) => v.outputPerMTokMicros)).toEqual([3_000_000, 2_000_000]);
      const jan = await store.withTenant(a, (tx) => billingRepo.priceAt(tx, 'gpt-a', 'dep-a', new Date('2030-01-15T00:00:00Z')));
      expect(jan?.outputPerMTokMicros).toBe(2_000_000);
      // A tenant cannot add a price; nobody can edit or delete one.
      await expect(
        store.withTenant(a, (tx) =>
          billingRepo.insertPrice(tx, { model: 'x', deploymentId: null, effectiveFrom: t0, inputPerMTokMicros: 0, outputPerMTokMicros: 0, cachedPerMTokMicros: 0, perRequestMicros: 0, currency: 'USD', source: 'admin' }),
        ),
      ).rejects.toThrow();
      await expect(store.withTenant(PLATFORM_SCOPE_ID, (tx) => tx.query('UPDATE price_book SET output_per_mtok_micros = 0'))).rejects.toThrow(/permission denied/);
      await expect(store.withTenant(PLATFORM_SCOPE_ID, (tx) => tx.query('DELETE FROM price_book'))).rejects.toThrow(/permission denied/);
    });
  });
}
