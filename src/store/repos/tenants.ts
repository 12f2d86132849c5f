/** Tenants: created and changed inside their own tenant transaction, listed by the platform. */
import { randomUUID } from 'node:crypto';
import type { TenantCacheSettings } from '../../cache/types.js';
import type { BudgetAction } from '../../limits/types.js';
import type { Tenant, TenantStatus } from '../../tenancy/types.js';
import { isUniqueViolation } from '../errors.js';
import type { PlatformTx, Store, TenantTx } from '../types.js';
import { onlyRow } from './convert.js';

/** The whole tenant row, as its own tenant sees it. */
export interface TenantRecord {
  id: string;
  slug: string;
  name: string;
  status: TenantStatus;
  regions: string[];
  /** null: every model in the catalogue. */
  allowedModels: string[] | null;
  settings: Record<string, unknown>;
  timeZone: string;
  /** The plan (tier) the tenant is on; null: none. */
  planId: string | null;
  /** null: the plan's. */
  budgetAction: BudgetAction | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface TenantInput {
  slug: string;
  name: string;
  status?: TenantStatus;
  regions?: readonly string[];
  /** '*' or null: every model. */
  allowedModels?: readonly string[] | '*' | null;
  settings?: Record<string, unknown>;
  timeZone?: string;
  planId?: string | null;
  budgetAction?: BudgetAction | null;
}

export type TenantPatch = Partial<Omit<TenantInput, 'slug'>>;

/** A `tenants` row as selected by COLUMNS. */
export interface TenantRow {
  id: string;
  slug: string;
  name: string;
  status: TenantStatus;
  regions: string[];
  allowed_models: string[] | null;
  settings: Record<string, unknown>;
  time_zone: string;
  plan_id: string | null;
  budget_action: BudgetAction | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, slug, name, status, regions, allowed_models, settings, time_zone, plan_id, budget_action, created_at, updated_at';

export function toRecord(r: TenantRow): TenantRecord {
  return {
    id: r.id,
    slug: r.slug,
    name: r.name,
    status: r.status,
    regions: r.regions,
    allowedModels: r.allowed_models,
    settings: r.settings,
    timeZone: r.time_zone,
    planId: r.plan_id,
    budgetAction: r.budget_action,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function modelsParam(m: readonly string[] | '*' | null | undefined): string[] | null {
  return m === undefined || m === null || m === '*' ? null : [...m];
}

/** A bad zone would only surface when a budget resets; refuse it on write. */
function checkTimeZone(tz: string): string {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    throw new RangeError(`unknown time zone: ${tz}`);
  }
  return tz;
}

export const tenantsRepo = {
  /** Creates the tenant whose id is set on the transaction (the caller picks a random uuid). */
  async insert(tx: TenantTx, input: TenantInput): Promise<TenantRecord> {
    const { rows } = await tx.query<TenantRow>(
      `INSERT INTO tenants (id, slug, name, status, regions, allowed_models, settings, time_zone, plan_id, budget_action)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING ${COLUMNS}`,
      [
        tx.tenantId,
        input.slug,
        input.name,
        input.status ?? 'active',
        [...(input.regions ?? [])],
        modelsParam(input.allowedModels),
        input.settings ?? {},
        checkTimeZone(input.timeZone ?? 'UTC'),
        input.planId ?? null,
        input.budgetAction ?? null,
      ],
    );
    return toRecord(onlyRow(rows));
  },

  /** The transaction's own tenant; null if it does not exist. */
  async get(tx: TenantTx): Promise<TenantRecord | null> {
    const { rows } = await tx.query<TenantRow>(`SELECT ${COLUMNS} FROM tenants WHERE id = $1`, [tx.tenantId]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  /** Changes the given fields of the transaction's own tenant; null if it does not exist. */
  async update(tx: TenantTx, patch: TenantPatch): Promise<TenantRecord | null> {
    // One constant statement: each field has a "given" flag, so no SQL is assembled from parts.
    const { rows } = await tx.query<TenantRow>(
      `UPDATE tenants SET
         name = CASE WHEN $2 THEN $3 ELSE name END,
         status = CASE WHEN $4 THEN $5 ELSE status END,
         regions = CASE WHEN $6 THEN $7::text[] ELSE regions END,
         allowed_models = CASE WHEN $8 THEN $9::text[] ELSE allowed_models END,
         settings = CASE WHEN $10 THEN $11::jsonb ELSE settings END,
         time_zone = CASE WHEN $12 THEN $13 ELSE time_zone END,
         plan_id = CASE WHEN $14 THEN $15::uuid ELSE plan_id END,
         budget_action = CASE WHEN $16 THEN $17 ELSE budget_action END,
         updated_at = now()
       WHERE id = $1 RETURNING ${COLUMNS}`,
      [
        tx.tenantId,
        patch.name !== undefined,
        patch.name ?? null,
        patch.status !== undefined,
        patch.status ?? null,
        patch.regions !== undefined,
        patch.regions === undefined ? null : [...patch.regions],
        patch.allowedModels !== undefined,
        modelsParam(patch.allowedModels),
        patch.settings !== undefined,
        patch.settings ?? null,
        patch.timeZone !== undefined,
        patch.timeZone === undefined ? null : checkTimeZone(patch.timeZone),
        patch.planId !== undefined,
        patch.planId ?? null,
        patch.budgetAction !== undefined,
        patch.budgetAction ?? null,
      ],
    );
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  /** Sets the response-cache opt-in in the tenant's settings document, leaving its other settings. */
  async setCacheSettings(tx: TenantTx, cache: TenantCacheSettings): Promise<void> {
    await tx.query(`UPDATE tenants SET settings = settings || jsonb_build_object('cache', $2::jsonb), updated_at = now() WHERE id = $1`, [
      tx.tenantId,
      JSON.stringify(cache),
    ]);
  },

  /** Sets the request-log opt-in (src/logs/settings.ts) in the tenant's settings document, leaving its other settings. */
  async setLogSettings(tx: TenantTx, logs: { enabled: boolean; content: boolean; retentionDays?: number | undefined }): Promise<void> {
    await tx.query(`UPDATE tenants SET settings = settings || jsonb_build_object('logs', $2::jsonb), updated_at = now() WHERE id = $1`, [
      tx.tenantId,
      JSON.stringify(logs),
    ]);
  },

  async findIdBySlug(tx: PlatformTx, slug: string): Promise<string | null> {
    const { rows } = await tx.query<{ id: string }>('SELECT id FROM tenants WHERE slug = $1', [slug]);
    return rows[0]?.id ?? null;
  },

  /** Every tenant with its domains, as the hot-path snapshot holds them. */
  async listForSnapshot(tx: PlatformTx): Promise<Tenant[]> {
    const { rows } = await tx.query<{
      id: string;
      slug: string;
      name: string;
      status: TenantStatus;
      regions: string[];
      allowed_models: string[] | null;
      updated_at: Date;
      domains: string[];
    }>(
      `SELECT t.id, t.slug, t.name, t.status, t.regions, t.allowed_models, t.updated_at,
              COALESCE((SELECT array_agg(d.domain ORDER BY d.domain) FROM tenant_domains d
                        WHERE d.tenant_id = t.id AND d.verified_at IS NOT NULL),
                       '{}'::text[]) AS domains
       FROM tenants t ORDER BY t.slug`,
    );
    return rows.map((r) => ({
      id: r.id,
      slug: r.slug,
      name: r.name,
      status: r.status,
      domains: r.domains,
      allowedModels: r.allowed_models ?? '*',
      regions: r.regions,
      updatedAtMs: r.updated_at.getTime(),
    }));
  },
};

/**
 * Creates or updates a tenant by slug (bootstrap from configuration) without owner rights:
 * the platform role finds the id, the write runs inside that tenant (a new random id for a new
 * tenant). This works where the gateway's database user is not the owner. Two bootstraps
 * racing on one new slug: the loser's insert hits the unique slug and it retries as an update.
 */
export async function upsertTenantBySlug(
  store: Pick<Store, 'withTenant' | 'platform'>,
  input: TenantInput,
): Promise<{ tenant: TenantRecord; created: boolean }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const id = await store.platform((tx) => tenantsRepo.findIdBySlug(tx, input.slug));
    if (id !== null) {
      const patch: TenantPatch = {
        name: input.name,
        status: input.status,
        regions: input.regions,
        allowedModels: input.allowedModels,
        settings: input.settings,
        timeZone: input.timeZone,
        planId: input.planId,
        budgetAction: input.budgetAction,
      };
      const tenant = await store.withTenant(id, (tx) => tenantsRepo.update(tx, patch));
      if (tenant !== null) return { tenant, created: false };
      continue; // deleted meanwhile
    }
    try {
      const tenant = await store.withTenant(randomUUID(), (tx) => tenantsRepo.insert(tx, input));
      return { tenant, created: true };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }
  throw new Error(`could not create or update tenant ${input.slug}: it keeps changing concurrently`);
}
