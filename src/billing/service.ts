/**
 * Billing against the store: draft and issued invoices, closing periods, chargeback, the
 * features a tenant's plan grants, and seeding the price book from the configured deployments.
 * The arithmetic is in invoice.ts / chargeback.ts; this module only gathers their inputs.
 */
import { PLATFORM_SCOPE_ID } from '../identity/roles.js';
import type { Deployment } from '../providers/types.js';
import { billingRepo, usageQueryRepo, type InvoiceRecord, type Store, type TenantTx } from '../store/index.js';
import { chargeback, type ChargebackBy, type ChargebackRow } from './chargeback.js';
import { computeInvoice, listPricing } from './invoice.js';
import { periodAt, periodOf, previousPeriod, type BillingPeriod } from './period.js';
import { parseStoredPricing, planFeatures } from './plan-pricing.js';
import type { InvoiceDraft, PlanFeatures, PlanPricing } from './types.js';

export class BillingError extends Error {
  constructor(
    readonly reason: 'tenant_not_found' | 'period_open',
    message: string,
  ) {
    super(message);
  }
}

interface BillingContext {
  timeZone: string;
  planId: string | null;
  pricing: PlanPricing;
  /** Null pricing on the plan (or no plan): list prices, every feature. */
  planPricing: PlanPricing | null;
}

async function contextOf(tx: TenantTx): Promise<BillingContext> {
  const info = await billingRepo.tenantInfo(tx);
  if (info === null) throw new BillingError('tenant_not_found', 'No such tenant.');
  const planPricing = parseStoredPricing(info.pricing);
  return { timeZone: info.timeZone, planId: info.planId, pricing: planPricing ?? listPricing(), planPricing };
}

/** The features the tenant's plan grants (for enforcement elsewhere: custom domains, ...). */
export async function planFeaturesOf(tx: TenantTx): Promise<PlanFeatures> {
  return planFeatures((await contextOf(tx)).planPricing);
}

export function resolvePeriod(id: string | undefined, timeZone: string, now: Date): BillingPeriod {
  return id === undefined ? periodAt(now, timeZone) : periodOf(id, timeZone);
}

/** The invoice of `period` computed from the rollups now (the open period's draft, or a recomputation). */
export async function computeInvoiceFor(tx: TenantTx, periodId: string | undefined, now: Date): Promise<{ draft: InvoiceDraft; planId: string | null; pricing: PlanPricing }> {
  const ctx = await contextOf(tx);
  const period = resolvePeriod(periodId, ctx.timeZone, now);
  const usage = await usageQueryRepo.periodByModel(tx, period.start, period.end);
  const opening = ctx.pricing.commitment?.kind === 'prepaid' ? await billingRepo.closingCreditBefore(tx, period.id) : null;
  const draft = computeInvoice({ period: period.id, periodStart: period.start, periodEnd: period.end, pricing: ctx.pricing, usage, openingCreditCents: opening });
  return { draft, planId: ctx.planId, pricing: ctx.pricing };
}

/**
 * Issues the invoice of a period that has ended (in the tenant's zone). Idempotent: a period
 * already issued returns the stored invoice, unchanged.
 */
export async function issueInvoice(tx: TenantTx, periodId: string | undefined, now: Date): Promise<{ invoice: InvoiceRecord; created: boolean }> {
  const ctx = await contextOf(tx);
  const period = periodId === undefined ? previousPeriod(periodAt(now, ctx.timeZone), ctx.timeZone) : periodOf(periodId, ctx.timeZone);
  if (period.end.getTime() > now.getTime()) throw new BillingError('period_open', `The period ${period.id} has not ended in the tenant's time zone (${ctx.timeZone}).`);
  const existing = await billingRepo.invoiceByPeriod(tx, period.id);
  if (existing !== null) return { invoice: existing, created: false };
  const { draft, planId, pricing } = await computeInvoiceFor(tx, period.id, now);
  return billingRepo.issue(tx, {
    period: draft.period,
    periodStart: period.start,
    periodEnd: period.end,
    currency: draft.currency,
    planId,
    pricing,
    lines: draft.lines,
    commitment: draft.commitment,
    usageCents: draft.usageCents,
    totalCents: draft.totalCents,
    closingCreditCents: draft.commitment?.closingCreditCents ?? null,
  });
}

export interface ClosePeriodResult {
  tenants: number;
  issued: number;
  alreadyIssued: number;
  open: number;
}

/**
 * Closes a period for every tenant (the CLI and the job): each tenant's last ended month, or
 * `periodId` where it has ended. Each tenant in its own transaction.
 */
export async function closePeriod(store: Store, periodId: string | undefined, now: Date): Promise<ClosePeriodResult> {
  const ids = (await store.platform((tx) => billingRepo.tenantIds(tx))).filter((id) => id !== PLATFORM_SCOPE_ID);
  const result: ClosePeriodResult = { tenants: ids.length, issued: 0, alreadyIssued: 0, open: 0 };
  for (const id of ids) {
    try {
      const r = await store.withTenant(id, (tx) => issueInvoice(tx, periodId, now));
      if (r.created) result.issued++;
      else result.alreadyIssued++;
    } catch (err) {
      if (err instanceof BillingError && err.reason === 'period_open') result.open++;
      else if (!(err instanceof BillingError)) throw err;
    }
  }
  return result;
}

export async function chargebackFor(tx: TenantTx, by: ChargebackBy, periodId: string | undefined, now: Date): Promise<{ period: BillingPeriod; currency: string; rows: ChargebackRow[] }> {
  const ctx = await contextOf(tx);
  const period = resolvePeriod(periodId, ctx.timeZone, now);
  const usage = await usageQueryRepo.periodByGroup(tx, by, period.start, period.end);
  return { period, currency: ctx.pricing.currency, rows: chargeback(ctx.pricing, usage) };
}

/**
 * Makes the price book follow the configured deployments: a deployment whose configured prices
 * differ from the last version synced from the configuration (or that has none) gets a new
 * version effective `now`. Compared with the last synced version, not with the one in force, so
 * a restart does not undo a price set through the admin API since: the newest version wins,
 * whichever its source. Past versions are never touched. Returns how many versions were added.
 */
export async function syncPriceBook(store: Store, deployments: readonly Deployment[], now: Date, currency = 'USD'): Promise<number> {
  return store.withTenant(PLATFORM_SCOPE_ID, async (tx) => {
    let added = 0;
    for (const d of deployments) {
      const current = await billingRepo.latestConfigPrice(tx, d.model, d.id);
      const p = d.prices;
      const same =
        current !== null &&
        current.inputPerMTokMicros === p.inputPerMTok &&
        current.outputPerMTokMicros === p.outputPerMTok &&
        current.cachedPerMTokMicros === p.cachedInputPerMTok &&
        current.perRequestMicros === p.perRequest &&
        current.currency === currency;
      if (same) continue;
      const row = await billingRepo.insertPrice(tx, {
        model: d.model,
        deploymentId: d.id,
        effectiveFrom: now,
        inputPerMTokMicros: p.inputPerMTok,
        outputPerMTokMicros: p.outputPerMTok,
        cachedPerMTokMicros: p.cachedInputPerMTok,
        perRequestMicros: p.perRequest,
        currency,
        source: 'config',
      });
      if (row !== null) added++;
    }
    return added;
  });
}

export type { ChargebackBy, ChargebackRow };
