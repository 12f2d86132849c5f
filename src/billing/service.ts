/**
 * Billing against the store: draft and issued invoices, closing periods, chargeback, the
 * features a tenant's plan grants, and seeding the price book from the configured deployments.
 * The arithmetic is in invoice.ts / chargeback.ts, the plans of a period in segments.ts; this
 * module only gathers their inputs.
 */
import { z } from 'zod';
import { appendAudit, type AuditActor } from '../audit/index.js';
import { PLATFORM_SCOPE_ID } from '../identity/roles.js';
import type { Deployment } from '../providers/types.js';
import { billingRepo, usageQueryRepo, type InvoiceRecord, type Store, type TenantTx } from '../store/index.js';
import { chargebackBySegment, type ChargebackBy, type ChargebackRow } from './chargeback.js';
import { computeProratedInvoice, listPricing, type SegmentInput } from './invoice.js';
import { existedIn, periodAt, periodOf, previousPeriod, type BillingPeriod } from './period.js';
import { parseStoredPricing, planFeatures, planPricingSchema } from './plan-pricing.js';
import { planSegments } from './segments.js';
import type { InvoiceDraft, PlanFeatures, PlanPricing, PlanSegment } from './types.js';

export class BillingError extends Error {
  constructor(
    /** before_creation: the period ended before the tenant was created (it is never billed for it). */
    readonly reason: 'tenant_not_found' | 'period_open' | 'before_creation' | 'pricing_conflict',
    message: string,
  ) {
    super(message);
  }
}

interface BillingContext {
  timeZone: string;
  planId: string | null;
  /** Null pricing on the plan (or no plan): list prices, every feature. */
  planPricing: PlanPricing | null;
  createdAt: Date;
}

async function contextOf(tx: TenantTx): Promise<BillingContext> {
  const info = await billingRepo.tenantInfo(tx);
  if (info === null) throw new BillingError('tenant_not_found', 'No such tenant.');
  return { timeZone: info.timeZone, planId: info.planId, planPricing: parseStoredPricing(info.pricing), createdAt: info.createdAt };
}

/** The features the tenant's plan grants (for enforcement elsewhere: custom domains, ...). */
export async function planFeaturesOf(tx: TenantTx): Promise<PlanFeatures> {
  return planFeatures((await contextOf(tx)).planPricing);
}

export function resolvePeriod(id: string | undefined, timeZone: string, now: Date): BillingPeriod {
  return id === undefined ? periodAt(now, timeZone) : periodOf(id, timeZone);
}

/**
 * The plans of `period` with the pricing each has now (the pricing of a plan applies to invoices
 * issued from the moment it is set). No plan, a plan without pricing, or a plan deleted since:
 * list prices.
 */
async function segmentsOf(tx: TenantTx, ctx: BillingContext, period: BillingPeriod): Promise<PlanSegment[]> {
  const history = await billingRepo.planHistory(tx);
  const pricing = new Map<string | null, PlanPricing>();
  const out: PlanSegment[] = [];
  for (const seg of planSegments(history, period.start, period.end, ctx.planId)) {
    let p = pricing.get(seg.planId);
    if (p === undefined) {
      p = seg.planId === null ? listPricing() : (parseStoredPricing(await billingRepo.planPricing(tx, seg.planId)) ?? listPricing());
      pricing.set(seg.planId, p);
    }
    out.push({ ...seg, pricing: p });
  }
  return out;
}

/** The invoice of `period` over `segments`, from the rollups as they are now. */
async function invoiceOver(tx: TenantTx, period: BillingPeriod, segments: readonly PlanSegment[]): Promise<InvoiceDraft> {
  const inputs: SegmentInput[] = [];
  for (const seg of segments) inputs.push({ ...seg, usage: await usageQueryRepo.periodByModel(tx, seg.from, seg.to) });
  const prepaid = segments.some((s) => s.pricing.commitment?.kind === 'prepaid');
  const opening = prepaid ? await billingRepo.closingCreditBefore(tx, period.id) : null;
  try {
    return computeProratedInvoice({ period: period.id, periodStart: period.start, periodEnd: period.end, segments: inputs, openingCreditCents: opening });
  } catch (err) {
    if (err instanceof RangeError) throw new BillingError('pricing_conflict', err.message);
    throw err;
  }
}

