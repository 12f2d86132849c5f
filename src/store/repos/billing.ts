/**
 * Billing tables (migration 0015_billing): the price book catalogue, issued invoices, and what billing
 * needs to know of a tenant (time zone, plan, the plan's pricing document as stored; the billing
 * module parses it). Invoices are insert-only: the gateway role has no UPDATE or DELETE on them.
 */
import type { PlatformTx, TenantTx } from '../types.js';

export interface PriceBookEntry {
  id: string;
  model: string;
  deploymentId: string | null;
  effectiveFrom: Date;
  inputPerMTokMicros: number;
  outputPerMTokMicros: number;
  cachedPerMTokMicros: number;
  perRequestMicros: number;
  currency: string;
  /** 'config': synced from the configured deployments at start-up; 'admin': added through the admin API. */
  source: PriceSource;
  createdAt: Date;
}

export type PriceSource = 'config' | 'admin';

export type NewPriceBookEntry = Omit<PriceBookEntry, 'id' | 'createdAt'>;

interface PriceRow {
  id: string;
  model: string;
  deployment_id: string | null;
  effective_from: Date;
  input_per_mtok_micros: string;
  output_per_mtok_micros: string;
  cached_per_mtok_micros: string;
  per_request_micros: string;
  currency: string;
  source: PriceSource;
  created_at: Date;
}

const PRICE_COLUMNS = `id, model, deployment_id, effective_from, input_per_mtok_micros::text, output_per_mtok_micros::text,
  cached_per_mtok_micros::text, per_request_micros::text, currency, source, created_at`;

function toPrice(r: PriceRow): PriceBookEntry {
  return {
    id: r.id,
    model: r.model,
    deploymentId: r.deployment_id,
    effectiveFrom: new Date(r.effective_from),
    inputPerMTokMicros: Number(r.input_per_mtok_micros),
    outputPerMTokMicros: Number(r.output_per_mtok_micros),
    cachedPerMTokMicros: Number(r.cached_per_mtok_micros),
    perRequestMicros: Number(r.per_request_micros),
    currency: r.currency,
    source: r.source,
    createdAt: new Date(r.created_at),
  };
}

export interface InvoiceRecord {
  id: string;
  tenantId: string;
  period: string;
  periodStart: Date;
  periodEnd: Date;
  currency: string;
  planId: string | null;
  pricing: unknown;
  lines: unknown;
  commitment: unknown;
  usageCents: number;
  totalCents: number;
  closingCreditCents: number | null;
  /** The plans of the period with their pricing as applied (0017); null on invoices issued before. */
  segments: unknown;
  issuedAt: Date;
}

export type NewInvoice = Omit<InvoiceRecord, 'id' | 'tenantId' | 'issuedAt' | 'segments'> & { segments?: unknown };

/** A row of tenant_plan_history (migration 0017). */
export interface PlanChangeRecord {
  planId: string | null;
  effectiveFrom: Date;
}

/** What closing periods needs of every tenant, through the platform role. */
export interface TenantCloseInfo {
  id: string;
  timeZone: string;
  createdAt: Date;
}

/** What the platform role reads of an invoice: totals, never lines. */
export interface InvoiceTotals {
  id: string;
  tenantId: string;
  period: string;
  periodStart: Date;
  periodEnd: Date;
  currency: string;
  totalCents: number;
  issuedAt: Date;
}

interface InvoiceRow {
  id: string;
  tenant_id: string;
  period: string;
  period_start: Date;
  period_end: Date;
  currency: string;
  plan_id: string | null;
  pricing: unknown;
  lines: unknown;
  commitment: unknown;
  usage_cents: string;
  total_cents: string;
  closing_credit_cents: string | null;
  segments: unknown;
  issued_at: Date;
}

const INVOICE_COLUMNS = `id, tenant_id, period, period_start, period_end, currency, plan_id, pricing, lines, commitment,
  usage_cents::text, total_cents::text, closing_credit_cents::text, segments, issued_at`;

