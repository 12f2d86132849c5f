/**
 * Idempotency records for creations (the admin API's Idempotency-Key). The key is claimed first,
 * in the transaction of the creation it guards, and completed with the response before commit:
 * a concurrent duplicate blocks on the primary key until the first transaction ends, then finds
 * the committed record (and replays it) or nothing (the first rolled back; it proceeds itself).
 */
import type { TenantTx } from '../types.js';
import { toBuffer } from './convert.js';

export interface IdempotencyRecord {
  requestHash: Buffer;
  status: number;
  response: unknown;
  headers: Record<string, string>;
}

interface IdempotencyRow {
  request_hash: Buffer;
  status: number;
  response: unknown;
  headers: Record<string, string>;
}

export type ClaimResult = { claimed: true } | { claimed: false; existing: IdempotencyRecord };

export const idempotencyRepo = {
  /** Claims `key` for this principal, replacing an expired record; or returns the live one. */
  async claim(tx: TenantTx, input: { principal: string; key: string; requestHash: Buffer; ttlSeconds: number }): Promise<ClaimResult> {
    const inserted = await tx.query(
      `INSERT INTO idempotency_keys (tenant_id, principal, key, request_hash, status, expires_at)
       VALUES ($1, $2, $3, $4, 0, now() + make_interval(secs => $5))
       ON CONFLICT (tenant_id, principal, key) DO UPDATE
         SET request_hash = EXCLUDED.request_hash, status = 0, response = 'null'::jsonb, headers = '{}'::jsonb,
             created_at = now(), expires_at = EXCLUDED.expires_at
         WHERE idempotency_keys.expires_at <= now()
       RETURNING key`,
      [tx.tenantId, input.principal, input.key, input.requestHash, input.ttlSeconds],
    );
    if (inserted.rowCount > 0) return { claimed: true };
    const { rows } = await tx.query<IdempotencyRow>(
      'SELECT request_hash, status, response, headers FROM idempotency_keys WHERE principal = $1 AND key = $2',
      [input.principal, input.key],
    );
    const r = rows[0];
    if (r === undefined) throw new Error('idempotency record vanished between claim and read');
    return {
      claimed: false,
      existing: { requestHash: toBuffer(r.request_hash), status: r.status, response: r.response, headers: r.headers },
    };
  },

  /** Stores the response of a claimed key (same transaction as the claim). */
  async complete(
    tx: TenantTx,
    input: { principal: string; key: string; status: number; response: unknown; headers: Record<string, string> },
  ): Promise<void> {
    await tx.query(
      `UPDATE idempotency_keys SET status = $3, response = $4::jsonb, headers = $5::jsonb
       WHERE principal = $1 AND key = $2`,
      [input.principal, input.key, input.status, JSON.stringify(input.response), JSON.stringify(input.headers)],
    );
  },

  /** Housekeeping: drops this tenant's expired records. */
  async purgeExpired(tx: TenantTx): Promise<number> {
    return (await tx.query('DELETE FROM idempotency_keys WHERE expires_at <= now()')).rowCount;
  },
};