/** The invoice of `period` computed from the rollups now (the open period's draft, or a recomputation). */
export async function computeInvoiceFor(tx: TenantTx, periodId: string | undefined, now: Date): Promise<{ draft: InvoiceDraft; segments: PlanSegment[] }> {
  const ctx = await contextOf(tx);
  const period = resolvePeriod(periodId, ctx.timeZone, now);
  const segments = await segmentsOf(tx, ctx, period);
  return { draft: await invoiceOver(tx, period, segments), segments };
}

/** invoices.segments as stored: the segments with the pricing applied. */
const storedSegments = z.array(
  z.object({ planId: z.string().nullable(), from: z.iso.datetime(), to: z.iso.datetime(), pricing: planPricingSchema }),
);

/**
 * An issued invoice computed again from today's rollups and the plans and pricing stored with
 * it (not the plans' pricing now): equal to the stored lines unless usage of the period arrived
 * after it was issued. Invoices issued before migration 0017 are one segment of their pricing.
 */
export async function recomputeInvoice(tx: TenantTx, invoice: InvoiceRecord): Promise<InvoiceDraft> {
  const period: BillingPeriod = { id: invoice.period, start: invoice.periodStart, end: invoice.periodEnd };
  const segments: PlanSegment[] =
    invoice.segments === null
      ? [{ planId: invoice.planId, from: invoice.periodStart, to: invoice.periodEnd, pricing: parseStoredPricing(invoice.pricing) ?? listPricing() }]
      : storedSegments.parse(invoice.segments).map((s) => {
          const pricing = parseStoredPricing(s.pricing);
          if (pricing === null) throw new Error('billing: stored segment without pricing');
          return { planId: s.planId, from: new Date(s.from), to: new Date(s.to), pricing };
        });
  return invoiceOver(tx, period, segments);
}

/** Who issues: audited as the actor of the `invoice.issued` entry (the job and the CLI are `system`). */
export interface IssueAudit {
  actor: AuditActor;
  sourceIp?: string | null;
  requestId?: string | null;
}

export const BILLING_ACTOR: IssueAudit = { actor: { kind: 'system', id: 'billing' } };

/**
 * Issues the invoice of a period that has ended (in the tenant's zone), audited in the same
 * transaction. Idempotent: a period already issued returns the stored invoice, unchanged, and
 * appends nothing; two replicas issuing at once insert one row (UNIQUE (tenant_id, period)),
 * and only the one whose row it is audits it. A period that ended before the tenant was created
 * is refused (`before_creation`, period.ts `existedIn`), whether named or the default; one
 * already issued (invoices are never withdrawn) is still returned, as closePeriod counts it.
 */
export async function issueInvoice(
  tx: TenantTx,
  periodId: string | undefined,
  now: Date,
  by: IssueAudit = BILLING_ACTOR,
): Promise<{ invoice: InvoiceRecord; created: boolean }> {
  const ctx = await contextOf(tx);
  const period = periodId === undefined ? previousPeriod(periodAt(now, ctx.timeZone), ctx.timeZone) : periodOf(periodId, ctx.timeZone);
  if (period.end.getTime() > now.getTime()) throw new BillingError('period_open', `The period ${period.id} has not ended in the tenant's time zone (${ctx.timeZone}).`);
  const existing = await billingRepo.invoiceByPeriod(tx, period.id);
  if (existing !== null) return { invoice: existing, created: false };
  if (!existedIn(period, ctx.createdAt)) {
    throw new BillingError(
      'before_creation',
      `The period ${period.id} ended (${period.end.toISOString()}) before the tenant was created (${ctx.createdAt.toISOString()}); it is not billed for it.`,
    );
  }
  const segments = await segmentsOf(tx, ctx, period);
  const draft = await invoiceOver(tx, period, segments);
  const last = segments[segments.length - 1];
  const issued = await billingRepo.issue(tx, {
    period: draft.period,
    periodStart: period.start,
    periodEnd: period.end,
    currency: draft.currency,
    planId: last?.planId ?? null,
    pricing: last?.pricing ?? listPricing(),
    lines: draft.lines,
    commitment: draft.commitment,
    usageCents: draft.usageCents,
    totalCents: draft.totalCents,
    closingCreditCents: draft.closingCreditCents,
    segments: segments.map((s, i) => ({
      planId: s.planId,
      from: s.from.toISOString(),
      to: s.to.toISOString(),
      pricing: s.pricing,
      commitment: draft.segments[i]?.commitment ?? null,
    })),
  });
  if (issued.created) {
    await appendAudit(tx, {
      actor: by.actor,
      action: 'invoice.issued',
      target: { kind: 'invoice', id: issued.invoice.id },
      outcome: 'success',
      sourceIp: by.sourceIp ?? null,
      requestId: by.requestId ?? null,
      after: { period: issued.invoice.period, currency: issued.invoice.currency, total_cents: issued.invoice.totalCents },
    });
  }
  return issued;
}

