/**
 * Tenant webhooks: the signing secret is sealed with the tenant's data key. The URL stays in
 * clear for the tenant (deliveries need it) but is not granted to the platform role: webhook
 * URLs often carry a token of their own.
 */
import { randomUUID } from 'node:crypto';
import type { PlatformTx, TenantTx } from '../types.js';
import { isUuid, onlyRow, toBuffer } from './convert.js';
import type { FieldRef, FieldSealer } from './sealed.js';

export interface WebhookRecord {
  id: string;
  tenantId: string;
  url: string;
  events: string[];
  enabled: boolean;
  keyVersion: number;
  createdAt: Date;
  updatedAt: Date;
}

/** What the platform role sees of a webhook. */
export type WebhookMetadata = Omit<WebhookRecord, 'url'>;

export interface WebhookInput {
  url: string;
  events: readonly string[];
  enabled?: boolean;
  /** The signing secret: stored only encrypted. */
  secret: string;
}

interface Row {
  id: string;
  tenant_id: string;
  url: string;
  events: string[];
  enabled: boolean;
  key_version: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'id, tenant_id, url, events, enabled, key_version, created_at, updated_at';
const PLATFORM_COLUMNS = 'id, tenant_id, events, enabled, key_version, created_at, updated_at';

export const webhookSecret = (recordId: string): FieldRef => ({ table: 'webhooks', recordId, column: 'secret_ciphertext' });

function toMetadata(r: Omit<Row, 'url'>): WebhookMetadata {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    events: r.events,
    enabled: r.enabled,
    keyVersion: r.key_version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const toRecord = (r: Row): WebhookRecord => ({ ...toMetadata(r), url: r.url });

export const webhooksRepo = {
  async create(tx: TenantTx, sealer: FieldSealer, input: WebhookInput): Promise<WebhookRecord> {
    const id = randomUUID();
    const sealed = await sealer.seal(tx, webhookSecret(id), Buffer.from(input.secret, 'utf8'));
    const { rows } = await tx.query<Row>(
      `INSERT INTO webhooks (tenant_id, id, url, events, enabled, secret_ciphertext, key_version)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
      [tx.tenantId, id, input.url, [...input.events], input.enabled ?? true, sealed.ciphertext, sealed.keyVersion],
    );
    return toRecord(onlyRow(rows));
  },

  async get(tx: TenantTx, id: string): Promise<WebhookRecord | null> {
    if (!isUuid(id)) return null;
    const { rows } = await tx.query<Row>(`SELECT ${COLUMNS} FROM webhooks WHERE tenant_id = $1 AND id = $2`, [tx.tenantId, id]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async list(tx: TenantTx): Promise<WebhookRecord[]> {
    const { rows } = await tx.query<Row>(`SELECT ${COLUMNS} FROM webhooks WHERE tenant_id = $1 ORDER BY created_at, id`, [tx.tenantId]);
    return rows.map(toRecord);
  },

  /** The decrypted signing secret; null if this tenant has no such webhook. */
  async readSecret(tx: TenantTx, sealer: FieldSealer, id: string): Promise<string | null> {
    if (!isUuid(id)) return null;
    // The id as stored (lower case), not as given: it is part of the associated data.
    const { rows } = await tx.query<{ id: string; secret_ciphertext: Buffer }>(
      'SELECT id, secret_ciphertext FROM webhooks WHERE tenant_id = $1 AND id = $2',
      [tx.tenantId, id],
    );
    const r = rows[0];
    if (r === undefined) return null;
    return (await sealer.open(tx, webhookSecret(r.id), toBuffer(r.secret_ciphertext))).toString('utf8');
  },

  async remove(tx: TenantTx, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const r = await tx.query('DELETE FROM webhooks WHERE tenant_id = $1 AND id = $2', [tx.tenantId, id]);
    return r.rowCount > 0;
  },

  /** As providerCredentialsRepo.reencrypt. */
  async reencrypt(tx: TenantTx, sealer: FieldSealer, opts: { below: number; limit: number }): Promise<number> {
    const { rows } = await tx.query<{ id: string; secret_ciphertext: Buffer }>(
      `SELECT id, secret_ciphertext FROM webhooks
       WHERE tenant_id = $1 AND key_version < $2 ORDER BY id LIMIT $3 FOR UPDATE`,
      [tx.tenantId, opts.below, opts.limit],
    );
    for (const r of rows) {
      const field = webhookSecret(r.id);
      const plaintext = await sealer.open(tx, field, toBuffer(r.secret_ciphertext));
      const sealed = await sealer.seal(tx, field, plaintext);
      plaintext.fill(0);
      await tx.query('UPDATE webhooks SET secret_ciphertext = $3, key_version = $4 WHERE tenant_id = $1 AND id = $2', [
        tx.tenantId,
        r.id,
        sealed.ciphertext,
        sealed.keyVersion,
      ]);
    }
    return rows.length;
  },

  async listAll(tx: PlatformTx): Promise<WebhookMetadata[]> {
    const { rows } = await tx.query<Omit<Row, 'url'>>(`SELECT ${PLATFORM_COLUMNS} FROM webhooks ORDER BY tenant_id, created_at, id`);
    return rows.map(toMetadata);
  },
};
