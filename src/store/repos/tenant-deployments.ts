/**
 * Tenant-dedicated deployments and model aliases (migration 0012): rows in clear, the upstream
 * secret stays in provider_credentials (sealed) and is opened only by the snapshot loader, in
 * the tenant's own transaction (`listForSnapshot`), never by the admin API.
 */
import type { PlatformTx, TenantTx } from '../types.js';
import { isUuid } from './convert.js';
import { toPage, type Page, type PageRequest } from './page.js';
import { providerCredentialsRepo } from './provider-credentials.js';
import type { FieldSealer } from './sealed.js';

export interface TenantDeploymentInput {
  model: string;
  kind: 'chat' | 'completion' | 'embedding';
  provider: string;
  baseUrl: string;
  credentialId: string | null;
  upstreamModel: string;
  apiVersion: string | null;
  region: string;
  capacity: number;
  timeoutMs: number;
  prices: { input: number; output: number; cachedInput: number; request: number };
}

export interface TenantDeploymentRecord extends TenantDeploymentInput {
  id: string;
  tenantId: string;
  createdAt: Date;
  updatedAt: Date;
  /** updated_at in microseconds: the ETag. */
  stamp: string;
}

/** A record with its credential's secret opened: only the snapshot holds these. */
export interface TenantDeploymentWithSecret extends TenantDeploymentRecord {
  apiKey: string;
  /** The provider kind its credential was stored for (what its secret holds); null without one. */
  credentialProvider: string | null;
}

export interface AliasRecord {
  alias: string;
  model: string;
  createdAt: Date;
  updatedAt: Date;
  stamp: string;
}

interface Row {
  id: string;
  tenant_id: string;
  model: string;
  kind: TenantDeploymentInput['kind'];
  provider: string;
  base_url: string;
  credential_id: string | null;
  upstream_model: string;
  api_version: string | null;
  region: string;
  capacity: number;
  timeout_ms: number;
  price_input: string | number;
  price_output: string | number;
  price_cached_input: string | number;
  price_request: string | number;
  created_at: Date;
  updated_at: Date;
  stamp: string;
}

interface AliasRow {
  alias: string;
  model: string;
  created_at: Date;
  updated_at: Date;
  stamp: string;
}

const STAMP = '(extract(epoch from updated_at) * 1000000)::bigint::text AS stamp';
const COLUMNS = `id, tenant_id, model, kind, provider, base_url, credential_id, upstream_model, api_version, region, capacity,
  timeout_ms, price_input, price_output, price_cached_input, price_request, created_at, updated_at, ${STAMP}`;
const ALIAS_COLUMNS = `alias, model, created_at, updated_at, ${STAMP}`;

function toRecord(r: Row): TenantDeploymentRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    model: r.model,
    kind: r.kind,
    provider: r.provider,
    baseUrl: r.base_url,
    credentialId: r.credential_id,
    upstreamModel: r.upstream_model,
    apiVersion: r.api_version,
    region: r.region,
    capacity: r.capacity,
    timeoutMs: r.timeout_ms,
    prices: { input: Number(r.price_input), output: Number(r.price_output), cachedInput: Number(r.price_cached_input), request: Number(r.price_request) },
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    stamp: r.stamp,
  };
}

const toAlias = (r: AliasRow): AliasRecord => ({ alias: r.alias, model: r.model, createdAt: r.created_at, updatedAt: r.updated_at, stamp: r.stamp });

function values(tx: TenantTx, d: TenantDeploymentInput): unknown[] {
  return [
    tx.tenantId,
    d.model,
    d.kind,
    d.provider,
    d.baseUrl,
    d.credentialId,
    d.upstreamModel,
    d.apiVersion,
    d.region,
    d.capacity,
    d.timeoutMs,
    d.prices.input,
    d.prices.output,
    d.prices.cachedInput,
    d.prices.request,
  ];
}

