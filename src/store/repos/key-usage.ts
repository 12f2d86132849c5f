/**
 * `api_keys.last_used_at`, written in batches off the request path (src/tenancy/usage-touch.ts).
 * Kept apart from api-keys.ts because it is bookkeeping, not key management: migration 0002's
 * triggers ignore this column, so these writes never make the fleet reload its snapshot.
 */
import type { TenantTx } from '../types.js';
import { isUuid } from './convert.js';

export interface KeyUse {
  keyId: string;
  /** Epoch ms of the latest use seen. */
  at: number;
}

export const keyUsageRepo = {
  /**
   * Sets last_used_at for this tenant's keys in one statement. Never moves it backwards: several
   * replicas flush independently and their batches may arrive out of order. Unknown ids (a key
   * deleted meanwhile, or another tenant's) change nothing. Returns the rows updated.
   */
  async touch(tx: TenantTx, uses: readonly KeyUse[]): Promise<number> {
    const valid = uses.filter((u) => isUuid(u.keyId) && Number.isFinite(u.at));
    if (valid.length === 0) return 0;
    const { rowCount } = await tx.query(
      `UPDATE api_keys AS k SET last_used_at = v.at
       FROM unnest($2::uuid[], $3::timestamptz[]) AS v (id, at)
       WHERE k.tenant_id = $1 AND k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.at)`,
      [tx.tenantId, valid.map((u) => u.keyId), valid.map((u) => new Date(u.at).toISOString())],
    );
    return rowCount;
  },

  /** The key's last use as stored; null if never used or not this tenant's key. */
  async lastUsed(tx: TenantTx, keyId: string): Promise<Date | null> {
    if (!isUuid(keyId)) return null;
    const { rows } = await tx.query<{ last_used_at: Date | null }>('SELECT last_used_at FROM api_keys WHERE id = $1', [keyId]);
    return rows[0]?.last_used_at ?? null;
  },
};
