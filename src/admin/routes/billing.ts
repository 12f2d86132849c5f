/**
 * Invoices, the open period's draft, chargeback (tenant admin and billing roles, and the
 * platform's billing role for every tenant), closing periods (platform billing and admins), and
 * the price book (platform admins). A platform admin listing a tenant's invoices reads through
 * the platform role, whose grants on invoices are the totals columns: the lines are out of its
 * reach in the database, not only in this code. platform_billing reads in the tenant's own
 * transaction, as the tenant's billing role does.
 */
import { BillingError, chargebackFor, closePeriod, computeInvoiceFor, issueInvoice, type IssueAudit } from '../../billing/service.js';
import { toCsv } from '../../billing/csv.js';
import { GatewayError } from '../../errors.js';
import { PLATFORM_SCOPE_ID } from '../../identity/roles.js';
import { billingRepo } from '../../store/index.js';
import { parseStoredPricing } from '../../billing/plan-pricing.js';
import { audit, auditActor } from '../audit-hook.js';
import { notifyPlansChange, notifyPricesChange } from '../context.js';
import { findPlan } from '../services/plans.js';
import { conflict, invalid, notFound } from '../problems.js';
import { defineRoute, type AdminCall, type AdminResult, type AdminRoute } from '../route.js';
import {
  chargebackQuery,
  chargebackView,
  closePeriodBody,
  closePeriodView,
  closeTenantBody,
  draftQuery,
  invoiceListQuery,
  invoiceListView,
  invoiceQuery,
  invoiceView,
  planPricingBody,
  planPricingView,
  presentChargebackRow,
  presentDraft,
  presentInvoice,
  presentInvoiceTotals,
  priceBody,
  priceListQuery,
  priceListView,
  presentPrice,
  priceView,
} from '../schemas/billing.js';
import { read } from '../tx.js';
import { tenantOf } from './lists.js';
import { csvResult, wantsCsv } from './usage.js';

const TAG = 'Billing';
const T = '/tenants/{tenant}';

const INVOICE_CSV = ['period', 'kind', 'description', 'model', 'feature', 'requests', 'input_tokens', 'output_tokens', 'cached_tokens', 'amount_cents', 'currency', 'price_version', 'segment'];

function invoiceResult(call: AdminCall<{ format?: 'json' | 'csv' | undefined }, unknown>, view: ReturnType<typeof presentInvoice>): AdminResult {
  if (!wantsCsv(call)) return { status: 200, body: view };
  const rows = (view.lines ?? []).map((l) => [
    view.period, l.kind, l.description, l.model, l.feature, l.requests, l.input_tokens, l.output_tokens, l.cached_tokens, l.amount_cents, view.currency, l.price_version, l.segment,
  ]);
  rows.push([view.period, 'total', 'Total', null, null, null, null, null, null, view.total_cents, view.currency, null, null]);
  return csvResult(toCsv(INVOICE_CSV, rows));
}

const INVOICE_LIST_CSV = ['id', 'period', 'period_start', 'period_end', 'currency', 'usage_cents', 'total_cents', 'issued_at'];

function invoiceListResult(call: AdminCall<{ format?: 'json' | 'csv' | undefined }, unknown>, views: ReturnType<typeof presentInvoice>[]): AdminResult {
  if (!wantsCsv(call)) return { status: 200, body: { object: 'list', data: views, next_cursor: null } };
  return csvResult(toCsv(INVOICE_LIST_CSV, views.map((v) => [v.id, v.period, v.period_start, v.period_end, v.currency, v.usage_cents, v.total_cents, v.issued_at])));
}

function billingProblem(err: unknown): never {
  if (err instanceof BillingError) {
    if (err.reason === 'tenant_not_found') throw notFound('tenant');
    if (err.reason === 'pricing_conflict') throw conflict(err.message);
    if (err.reason === 'before_creation') throw new GatewayError('before_creation', err.message, { param: 'period' });
    throw invalid(err.message, 'period');
  }
  throw err;
}

/** platform_admin sees invoice totals only (the platform role's grants); everyone else who may read them, whole invoices. */
function totalsOnly(call: AdminCall<unknown, unknown>): boolean {
  return call.actor.principal.role === 'platform_admin';
}

function issuer(call: AdminCall<unknown, unknown>): IssueAudit {
  return { actor: auditActor(call.actor.principal), sourceIp: call.actor.sourceIp, requestId: call.actor.requestId };
}