export const tenantDeploymentsRepo = {
  async create(tx: TenantTx, input: TenantDeploymentInput): Promise<TenantDeploymentRecord> {
    const { rows } = await tx.query<Row>(
      `INSERT INTO tenant_deployments (tenant_id, model, kind, provider, base_url, credential_id, upstream_model, api_version,
         region, capacity, timeout_ms, price_input, price_output, price_cached_input, price_request)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING ${COLUMNS}`,
      values(tx, input),
    );
    return toRecord(rows[0] as Row);
  },

  async get(tx: TenantTx, id: string, opts: { forUpdate?: boolean } = {}): Promise<TenantDeploymentRecord | null> {
    if (!isUuid(id)) return null;
    const { rows } = await tx.query<Row>(
      `SELECT ${COLUMNS} FROM tenant_deployments WHERE tenant_id = $1 AND id = $2${opts.forUpdate === true ? ' FOR UPDATE' : ''}`,
      [tx.tenantId, id],
    );
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  /** Keyset pages by id. */
  async page(tx: TenantTx, req: PageRequest): Promise<Page<TenantDeploymentRecord>> {
    const { rows } = await tx.query<Row>(
      `SELECT ${COLUMNS} FROM tenant_deployments WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id > $2::uuid) ORDER BY id LIMIT $3`,
      [tx.tenantId, req.after, req.limit + 1],
    );
    return toPage(rows, req, toRecord, (r) => r.id);
  },

  async update(tx: TenantTx, id: string, input: TenantDeploymentInput): Promise<TenantDeploymentRecord | null> {
    if (!isUuid(id)) return null;
    const { rows } = await tx.query<Row>(
      `UPDATE tenant_deployments SET model = $2, kind = $3, provider = $4, base_url = $5, credential_id = $6, upstream_model = $7,
         api_version = $8, region = $9, capacity = $10, timeout_ms = $11, price_input = $12, price_output = $13,
         price_cached_input = $14, price_request = $15, updated_at = now()
       WHERE tenant_id = $1 AND id = $16 RETURNING ${COLUMNS}`,
      [...values(tx, input), id],
    );
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async remove(tx: TenantTx, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const r = await tx.query('DELETE FROM tenant_deployments WHERE tenant_id = $1 AND id = $2', [tx.tenantId, id]);
    return r.rowCount > 0;
  },

  /** Deployments that use a credential (which then cannot be deleted). */
  async countUsing(tx: TenantTx, credentialId: string): Promise<number> {
    if (!isUuid(credentialId)) return 0;
    const { rows } = await tx.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM tenant_deployments WHERE tenant_id = $1 AND credential_id = $2',
      [tx.tenantId, credentialId],
    );
    return Number(rows[0]?.n ?? 0);
  },

  /**
   * Every deployment of the transaction's tenant with its credential's secret opened with the
   * tenant's data key: for the in-memory snapshot only. Never logged, never returned by the API.
   */
  async listForSnapshot(tx: TenantTx, sealer: FieldSealer): Promise<TenantDeploymentWithSecret[]> {
    const { rows } = await tx.query<Row>(`SELECT ${COLUMNS} FROM tenant_deployments WHERE tenant_id = $1 ORDER BY created_at, id`, [tx.tenantId]);
    const credentials = new Map<string, { apiKey: string; provider: string | null }>();
    const out: TenantDeploymentWithSecret[] = [];
    for (const r of rows) {
      const record = toRecord(r);
      let credential: { apiKey: string; provider: string | null } = { apiKey: '', provider: null };
      if (record.credentialId !== null) {
        const id = record.credentialId;
        credential = credentials.get(id) ?? {
          apiKey: (await providerCredentialsRepo.readSecret(tx, sealer, id)) ?? '',
          provider: (await providerCredentialsRepo.get(tx, id))?.provider ?? null,
        };
        credentials.set(id, credential);
      }
      out.push({ ...record, apiKey: credential.apiKey, credentialProvider: credential.provider });
    }
    return out;
  },

  /** Tenants with dedicated deployments or aliases: the platform role sees only tenant ids here. */
  async tenantsWithModels(tx: PlatformTx): Promise<string[]> {
    const { rows } = await tx.query<{ tenant_id: string }>(
      'SELECT tenant_id FROM tenant_deployments UNION SELECT tenant_id FROM tenant_model_aliases ORDER BY 1',
    );
    return rows.map((r) => r.tenant_id);
  },
};

export const modelAliasesRepo = {
  async list(tx: TenantTx): Promise<AliasRecord[]> {
    const { rows } = await tx.query<AliasRow>(`SELECT ${ALIAS_COLUMNS} FROM tenant_model_aliases WHERE tenant_id = $1 ORDER BY alias`, [tx.tenantId]);
    return rows.map(toAlias);
  },

  async get(tx: TenantTx, alias: string, opts: { forUpdate?: boolean } = {}): Promise<AliasRecord | null> {
    const { rows } = await tx.query<AliasRow>(
      `SELECT ${ALIAS_COLUMNS} FROM tenant_model_aliases WHERE tenant_id = $1 AND alias = $2${opts.forUpdate === true ? ' FOR UPDATE' : ''}`,
      [tx.tenantId, alias],
    );
    return rows[0] === undefined ? null : toAlias(rows[0]);
  },

  /** Creates or repoints an alias; `created` tells which. */
  async put(tx: TenantTx, alias: string, model: string): Promise<{ alias: AliasRecord; created: boolean }> {
    const { rows } = await tx.query<AliasRow & { inserted: boolean }>(
      `INSERT INTO tenant_model_aliases (tenant_id, alias, model) VALUES ($1, $2, $3)
       ON CONFLICT (tenant_id, alias) DO UPDATE SET model = EXCLUDED.model, updated_at = now()
       RETURNING ${ALIAS_COLUMNS}, (xmax = 0) AS inserted`,
      [tx.tenantId, alias, model],
    );
    const row = rows[0] as AliasRow & { inserted: boolean };
    return { alias: toAlias(row), created: row.inserted };
  },

  async remove(tx: TenantTx, alias: string): Promise<boolean> {
    const r = await tx.query('DELETE FROM tenant_model_aliases WHERE tenant_id = $1 AND alias = $2', [tx.tenantId, alias]);
    return r.rowCount > 0;
  },

  /** Replaces the whole set (configuration as code). */
  async replaceAll(tx: TenantTx, aliases: Readonly<Record<string, string>>): Promise<void> {
    const keep = Object.keys(aliases);
    await tx.query('DELETE FROM tenant_model_aliases WHERE tenant_id = $1 AND NOT (alias = ANY($2::text[]))', [tx.tenantId, keep]);
    for (const [alias, model] of Object.entries(aliases)) {
      const have = await modelAliasesRepo.get(tx, alias);
      if (have?.model !== model) await modelAliasesRepo.put(tx, alias, model);
    }
  },
};
