/**
 * API keys: only the keyed hash and the public prefix are stored (src/crypto/keys.ts). The
 * platform role lists every key for the authentication snapshot; everything else runs inside
 * the key's tenant.
 */
import type { ApiKeyRecord, Scope } from '../../tenancy/types.js';
import type { PlatformTx, TenantTx } from '../types.js';
import { checkScopes, isUuid, toBuffer, toEpochMs, toScopes } from './convert.js';

/** A stored key: the snapshot's record plus bookkeeping. */
export interface StoredApiKey extends ApiKeyRecord {
  name: string;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface NewApiKey {
  teamId?: string | null;
  name: string;
  prefix: string;
  /** hashApiKey(key, pepper): 32 bytes. */
  hash: Buffer;
  scopes: readonly Scope[];
  /** null: the tenant's list. */
  allowedModels?: readonly string[] | null;
  expiresAt?: Date | null;
}

export type InsertApiKeyResult = { ok: true; key: StoredApiKey } | { ok: false; reason: 'key_in_use' };

interface ApiKeyRow {
  id: string;
  allowed_cidrs: string[] | null;
  tenant_id: string;
  team_id: string | null;
  name: string;
  prefix: string;
  key_hash: Buffer;
  scopes: string[];
  allowed_models: string[] | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

// Exactly the columns gatehouse_platform may read, so one mapping serves both roles.
const COLUMNS =
  'id, tenant_id, team_id, name, prefix, key_hash, scopes, allowed_models, allowed_cidrs::text[] AS allowed_cidrs, expires_at, revoked_at, created_at';

function toRecord(r: ApiKeyRow): StoredApiKey {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    teamId: r.team_id,
    name: r.name,
    prefix: r.prefix,
    hash: toBuffer(r.key_hash),
    scopes: toScopes(r.scopes),
    allowedModels: r.allowed_models,
    allowedCidrs: r.allowed_cidrs,
    expiresAt: toEpochMs(r.expires_at),
    revoked: r.revoked_at !== null,
    revokedAtMs: toEpochMs(r.revoked_at),
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  };
}

/**
 * What the hot-path snapshot reads of a key, and nothing else: no name, no created_at, times as
 * epoch ms (a Date per row costs ~120 bytes at 100,000 keys), and only keys that are live or
 * were revoked recently (the snapshot keeps those for auditing their use).
 */
interface SnapshotKeyRow {
  id: string;
  tenant_id: string;
  team_id: string | null;
  prefix: string;
  key_hash: Buffer | Uint8Array;
  scopes: string[];
  allowed_models: string[] | null;
  allowed_cidrs: string[] | null;
  expires_ms: number | null;
  revoked_ms: number | null;
}

const SNAPSHOT_COLUMNS = `id, tenant_id, team_id, prefix, key_hash, scopes, allowed_models,
  allowed_cidrs::text[] AS allowed_cidrs,
  floor(extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms,
  floor(extract(epoch FROM revoked_at) * 1000)::float8 AS revoked_ms`;

/** Revoked keys older than the cut-off (epoch ms) are of no use to the snapshot. */
const HELD = 'revoked_at IS NULL OR revoked_at > to_timestamp($1::float8 / 1000)';

function toSnapshotRecord(r: SnapshotKeyRow): ApiKeyRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    teamId: r.team_id,
    prefix: r.prefix,
    hash: toBuffer(r.key_hash),
    scopes: toScopes(r.scopes),
    allowedModels: r.allowed_models,
    expiresAt: r.expires_ms,
    revoked: r.revoked_ms !== null,
    revokedAtMs: r.revoked_ms,
    allowedCidrs: r.allowed_cidrs,
  };
}

/** Where a page of the snapshot's keys continues: after this (tenant, key) in primary-key order. */
export interface SnapshotKeyCursor {
  tenantId: string;
  id: string;
}

function params(tx: TenantTx, k: NewApiKey): unknown[] {
  return [
    tx.tenantId,
    k.teamId ?? null,
    k.name,
    k.prefix,
    k.hash,
    checkScopes(k.scopes),
    k.allowedModels === undefined || k.allowedModels === null ? null : [...k.allowedModels],
    k.expiresAt ?? null,
  ];
}