function toInvoice(r: InvoiceRow): InvoiceRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    period: r.period,
    periodStart: new Date(r.period_start),
    periodEnd: new Date(r.period_end),
    currency: r.currency,
    planId: r.plan_id,
    pricing: r.pricing,
    lines: r.lines,
    commitment: r.commitment,
    usageCents: Number(r.usage_cents),
    totalCents: Number(r.total_cents),
    closingCreditCents: r.closing_credit_cents === null ? null : Number(r.closing_credit_cents),
    segments: r.segments ?? null,
    issuedAt: new Date(r.issued_at),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TenantBillingInfo {
  timeZone: string;
  planId: string | null;
  /** plans.pricing as stored (NULL: no plan or no pricing). */
  pricing: unknown;
  createdAt: Date;
}

export const billingRepo = {
  /** The price book, newest version first per (model, deployment). */
  async listPrices(tx: TenantTx | PlatformTx, model: string | null): Promise<PriceBookEntry[]> {
    const { rows } = await tx.query<PriceRow>(
      `SELECT ${PRICE_COLUMNS} FROM price_book WHERE ($1::text IS NULL OR model = $1::text)
       ORDER BY model, deployment_id NULLS FIRST, effective_from DESC LIMIT 1000`,
      [model],
    );
    return rows.map(toPrice);
  },

  /** Adds a version; null when that (model, deployment, effective_from) exists already. Platform scope only (RLS). */
  async insertPrice(tx: TenantTx, e: NewPriceBookEntry): Promise<PriceBookEntry | null> {
    const { rows } = await tx.query<PriceRow>(
      `INSERT INTO price_book (model, deployment_id, effective_from, input_per_mtok_micros, output_per_mtok_micros,
         cached_per_mtok_micros, per_request_micros, currency, source)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT ON CONSTRAINT price_book_version DO NOTHING
       RETURNING ${PRICE_COLUMNS}`,
      [e.model, e.deploymentId, e.effectiveFrom.toISOString(), e.inputPerMTokMicros, e.outputPerMTokMicros, e.cachedPerMTokMicros, e.perRequestMicros, e.currency, e.source],
    );
    const r = rows[0];
    return r === undefined ? null : toPrice(r);
  },

  /**
   * The version in force at `at` for a deployment of `model`: the newest effective one among the
   * deployment's own rows and the model's (deployment_id NULL); on the same instant, its own row.
   * The same rule as src/billing/price-follower.ts, which prices requests by it.
   */
  async priceAt(tx: TenantTx | PlatformTx, model: string, deploymentId: string | null, at: Date): Promise<PriceBookEntry | null> {
    const { rows } = await tx.query<PriceRow>(
      `SELECT ${PRICE_COLUMNS} FROM price_book
       WHERE model = $1 AND (deployment_id = $2::text OR deployment_id IS NULL) AND effective_from <= $3
       ORDER BY effective_from DESC, (deployment_id IS NULL) LIMIT 1`,
      [model, deploymentId, at.toISOString()],
    );
    const r = rows[0];
    return r === undefined ? null : toPrice(r);
  },

  /** The newest version the start-up sync wrote for this deployment (whatever is in force now). */
  async latestConfigPrice(tx: TenantTx | PlatformTx, model: string, deploymentId: string): Promise<PriceBookEntry | null> {
    const { rows } = await tx.query<PriceRow>(
      `SELECT ${PRICE_COLUMNS} FROM price_book WHERE model = $1 AND deployment_id = $2 AND source = 'config'
       ORDER BY effective_from DESC LIMIT 1`,
      [model, deploymentId],
    );
    const r = rows[0];
    return r === undefined ? null : toPrice(r);
  },

  /** Every version of these models, oldest first (the price follower's working set). */
  async versionsOf(tx: TenantTx | PlatformTx, models: readonly string[]): Promise<PriceBookEntry[]> {
    const { rows } = await tx.query<PriceRow>(
      `SELECT ${PRICE_COLUMNS} FROM price_book WHERE model = ANY($1::text[]) ORDER BY effective_from, id`,
      [[...models]],
    );
    return rows.map(toPrice);
  },

  async tenantInfo(tx: TenantTx): Promise<TenantBillingInfo | null> {
    const { rows } = await tx.query<{ time_zone: string; plan_id: string | null; pricing: unknown; created_at: Date }>(
      `SELECT t.time_zone, t.plan_id, p.pricing, t.created_at FROM tenants t LEFT JOIN plans p ON p.id = t.plan_id WHERE t.id = $1`,
      [tx.tenantId],
    );
    const r = rows[0];
    return r === undefined ? null : { timeZone: r.time_zone, planId: r.plan_id, pricing: r.pricing ?? null, createdAt: new Date(r.created_at) };
  },

  /** Stores an issued invoice; an invoice of that period already issued wins (returned instead). */
  async issue(tx: TenantTx, inv: NewInvoice): Promise<{ invoice: InvoiceRecord; created: boolean }> {
    const { rows } = await tx.query<InvoiceRow>(
      `INSERT INTO invoices (tenant_id, period, period_start, period_end, currency, plan_id, pricing, lines, commitment,
         usage_cents, total_cents, closing_credit_cents, segments)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11, $12, $13::jsonb)
       ON CONFLICT (tenant_id, period) DO NOTHING
       RETURNING ${INVOICE_COLUMNS}`,
      [
        tx.tenantId,
        inv.period,
        inv.periodStart.toISOString(),
        inv.periodEnd.toISOString(),
        inv.currency,
        inv.planId,
        JSON.stringify(inv.pricing),
        JSON.stringify(inv.lines),
        inv.commitment === null ? null : JSON.stringify(inv.commitment),
        inv.usageCents,
        inv.totalCents,
        inv.closingCreditCents,
        inv.segments === null || inv.segments === undefined ? null : JSON.stringify(inv.segments),
      ],
    );
    const created = rows[0];
    if (created !== undefined) return { invoice: toInvoice(created), created: true };
    const existing = await billingRepo.invoiceByPeriod(tx, inv.period);
    if (existing === null) throw new Error('billing: invoice conflict without an invoice');
    return { invoice: existing, created: false };
  },

  async invoiceByPeriod(tx: TenantTx, period: string): Promise<InvoiceRecord | null> {
    const { rows } = await tx.query<InvoiceRow>(`SELECT ${INVOICE_COLUMNS} FROM invoices WHERE tenant_id = $1 AND period = $2`, [tx.tenantId, period]);
    const r = rows[0];
    return r === undefined ? null : toInvoice(r);
  },

  async invoice(tx: TenantTx, id: string): Promise<InvoiceRecord | null> {
    if (!UUID.test(id)) return null;
    const { rows } = await tx.query<InvoiceRow>(`SELECT ${INVOICE_COLUMNS} FROM invoices WHERE tenant_id = $1 AND id = $2`, [tx.tenantId, id]);
    const r = rows[0];
    return r === undefined ? null : toInvoice(r);
  },

  /** Issued invoices, newest period first (at most 20 years of months). */
  async invoices(tx: TenantTx): Promise<InvoiceRecord[]> {
    const { rows } = await tx.query<InvoiceRow>(`SELECT ${INVOICE_COLUMNS} FROM invoices WHERE tenant_id = $1 ORDER BY period DESC LIMIT 240`, [tx.tenantId]);
    return rows.map(toInvoice);
  },

  /** The prepaid credit left after the last invoice before `period`; null when none carried one. */
  async closingCreditBefore(tx: TenantTx, period: string): Promise<number | null> {
    const { rows } = await tx.query<{ c: string | null }>(
      `SELECT closing_credit_cents::text AS c FROM invoices WHERE tenant_id = $1 AND period < $2 ORDER BY period DESC LIMIT 1`,
      [tx.tenantId, period],
    );
    const c = rows[0]?.c;
    return c === undefined || c === null ? null : Number(c);
  },

  /** Totals only, through the platform role's column grants. */
  async invoiceTotals(tx: PlatformTx, tenantId: string): Promise<InvoiceTotals[]> {
    const { rows } = await tx.query<{ id: string; tenant_id: string; period: string; period_start: Date; period_end: Date; currency: string; total_cents: string; issued_at: Date }>(
      `SELECT id, tenant_id, period, period_start, period_end, currency, total_cents::text, issued_at
       FROM invoices WHERE tenant_id = $1 ORDER BY period DESC LIMIT 240`,
      [tenantId],
    );
    return rows.map((r) => ({
      id: r.id,
      tenantId: r.tenant_id,
      period: r.period,
      periodStart: new Date(r.period_start),
      periodEnd: new Date(r.period_end),
      currency: r.currency,
      totalCents: Number(r.total_cents),
      issuedAt: new Date(r.issued_at),
    }));
  },

  /** Sets a plan's pricing document (validated by the caller). Platform scope only (RLS). */
  async setPlanPricing(tx: TenantTx, planId: string, pricing: unknown): Promise<boolean> {
    const { rowCount } = await tx.query(`UPDATE plans SET pricing = $2::jsonb, updated_at = now() WHERE id = $1`, [
      planId,
      pricing === null ? null : JSON.stringify(pricing),
    ]);
    return rowCount > 0;
  },

  /** A plan's pricing document as stored, by plan id. */
  async planPricing(tx: TenantTx | PlatformTx, planId: string): Promise<unknown> {
    const { rows } = await tx.query<{ pricing: unknown }>(`SELECT pricing FROM plans WHERE id = $1`, [planId]);
    return rows[0]?.pricing ?? null;
  },

  /** The tenant's plan changes, oldest first (tenant_plan_history, written by a trigger on tenants). */
  async planHistory(tx: TenantTx): Promise<PlanChangeRecord[]> {
    const { rows } = await tx.query<{ plan_id: string | null; effective_from: Date }>(
      `SELECT plan_id, effective_from FROM tenant_plan_history WHERE tenant_id = $1 ORDER BY effective_from`,
      [tx.tenantId],
    );
    return rows.map((r) => ({ planId: r.plan_id, effectiveFrom: new Date(r.effective_from) }));
  },

  /** Every tenant with its time zone and creation time (platform role), for the closing job. */
  async tenantsToClose(tx: PlatformTx): Promise<TenantCloseInfo[]> {
    const { rows } = await tx.query<{ id: string; time_zone: string; created_at: Date }>(`SELECT id, time_zone, created_at FROM tenants ORDER BY id`);
    return rows.map((r) => ({ id: r.id, timeZone: r.time_zone, createdAt: new Date(r.created_at) }));
  },

  /** Which of these periods have an invoice, as `tenant_id period` (platform role: totals columns only). */
  async issuedPeriods(tx: PlatformTx, periods: readonly string[]): Promise<Set<string>> {
    const { rows } = await tx.query<{ tenant_id: string; period: string }>(`SELECT tenant_id, period FROM invoices WHERE period = ANY($1::text[])`, [[...periods]]);
    return new Set(rows.map((r) => `${r.tenant_id} ${r.period}`));
  },

  /** Every tenant id (platform role), for closing a period fleet-wide. */
  async tenantIds(tx: PlatformTx): Promise<string[]> {
    // A purged tenant has nothing left to bill (its final invoice was issued before the purge).
    const { rows } = await tx.query<{ id: string }>(
      `SELECT t.id FROM tenants t
       WHERE NOT EXISTS (SELECT 1 FROM tenant_keyrings k WHERE k.tenant_id = t.id AND k.purged_at IS NOT NULL)
       ORDER BY t.id`,
    );
    return rows.map((r) => r.id);
  },
};
