/**
 * The admin API's view of the tables with sealed secrets (provider_credentials, webhooks): keyset
 * pages, a change stamp for ETags, row locks for If-Match checks, and webhook metadata updates.
 * Never reads a ciphertext: secrets go in through the encryption repos and never come back out.
 *
 * The stamp is updated_at in microseconds. Both repos set it on every change (updated_at =
 * now()), so a change moves it unless two transactions that started in the same microsecond
 * change one row, the second after the first committed.
 */
import type { TenantTx } from '../types.js';
import { isUuid } from './convert.js';
import { toPage, type Page, type PageRequest } from './page.js';

export interface CredentialMeta {
  id: string;
  name: string;
  provider: string;
  baseUrl: string | null;
  createdAt: Date;
  updatedAt: Date;
  stamp: string;
}

export interface WebhookMeta {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
  stamp: string;
}

interface CredentialRow {
  id: string;
  name: string;
  provider: string;
  base_url: string | null;
  created_at: Date;
  updated_at: Date;
  stamp: string;
}

interface WebhookRow {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
  stamp: string;
}

const STAMP = '(extract(epoch from updated_at) * 1000000)::bigint::text AS stamp';
const CREDENTIAL = `id, name, provider, base_url, created_at, updated_at, ${STAMP}`;
const WEBHOOK = `id, url, events, enabled, created_at, updated_at, ${STAMP}`;

const toCredential = (r: CredentialRow): CredentialMeta => ({
  id: r.id,
  name: r.name,
  provider: r.provider,
  baseUrl: r.base_url,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  stamp: r.stamp,
});

const toWebhook = (r: WebhookRow): WebhookMeta => ({
  id: r.id,
  url: r.url,
  events: r.events,
  enabled: r.enabled,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  stamp: r.stamp,
});

export const sealedManageRepo = {
  async credential(tx: TenantTx, id: string, opts: { forUpdate?: boolean } = {}): Promise<CredentialMeta | null> {
    if (!isUuid(id)) return null;
    const sql = opts.forUpdate
      ? `SELECT ${CREDENTIAL} FROM provider_credentials WHERE id = $1 FOR UPDATE`
      : `SELECT ${CREDENTIAL} FROM provider_credentials WHERE id = $1`;
    const { rows } = await tx.query<CredentialRow>(sql, [id]);
    return rows[0] === undefined ? null : toCredential(rows[0]);
  },

  async credentials(tx: TenantTx, page: PageRequest): Promise<Page<CredentialMeta>> {
    const { rows } = await tx.query<CredentialRow>(
      `SELECT ${CREDENTIAL} FROM provider_credentials WHERE ($1::text IS NULL OR name > $1) ORDER BY name LIMIT $2`,
      [page.after, page.limit + 1],
    );
    return toPage(rows, page, toCredential, (r) => r.name);
  },

  async webhook(tx: TenantTx, id: string, opts: { forUpdate?: boolean } = {}): Promise<WebhookMeta | null> {
    if (!isUuid(id)) return null;
    const sql = opts.forUpdate ? `SELECT ${WEBHOOK} FROM webhooks WHERE id = $1 FOR UPDATE` : `SELECT ${WEBHOOK} FROM webhooks WHERE id = $1`;
    const { rows } = await tx.query<WebhookRow>(sql, [id]);
    return rows[0] === undefined ? null : toWebhook(rows[0]);
  },

  async webhooks(tx: TenantTx, page: PageRequest): Promise<Page<WebhookMeta>> {
    const { rows } = await tx.query<WebhookRow>(
      `SELECT ${WEBHOOK} FROM webhooks WHERE ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT $2`,
      [page.after, page.limit + 1],
    );
    return toPage(rows, page, toWebhook, (r) => r.id);
  },

  async updateWebhook(tx: TenantTx, id: string, patch: { url?: string; events?: readonly string[]; enabled?: boolean }): Promise<WebhookMeta | null> {
    const { rows } = await tx.query<WebhookRow>(
      `UPDATE webhooks SET
         url = CASE WHEN $2 THEN $3 ELSE url END,
         events = CASE WHEN $4 THEN $5::text[] ELSE events END,
         enabled = CASE WHEN $6 THEN $7::boolean ELSE enabled END,
         updated_at = now()
       WHERE id = $1 RETURNING ${WEBHOOK}`,
      [
        id,
        patch.url !== undefined,
        patch.url ?? null,
        patch.events !== undefined,
        patch.events === undefined ? null : [...patch.events],
        patch.enabled !== undefined,
        patch.enabled ?? null,
      ],
    );
    return rows[0] === undefined ? null : toWebhook(rows[0]);
  },
};