export const apiKeysRepo = {
  /**
   * Stores a new key. `key_in_use`: the same key (hash) already exists, in this tenant or any
   * other; a key belongs to exactly one tenant.
   */
  async insert(tx: TenantTx, k: NewApiKey): Promise<InsertApiKeyResult> {
    // DO NOTHING rather than catching the unique violation, which would abort the transaction.
    const { rows } = await tx.query<ApiKeyRow>(
      `INSERT INTO api_keys (tenant_id, team_id, name, prefix, key_hash, scopes, allowed_models, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
      params(tx, k),
    );
    return rows[0] === undefined ? { ok: false, reason: 'key_in_use' } : { ok: true, key: toRecord(rows[0]) };
  },

  /**
   * Bootstrap of keys declared in configuration: updates this tenant's key with the same hash
   * (un-revoking it), or inserts it. `key_in_use` if another tenant has it.
   */
  async upsertByHash(tx: TenantTx, k: NewApiKey): Promise<InsertApiKeyResult> {
    const { rows } = await tx.query<ApiKeyRow>(
      `UPDATE api_keys SET team_id = $2, name = $3, prefix = $4, scopes = $6, allowed_models = $7,
              expires_at = $8, revoked_at = NULL
       WHERE tenant_id = $1 AND key_hash = $5 RETURNING ${COLUMNS}`,
      params(tx, k),
    );
    if (rows[0] !== undefined) return { ok: true, key: toRecord(rows[0]) };
    return apiKeysRepo.insert(tx, k);
  },

  async get(tx: TenantTx, id: string): Promise<StoredApiKey | null> {
    if (!isUuid(id)) return null;
    const { rows } = await tx.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async list(tx: TenantTx): Promise<StoredApiKey[]> {
    const { rows } = await tx.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at, id`);
    return rows.map(toRecord);
  },

  /** Revokes the key (idempotent). False if this tenant has no such key. */
  async revoke(tx: TenantTx, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const { rows } = await tx.query<{ id: string }>(
      'UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING id',
      [id],
    );
    return rows.length > 0;
  },

  /** Every key of every tenant, with its bookkeeping (tools and tests; the snapshot pages). */
  async listAll(tx: PlatformTx): Promise<StoredApiKey[]> {
    const { rows } = await tx.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys ORDER BY tenant_id, created_at, id`);
    return rows.map(toRecord);
  },

  /**
   * One page of the snapshot's keys across tenants, in primary-key order (tenant, id), after
   * `after`: a full reload reads 100,000 keys page by page, so the driver's rows of one page are
   * all that exists of them at a time. Keys revoked before `revokedSinceMs` are left out; with
   * `tenantIds`, only those tenants' keys (what a full reload found changed).
   */
  async pageForSnapshot(
    tx: PlatformTx,
    after: SnapshotKeyCursor | null,
    limit: number,
    revokedSinceMs: number,
    tenantIds?: readonly string[],
  ): Promise<ApiKeyRecord[]> {
    const values: unknown[] = [revokedSinceMs, limit];
    let where = `(${HELD})`;
    if (tenantIds !== undefined) {
      values.push(tenantIds);
      where += ` AND tenant_id = ANY($${values.length}::uuid[])`;
    }
    if (after !== null) {
      values.push(after.tenantId, after.id);
      where += ` AND (tenant_id, id) > ($${values.length - 1}::uuid, $${values.length}::uuid)`;
    }
    const { rows } = await tx.query<SnapshotKeyRow>(`SELECT ${SNAPSHOT_COLUMNS} FROM api_keys WHERE ${where} ORDER BY tenant_id, id LIMIT $2`, values);
    return rows.map(toSnapshotRecord);
  },

  /**
   * Per tenant, a digest of exactly what pageForSnapshot would read of its keys (the same rows
   * and columns): their count and two 64-bit hashes of each whole row (PostgreSQL's own
   * hash_record_extended, two seeds) combined with XOR, so no sort and no text conversion:
   * ~0.1 s for 100,000 keys where md5 over the rows' text in key order took ~0.33 s. A full
   * reload compares it with the digest the tenant's snapshot entry was read with and re-reads
   * only the tenants that differ, instead of 100,000 rows. Rows are unique (by id), so a change
   * of any column of any row, or a row added or gone, leaves the digest equal only if 128 bits
   * of hash collide: a check against changes whose notification was lost, not against forgery
   * (the hash is not cryptographic). Read in the same repeatable-read transaction as the keys,
   * it describes them. Tenants with no such key are absent.
   */
  async snapshotDigests(tx: PlatformTx, revokedSinceMs: number): Promise<Map<string, string>> {
    const { rows } = await tx.query<{ tenant_id: string; digest: string }>(
      `SELECT s.tenant_id,
              count(*) || ':' || bit_xor(hash_record_extended(s, 1)) || ':' || bit_xor(hash_record_extended(s, 2)) AS digest
       FROM (SELECT ${SNAPSHOT_COLUMNS} FROM api_keys WHERE ${HELD}) s GROUP BY s.tenant_id`,
      [revokedSinceMs],
    );
    return new Map(rows.map((r) => [r.tenant_id, r.digest]));
  },

  /** The snapshot's keys of the transaction's tenant (a tenant-scoped refresh), ordered by id. */
  async listForSnapshot(tx: TenantTx, revokedSinceMs: number): Promise<ApiKeyRecord[]> {
    const { rows } = await tx.query<SnapshotKeyRow>(`SELECT ${SNAPSHOT_COLUMNS} FROM api_keys WHERE ${HELD} ORDER BY id`, [revokedSinceMs]);
    return rows.map(toSnapshotRecord);
  },

  /**
   * Moves keys hashed with a previous master key's pepper onto the current one. Compare-and-set
   * on the old hash: a key rotated or re-hashed meanwhile is left alone. Returns the rows moved.
   */
  async rehash(tx: TenantTx, moves: readonly { id: string; from: Buffer; to: Buffer }[]): Promise<number> {
    if (moves.length === 0) return 0;
    const { rowCount } = await tx.query(
      `UPDATE api_keys AS k SET key_hash = v.to_hash
       FROM unnest($1::uuid[], $2::bytea[], $3::bytea[]) AS v (id, from_hash, to_hash)
       WHERE k.id = v.id AND k.key_hash = v.from_hash`,
      [moves.map((m) => m.id), moves.map((m) => m.from), moves.map((m) => m.to)],
    );
    return rowCount;
  },
};
