/**
 * The admin API's view of tenants: the full row with its version inside the tenant, and
 * metadata-only listings, lookups and counts across tenants through the platform role.
 */
import type { BudgetAction } from '../../limits/types.js';
import type { TenantStatus } from '../../tenancy/types.js';
import type { PlatformTx, TenantTx } from '../types.js';
import { isUuid } from './convert.js';
import { toPage, type Page, type PageRequest } from './page.js';
import { toRecord, type TenantRecord, type TenantRow } from './tenants.js';

/** What the admin API shows: a tenant marked for deletion is `deleting`, whatever its status. */
export type ManagedTenantStatus = TenantStatus | 'deleting';

export interface ManagedTenant extends TenantRecord {
  version: number;
  deletionRequestedAt: Date | null;
}

/** Metadata the platform role may read: no settings. */
export interface TenantSummary {
  id: string;
  slug: string;
  name: string;
  status: ManagedTenantStatus;
  regions: string[];
  allowedModels: string[] | null;
  timeZone: string;
  planId: string | null;
  budgetAction: BudgetAction | null;
  createdAt: Date;
  updatedAt: Date;
  deletionRequestedAt: Date | null;
}

interface ManagedRow extends TenantRow {
  version: string | number;
  deletion_requested_at: Date | null;
}

type SummaryRow = Omit<ManagedRow, 'settings' | 'version'>;

const MANAGED =
  'id, slug, name, status, regions, allowed_models, settings, time_zone, plan_id, budget_action, created_at, updated_at, version, deletion_requested_at';
// Exactly the columns granted to gatehouse_platform.
const SUMMARY =
  'id, slug, name, status, regions, allowed_models, time_zone, plan_id, budget_action, created_at, updated_at, deletion_requested_at';

function toManaged(r: ManagedRow): ManagedTenant {
  return { ...toRecord(r), version: Number(r.version), deletionRequestedAt: r.deletion_requested_at };
}

function toSummary(r: SummaryRow): TenantSummary {
  return {
    id: r.id,
    slug: r.slug,
    name: r.name,
    status: r.deletion_requested_at === null ? r.status : 'deleting',
    regions: r.regions,
    allowedModels: r.allowed_models,
    timeZone: r.time_zone,
    planId: r.plan_id,
    budgetAction: r.budget_action,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deletionRequestedAt: r.deletion_requested_at,
  };
}

export interface ManagedTenantRef {
  id: string;
  slug: string;
  deleting: boolean;
}

export interface FleetCounts {
  tenants: { active: number; suspended: number; deleting: number };
  teams: number;
  domains: number;
  apiKeys: { active: number; revoked: number; expired: number };
}

export const tenantsManageRepo = {
  /** The transaction's own tenant with its version; null if it does not exist. */
  async get(tx: TenantTx, opts: { forUpdate?: boolean } = {}): Promise<ManagedTenant | null> {
    const sql = opts.forUpdate
      ? `SELECT ${MANAGED} FROM tenants WHERE id = $1 FOR UPDATE`
      : `SELECT ${MANAGED} FROM tenants WHERE id = $1`;
    const { rows } = await tx.query<ManagedRow>(sql, [tx.tenantId]);
    return rows[0] === undefined ? null : toManaged(rows[0]);
  },

  /**
   * Moves the tenant's version on a change stored elsewhere (its limit rules, for the admin API's
   * legacy `limits` field), so an ETag of the tenant cannot miss it.
   */
  async bumpVersion(tx: TenantTx): Promise<void> {
    await tx.query('UPDATE tenants SET version = version + 1, updated_at = now() WHERE id = $1', [tx.tenantId]);
  },

  /** Marks the tenant for deletion and suspends it, so the data plane refuses it at once. */
  async markForDeletion(tx: TenantTx): Promise<ManagedTenant | null> {
    const { rows } = await tx.query<ManagedRow>(
      `UPDATE tenants SET status = 'suspended', deletion_requested_at = COALESCE(deletion_requested_at, now())
       WHERE id = $1 RETURNING ${MANAGED}`,
      [tx.tenantId],
    );
    return rows[0] === undefined ? null : toManaged(rows[0]);
  },

  /** A tenant by id (UUID-shaped ref) or slug, never both (as src/tenancy/snapshot.ts). */
  async resolve(tx: PlatformTx, ref: string): Promise<ManagedTenantRef | null> {
    const byId = isUuid(ref);
    const { rows } = await tx.query<{ id: string; slug: string; deleting: boolean }>(
      byId
        ? 'SELECT id, slug, deletion_requested_at IS NOT NULL AS deleting FROM tenants WHERE id = $1::uuid'
        : 'SELECT id, slug, deletion_requested_at IS NOT NULL AS deleting FROM tenants WHERE slug = $1',
      [byId ? ref.toLowerCase() : ref],
    );
    return rows[0] ?? null;
  },

  async getSummary(tx: PlatformTx, id: string): Promise<TenantSummary | null> {
    if (!isUuid(id)) return null;
    const { rows } = await tx.query<SummaryRow>(`SELECT ${SUMMARY} FROM tenants WHERE id = $1`, [id]);
    return rows[0] === undefined ? null : toSummary(rows[0]);
  },

  /** Ordered by slug; `status` filters on the status the admin API shows. */
  async list(tx: PlatformTx, page: PageRequest, filter: { status?: ManagedTenantStatus } = {}): Promise<Page<TenantSummary>> {
    const { rows } = await tx.query<SummaryRow>(
      `SELECT ${SUMMARY} FROM tenants
       WHERE ($1::text IS NULL OR slug > $1)
         AND ($2::text IS NULL OR (CASE WHEN deletion_requested_at IS NULL THEN status ELSE 'deleting' END) = $2)
       ORDER BY slug LIMIT $3`,
      [page.after, filter.status ?? null, page.limit + 1],
    );
    return toPage(rows, page, toSummary, (r) => r.slug);
  },

  /** Counts only (DESIGN §1: fleet health without customer content). */
  async fleetCounts(tx: PlatformTx): Promise<FleetCounts> {
    const { rows } = await tx.query<{
      active: number;
      suspended: number;
      deleting: number;
      teams: number;
      domains: number;
      keys_active: number;
      keys_revoked: number;
      keys_expired: number;
    }>(
      `SELECT
         (SELECT count(*) FROM tenants WHERE deletion_requested_at IS NULL AND status = 'active')::int AS active,
         (SELECT count(*) FROM tenants WHERE deletion_requested_at IS NULL AND status = 'suspended')::int AS suspended,
         (SELECT count(*) FROM tenants WHERE deletion_requested_at IS NOT NULL)::int AS deleting,
         (SELECT count(*) FROM teams)::int AS teams,
         (SELECT count(*) FROM tenant_domains)::int AS domains,
         (SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()))::int AS keys_active,
         (SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL)::int AS keys_revoked,
         (SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND expires_at <= now())::int AS keys_expired`,
    );
    const r = rows[0];
    if (r === undefined) throw new Error('fleet counts returned no row');
    return {
      tenants: { active: r.active, suspended: r.suspended, deleting: r.deleting },
      teams: r.teams,
      domains: r.domains,
      apiKeys: { active: r.keys_active, revoked: r.keys_revoked, expired: r.keys_expired },
    };
  },
};
