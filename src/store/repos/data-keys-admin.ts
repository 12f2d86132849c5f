/**
 * Owner-only work on tenant data keys: re-wrapping under a new KEK (master-key rotation) and
 * destruction (crypto-shredding). The tenant role cannot do either: it has no UPDATE grant on
 * wrapped_key or kek_id (see the migration).
 *
 * The owner is subject to row-level security too (FORCE), and where it is not a superuser it
 * sees no tenant rows at all without a tenant set: a rotation that listed keys without one
 * would find nothing and report success. So every function here works on one named tenant,
 * after `enterTenant`, and filters by tenant_id explicitly as well, for the superuser case
 * (PGlite, tests) in which row-level security does not apply. The list of tenants comes from
 * the platform role, which may read tenant ids.
 */
import type { AdminTx, PlatformTx } from '../types.js';
import { toBuffer } from './convert.js';

export interface WrappedDataKey {
  version: number;
  kekId: string;
  wrappedKey: Buffer;
}

export const dataKeysAdminRepo = {
  /** Makes row-level security show this tenant's rows to the owner, for this transaction. */
  async enterTenant(tx: AdminTx, tenantId: string): Promise<void> {
    await tx.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
  },

  /** Keys of the tenant not wrapped by `kekId` (destroyed ones excluded), locked for rewrap. */
  async lockNotWrappedBy(tx: AdminTx, tenantId: string, kekId: string): Promise<WrappedDataKey[]> {
    const { rows } = await tx.query<{ version: number; kek_id: string; wrapped_key: Buffer }>(
      `SELECT version, kek_id, wrapped_key FROM tenant_data_keys
       WHERE tenant_id = $1 AND state <> 'destroyed' AND kek_id <> $2
       ORDER BY version FOR UPDATE`,
      [tenantId, kekId],
    );
    return rows.map((r) => ({ version: r.version, kekId: r.kek_id, wrappedKey: toBuffer(r.wrapped_key) }));
  },

  async rewrap(tx: AdminTx, tenantId: string, key: WrappedDataKey): Promise<void> {
    await tx.query(
      `UPDATE tenant_data_keys SET wrapped_key = $3, kek_id = $4, rewrapped_at = now()
       WHERE tenant_id = $1 AND version = $2 AND state <> 'destroyed'`,
      [tenantId, key.version, key.wrappedKey, key.kekId],
    );
  },

  /** Live (not destroyed) keys of the tenant per KEK id. */
  async countByKek(tx: AdminTx, tenantId: string): Promise<Map<string, number>> {
    const { rows } = await tx.query<{ kek_id: string; n: number }>(
      `SELECT kek_id, count(*)::int AS n FROM tenant_data_keys
       WHERE tenant_id = $1 AND state <> 'destroyed' GROUP BY kek_id`,
      [tenantId],
    );
    return new Map(rows.map((r) => [r.kek_id, r.n]));
  },

  /**
   * Destroys every key of the tenant if its shredding is due at `now`: the wrapped key is
   * erased and the row kept as a tombstone. Returns the number of keys destroyed, or null if
   * the tenant is not (or no longer) due, e.g. cancelled since it was listed.
   */
  async destroyIfDue(tx: AdminTx, tenantId: string, now: Date): Promise<number | null> {
    // Key rows before the keyring row: the lock order every path follows (data-keys.ts).
    await tx.query('SELECT version FROM tenant_data_keys WHERE tenant_id = $1 FOR UPDATE', [tenantId]);
    const due = await tx.query(
      `SELECT 1 FROM tenant_keyrings
       WHERE tenant_id = $1 AND shred_after IS NOT NULL AND shred_after <= $2 AND shredded_at IS NULL FOR UPDATE`,
      [tenantId, now],
    );
    if (due.rowCount === 0) return null;
    // PostgreSQL writes a new row version: the old bytes remain in the heap until VACUUM and in
    // backups until they expire. Only the KEK's rotation (rotateMasterKey) reaches those.
    const destroyed = await tx.query(
      `UPDATE tenant_data_keys SET state = 'destroyed', wrapped_key = NULL, destroyed_at = now()
       WHERE tenant_id = $1 AND state <> 'destroyed'`,
      [tenantId],
    );
    await tx.query('UPDATE tenant_keyrings SET shredded_at = now() WHERE tenant_id = $1', [tenantId]);
    return destroyed.rowCount;
  },

  /** Every tenant id (the rotation's worklist); tenant rows cascade to their keys. */
  async listTenantIds(tx: PlatformTx): Promise<string[]> {
    const { rows } = await tx.query<{ id: string }>('SELECT id FROM tenants ORDER BY id');
    return rows.map((r) => r.id);
  },

  /** Tenants whose shredding is due at `now` and not yet done. */
  async listDueShreds(tx: PlatformTx, now: Date): Promise<string[]> {
    const { rows } = await tx.query<{ tenant_id: string }>(
      `SELECT tenant_id FROM tenant_keyrings
       WHERE shred_after IS NOT NULL AND shred_after <= $1 AND shredded_at IS NULL ORDER BY tenant_id`,
      [now],
    );
    return rows.map((r) => r.tenant_id);
  },
};
