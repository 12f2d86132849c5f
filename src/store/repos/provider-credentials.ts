/**
 * Tenant-owned provider credentials (bring your own key): metadata in clear, the secret sealed
 * with the tenant's data key. Reading the secret is a separate call from reading the record,
 * so listing credentials never decrypts anything.
 */
import { randomUUID } from 'node:crypto';
import type { PlatformTx, TenantTx } from '../types.js';
import { isUuid, toBuffer } from './convert.js';
import type { FieldRef, FieldSealer } from './sealed.js';

export interface ProviderCredentialRecord {
  id: string;
  tenantId: string;
  name: string;
  /** Provider kind (openai, azure, openai-compatible, ...). */
  provider: string;
  baseUrl: string | null;
  /** Version of the data key the secret is encrypted with. */
  keyVersion: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface ProviderCredentialInput {
  name: string;
  provider: string;
  baseUrl?: string | null;
  /** The provider API key: stored only encrypted. */
  secret: string;
}

export type CreateProviderCredentialResult =
  | { ok: true; credential: ProviderCredentialRecord }
  | { ok: false; reason: 'name_taken' };

interface Row {
  id: string;
  tenant_id: string;
  name: string;
  provider: string;
  base_url: string | null;
  key_version: number;
  created_at: Date;
  updated_at: Date;
}

// Exactly the columns gatehouse_platform may read, so one mapping serves both roles.
const COLUMNS = 'id, tenant_id, name, provider, base_url, key_version, created_at, updated_at';
const TABLE = 'provider_credentials';

export const providerCredentialSecret = (recordId: string): FieldRef => ({ table: TABLE, recordId, column: 'secret_ciphertext' });

function toRecord(r: Row): ProviderCredentialRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    provider: r.provider,
    baseUrl: r.base_url,
    keyVersion: r.key_version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export const providerCredentialsRepo = {
  async create(tx: TenantTx, sealer: FieldSealer, input: ProviderCredentialInput): Promise<CreateProviderCredentialResult> {
    const id = randomUUID();
    const sealed = await sealer.seal(tx, providerCredentialSecret(id), Buffer.from(input.secret, 'utf8'));
    const { rows } = await tx.query<Row>(
      `INSERT INTO provider_credentials (tenant_id, id, name, provider, base_url, secret_ciphertext, key_version)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
      [tx.tenantId, id, input.name, input.provider, input.baseUrl ?? null, sealed.ciphertext, sealed.keyVersion],
    );
    return rows[0] === undefined ? { ok: false, reason: 'name_taken' } : { ok: true, credential: toRecord(rows[0]) };
  },

  async get(tx: TenantTx, id: string): Promise<ProviderCredentialRecord | null> {
    if (!isUuid(id)) return null;
    const { rows } = await tx.query<Row>(`SELECT ${COLUMNS} FROM provider_credentials WHERE tenant_id = $1 AND id = $2`, [tx.tenantId, id]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async list(tx: TenantTx): Promise<ProviderCredentialRecord[]> {
    const { rows } = await tx.query<Row>(`SELECT ${COLUMNS} FROM provider_credentials WHERE tenant_id = $1 ORDER BY name`, [tx.tenantId]);
    return rows.map(toRecord);
  },

  /** The decrypted secret; null if this tenant has no such credential. */
  async readSecret(tx: TenantTx, sealer: FieldSealer, id: string): Promise<string | null> {
    if (!isUuid(id)) return null;
    // The id as stored (lower case), not as given: it is part of the associated data.
    const { rows } = await tx.query<{ id: string; secret_ciphertext: Buffer }>(
      'SELECT id, secret_ciphertext FROM provider_credentials WHERE tenant_id = $1 AND id = $2',
      [tx.tenantId, id],
    );
    const r = rows[0];
    if (r === undefined) return null;
    return (await sealer.open(tx, providerCredentialSecret(r.id), toBuffer(r.secret_ciphertext))).toString('utf8');
  },

  /** Replaces the secret (key rotation at the provider); false if there is no such credential. */
  async replaceSecret(tx: TenantTx, sealer: FieldSealer, id: string, secret: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const { rows } = await tx.query<{ id: string }>(
      'SELECT id FROM provider_credentials WHERE tenant_id = $1 AND id = $2 FOR UPDATE',
      [tx.tenantId, id],
    );
    const stored = rows[0]?.id;
    if (stored === undefined) return false;
    const sealed = await sealer.seal(tx, providerCredentialSecret(stored), Buffer.from(secret, 'utf8'));
    await tx.query(
      `UPDATE provider_credentials SET secret_ciphertext = $3, key_version = $4, updated_at = now()
       WHERE tenant_id = $1 AND id = $2`,
      [tx.tenantId, stored, sealed.ciphertext, sealed.keyVersion],
    );
    return true;
  },

  async remove(tx: TenantTx, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const r = await tx.query('DELETE FROM provider_credentials WHERE tenant_id = $1 AND id = $2', [tx.tenantId, id]);
    return r.rowCount > 0;
  },

  /**
   * Re-encrypts up to `limit` secrets still under a key version below `below` with the active
   * key; returns how many. Callers loop, one transaction per batch, until it returns 0.
   */
  async reencrypt(tx: TenantTx, sealer: FieldSealer, opts: { below: number; limit: number }): Promise<number> {
    const { rows } = await tx.query<{ id: string; secret_ciphertext: Buffer }>(
      `SELECT id, secret_ciphertext FROM provider_credentials
       WHERE tenant_id = $1 AND key_version < $2 ORDER BY id LIMIT $3 FOR UPDATE`,
      [tx.tenantId, opts.below, opts.limit],
    );
    for (const r of rows) {
      const field = providerCredentialSecret(r.id);
      const plaintext = await sealer.open(tx, field, toBuffer(r.secret_ciphertext));
      const sealed = await sealer.seal(tx, field, plaintext);
      plaintext.fill(0);
      await tx.query(
        'UPDATE provider_credentials SET secret_ciphertext = $3, key_version = $4 WHERE tenant_id = $1 AND id = $2',
        [tx.tenantId, r.id, sealed.ciphertext, sealed.keyVersion],
      );
    }
    return rows.length;
  },

  /** Every tenant's credentials, metadata only (the platform role can read nothing else). */
  async listAll(tx: PlatformTx): Promise<ProviderCredentialRecord[]> {
    const { rows } = await tx.query<Row>(`SELECT ${COLUMNS} FROM provider_credentials ORDER BY tenant_id, name`);
    return rows.map(toRecord);
  },
};