export interface ClosePeriodResult {
  tenants: number;
  issued: number;
  alreadyIssued: number;
  /** The period has not ended (plus the grace) in the tenant's time zone. */
  open: number;
  /** The month ended before the tenant was created: not billed (named periods and the default alike). */
  beforeCreation: number;
  failed: number;
}

export interface ClosePeriodOptions {
  /** Wait this long after a month's end before closing it by default (events still in spools). */
  graceMs?: number;
  by?: IssueAudit;
  /** A tenant whose invoice could not be issued (the others go on). */
  onError?: (tenantId: string, err: unknown) => void;
}

/**
 * Closes a period for every tenant (the CLI, the admin API and the job): `periodId` where it has
 * ended, or by default each tenant's last month that ended `graceMs` ago or more. Either way,
 * tenants created after the month ended are left out (`existedIn`: they did not exist that
 * month). Periods already issued are found through the platform role first, so a round with
 * nothing to do opens no tenant transaction. Each issue is its own tenant transaction.
 */
export async function closePeriod(store: Store, periodId: string | undefined, now: Date, opts: ClosePeriodOptions = {}): Promise<ClosePeriodResult> {
  const cutoff = new Date(now.getTime() - (periodId === undefined ? (opts.graceMs ?? 0) : 0));
  const { tenants, issued } = await store.platform(async (tx) => {
    const all = (await billingRepo.tenantsToClose(tx)).filter((t) => t.id !== PLATFORM_SCOPE_ID);
    const due = all.map((t) => ({ ...t, period: periodId === undefined ? previousPeriod(periodAt(cutoff, t.timeZone), t.timeZone) : periodOf(periodId, t.timeZone) }));
    return { tenants: due, issued: await billingRepo.issuedPeriods(tx, [...new Set(due.map((t) => t.period.id))]) };
  });
  const result: ClosePeriodResult = { tenants: tenants.length, issued: 0, alreadyIssued: 0, open: 0, beforeCreation: 0, failed: 0 };
  for (const t of tenants) {
    if (issued.has(`${t.id} ${t.period.id}`)) {
      result.alreadyIssued++;
      continue;
    }
    if (t.period.end.getTime() > cutoff.getTime()) {
      result.open++;
      continue;
    }
    if (!existedIn(t.period, t.createdAt)) {
      result.beforeCreation++;
      continue;
    }
    try {
      const r = await store.withTenant(t.id, (tx) => issueInvoice(tx, t.period.id, now, opts.by));
      if (r.created) result.issued++;
      else result.alreadyIssued++;
    } catch (err) {
      // A tenant deleted meanwhile is not a failure.
      if (err instanceof BillingError && err.reason === 'tenant_not_found') continue;
      // issueInvoice applies the same rule to the tenant's own row (the two reads may disagree if it changed meanwhile).
      if (err instanceof BillingError && err.reason === 'before_creation') {
        result.beforeCreation++;
        continue;
      }
      result.failed++;
      opts.onError?.(t.id, err);
    }
  }
  return result;
}

export async function chargebackFor(tx: TenantTx, by: ChargebackBy, periodId: string | undefined, now: Date): Promise<{ period: BillingPeriod; currency: string; rows: ChargebackRow[] }> {
  const ctx = await contextOf(tx);
  const period = resolvePeriod(periodId, ctx.timeZone, now);
  const segments = await segmentsOf(tx, ctx, period);
  const parts = [];
  for (const seg of segments) parts.push({ pricing: seg.pricing, rows: await usageQueryRepo.periodByGroup(tx, by, seg.from, seg.to) });
  const currency = segments[segments.length - 1]?.pricing.currency ?? 'USD';
  return { period, currency, rows: chargebackBySegment(parts) };
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