export const billingRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: '/plans/{plan}/pricing',
    operationId: 'getPlanPricing',
    summary: "A plan's pricing: base fee, request fee, markup, price overrides, features, commitment",
    tag: TAG,
    permission: 'plans.read',
    response: { status: 200, description: 'The pricing (null: list prices, every feature).', schema: planPricingView },
    async handle(call) {
      const found = await call.env.store.platform(async (tx) => {
        const p = await findPlan(tx, call.params.plan ?? '');
        return p === null ? null : { name: p.name, pricing: parseStoredPricing(await billingRepo.planPricing(tx, p.id)) };
      });
      if (found === null) throw notFound('plan');
      return { status: 200, body: { object: 'plan_pricing', plan: found.name, pricing: found.pricing } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/plans/{plan}/pricing',
    operationId: 'setPlanPricing',
    summary: "Replace a plan's pricing (applies to invoices issued from now on)",
    tag: TAG,
    permission: 'plans.write',
    body: planPricingBody,
    response: { status: 200, description: 'The new pricing.', schema: planPricingView },
    async handle(call) {
      const pricing = call.body.pricing;
      const name = await call.env.store.withTenant(PLATFORM_SCOPE_ID, async (tx) => {
        const p = await findPlan(tx, call.params.plan ?? '', { forUpdate: true });
        if (p === null) throw notFound('plan');
        await billingRepo.setPlanPricing(tx, p.id, pricing);
        await audit(tx, call.actor, 'plan.pricing', { kind: 'plan', id: p.id }, { after: { pricing } });
        return p.name;
      });
      await notifyPlansChange(call.env);
      return { status: 200, body: { object: 'plan_pricing', plan: name, pricing } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${T}/invoices`,
    operationId: 'listInvoices',
    summary: 'Issued invoices of a tenant, newest first (JSON, or CSV totals; platform admins: totals only)',
    tag: TAG,
    permission: 'invoices.read',
    query: invoiceListQuery,
    response: { status: 200, description: 'The issued invoices.', schema: invoiceListView },
    async handle(call) {
      const tenantId = tenantOf(call);
      if (totalsOnly(call)) {
        const totals = await call.env.store.platform((tx) => billingRepo.invoiceTotals(tx, tenantId));
        return invoiceListResult(call, totals.map(presentInvoiceTotals));
      }
      const invoices = await read(call.env, tenantId, (tx) => billingRepo.invoices(tx));
      return invoiceListResult(call, invoices.map(presentInvoice));
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${T}/invoices/{invoice}`,
    operationId: 'getInvoice',
    summary: 'An issued invoice (JSON, or CSV lines with ?format=csv / Accept: text/csv)',
    tag: TAG,
    permission: 'invoices.read',
    query: invoiceQuery,
    response: { status: 200, description: 'The invoice.', schema: invoiceView },
    async handle(call) {
      const tenantId = tenantOf(call);
      const id = call.params.invoice ?? '';
      if (totalsOnly(call)) {
        const totals = (await call.env.store.platform((tx) => billingRepo.invoiceTotals(tx, tenantId))).find((t) => t.id === id);
        if (totals === undefined) throw notFound('invoice');
        return invoiceResult(call, presentInvoiceTotals(totals));
      }
      const inv = await read(call.env, tenantId, (tx) => billingRepo.invoice(tx, id));
      if (inv === null) throw notFound('invoice');
      return invoiceResult(call, presentInvoice(inv));
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${T}/invoices/close`,
    operationId: 'closeTenantPeriod',
    summary: "Issue a tenant's invoice for a month that has ended in its time zone (idempotent: an issued invoice is returned unchanged)",
    tag: TAG,
    permission: 'invoices.close',
    body: closeTenantBody,
    bodyOptional: true,
    response: { status: 201, description: 'The invoice, issued now (201) or before (200).', schema: invoiceView },
    async handle(call) {
      const tenantId = tenantOf(call);
      const { invoice, created } = await call.env.store
        .withTenant(tenantId, (tx) => issueInvoice(tx, call.body.period, call.env.now(), issuer(call)))
        .catch(billingProblem);
      const status = created ? 201 : 200;
      if (!totalsOnly(call)) return { status, body: presentInvoice(invoice) };
      return { status, body: presentInvoiceTotals(invoice) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/platform/billing/close-period',
    operationId: 'closePeriod',
    summary: "Issue every tenant's invoice for a month that has ended in its time zone (idempotent; the gateway also does this on its own: billing.autoClose)",
    tag: TAG,
    permission: 'invoices.close',
    body: closePeriodBody,
    bodyOptional: true,
    response: { status: 200, description: 'How many invoices were issued, already issued, or not due.', schema: closePeriodView },
    async handle(call) {
      const period = call.body.period;
      const r = await closePeriod(call.env.store, period, call.env.now(), {
        by: issuer(call),
        onError: (tenantId, err) => call.env.logger.error({ err, tenantId }, 'billing: issuing an invoice failed'),
      });
      const body = {
        object: 'close_period' as const,
        period: period ?? null,
        tenants: r.tenants,
        issued: r.issued,
        already_issued: r.alreadyIssued,
        open: r.open,
        before_creation: r.beforeCreation,
        failed: r.failed,
      };
      // The run itself, in the platform scope's chain (each invoice is in its tenant's).
      await call.env.store.withTenant(PLATFORM_SCOPE_ID, (tx) => audit(tx, call.actor, 'billing.close_period', { kind: 'billing_period', id: period ?? null }, { after: body }));
      return { status: 200, body };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${T}/invoice-draft`,
    operationId: 'getInvoiceDraft',
    summary: 'The invoice of a period as the rollups make it now (the open period by default)',
    tag: TAG,
    permission: 'chargeback.read',
    query: draftQuery,
    response: { status: 200, description: 'The draft invoice.', schema: invoiceView },
    async handle(call) {
      const { draft } = await read(call.env, tenantOf(call), (tx) => computeInvoiceFor(tx, call.query.period, call.env.now())).catch(billingProblem);
      return invoiceResult(call, presentDraft(draft));
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${T}/chargeback`,
    operationId: 'getChargeback',
    summary: 'Usage cost of a period by team, key or tag, at the tenant\'s plan prices',
    tag: TAG,
    permission: 'chargeback.read',
    query: chargebackQuery,
    response: { status: 200, description: 'One row per group, largest first.', schema: chargebackView },
    async handle(call) {
      const report = await read(call.env, tenantOf(call), (tx) => chargebackFor(tx, call.query.by, call.query.period, call.env.now())).catch(billingProblem);
      const rows = report.rows.map(presentChargebackRow);
      if (wantsCsv(call)) {
        return csvResult(
          toCsv(
            ['period', call.query.by, 'requests', 'input_tokens', 'output_tokens', 'cached_tokens', 'cost_micros', 'amount_cents', 'currency'],
            rows.map((r) => [report.period.id, r.group, r.requests, r.input_tokens, r.output_tokens, r.cached_tokens, r.cost_micros, r.amount_cents, report.currency]),
          ),
        );
      }
      return {
        status: 200,
        body: {
          object: 'chargeback',
          by: call.query.by,
          period: report.period.id,
          period_start: report.period.start.toISOString(),
          period_end: report.period.end.toISOString(),
          currency: report.currency,
          rows,
          total_cents: rows.reduce((n, r) => n + r.amount_cents, 0),
        },
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/platform/price-book',
    operationId: 'listPrices',
    summary: 'The price book: every version per model and deployment, newest first',
    tag: TAG,
    permission: 'price_book.read',
    query: priceListQuery,
    response: { status: 200, description: 'Price versions.', schema: priceListView },
    async handle(call) {
      const prices = await call.env.store.platform((tx) => billingRepo.listPrices(tx, call.query.model ?? null));
      return { status: 200, body: { object: 'list', data: prices.map(presentPrice), next_cursor: null } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/platform/price-book',
    operationId: 'createPrice',
    summary: 'Add a price version (effective now or later; past versions are never edited)',
    tag: TAG,
    permission: 'price_book.write',
    body: priceBody,
    response: { status: 201, description: 'The new version.', schema: priceView },
    async handle(call) {
      const now = call.env.now();
      const b = call.body;
      const effectiveFrom = b.effective_from === undefined ? now : new Date(b.effective_from);
      // A minute of slack for clocks; anything earlier would re-price usage already metered.
      if (effectiveFrom.getTime() < now.getTime() - 60_000) throw invalid('effective_from must not be in the past: past usage keeps the price it had.', 'effective_from');
      const row = await call.env.store.withTenant(PLATFORM_SCOPE_ID, async (tx) => {
        const added = await billingRepo.insertPrice(tx, {
          model: b.model,
          deploymentId: b.deployment_id,
          effectiveFrom,
          inputPerMTokMicros: b.input_per_mtok_micros,
          outputPerMTokMicros: b.output_per_mtok_micros,
          cachedPerMTokMicros: b.cached_per_mtok_micros,
          perRequestMicros: b.per_request_micros,
          currency: b.currency,
          source: 'admin',
        });
        if (added !== null) await audit(tx, call.actor, 'price.create', { kind: 'price', id: added.id }, { after: presentPrice(added) });
        return added;
      });
      if (row === null) throw conflict('A version of this price with that effective_from exists already.', 'effective_from');
      await notifyPricesChange(call.env);
      return { status: 201, body: presentPrice(row) };
    },
  }),
];
