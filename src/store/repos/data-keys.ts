/**
 * Tenant data keys as the tenant role uses them: count, create, retire, read. The keys are
 * stored wrapped (src/crypto/kms.ts); this file never sees a plaintext key. Re-wrapping and
 * destruction are owner jobs: data-keys-admin.ts.
 *
 * Locks, chosen so that concurrent encryption, rotation and shredding cannot deadlock:
 * - Each encryption increments the active key's counter: that row stays locked until the
 *   caller's transaction ends, so encryptions of one tenant serialise (admin writes, cheap).
 * - Rotation retires the active key under that same row lock, so concurrent rotators queue
 *   on it and the losers find the winner's new key.
 * - Only the very first key is created under the tenant_keyrings row lock (there is no key
 *   row yet to queue on); a creator holds no key-row lock while it waits for it.
 * - The owner's destruction locks key rows first, then the keyring row.
 * The one-active partial unique index backs all of this: two active keys cannot exist.
 */
import type { TenantTx } from '../types.js';
import { toBuffer } from './convert.js';

export type DataKeyState = 'active' | 'retired' | 'destroyed';

/** The active key, counted for one more encryption. */
export interface UsableDataKey {
  version: number;
  kekId: string;
  wrappedKey: Buffer;
}

export interface StoredDataKey {
  version: number;
  kekId: string;
  state: DataKeyState;
  /** null once destroyed. */
  wrappedKey: Buffer | null;
}

/** What may be shown about a key: never its wrapped bytes. */
export interface DataKeyInfo {
  version: number;
  kekId: string;
  state: DataKeyState;
  encryptions: number;
  createdAt: Date;
  retiredAt: Date | null;
  destroyedAt: Date | null;
}

export interface KeyringState {
  /** Set while the tenant is scheduled for crypto-shredding. */
  shredAfter: Date | null;
  shreddedAt: Date | null;
  /** Some key of this tenant was destroyed: no new key may replace it. */
  anyDestroyed: boolean;
}

interface WrappedRow {
  version: number;
  kek_id: string;
  wrapped_key: Buffer | null;
}

export const dataKeysRepo = {
  /**
   * Counts `uses` encryptions (one by default; a batch counts all of its own at once) against the
   * active key and returns it; null when there is no active key, it has fewer than `uses` of its
   * `limit` left, or the tenant is scheduled for shredding.
   */
  async useActive(tx: TenantTx, limit: number, uses = 1): Promise<UsableDataKey | null> {
    const { rows } = await tx.query<WrappedRow>(
      `UPDATE tenant_data_keys SET encryptions = encryptions + $3::bigint
       WHERE tenant_id = $1 AND state = 'active' AND encryptions + $3::bigint <= $2::bigint
         AND NOT EXISTS (SELECT 1 FROM tenant_keyrings r WHERE r.tenant_id = $1 AND r.shred_after IS NOT NULL)
       RETURNING version, kek_id, wrapped_key`,
      [tx.tenantId, limit, uses],
    );
    const r = rows[0];
    if (r === undefined || r.wrapped_key === null) return null;
    return { version: r.version, kekId: r.kek_id, wrappedKey: toBuffer(r.wrapped_key) };
  },

  /**
   * Retires the active key if `force`, or if it has been used `limit` times; returns its
   * version, or null when nothing was retired (no active key, or it is not used up).
   */
  async retireActive(tx: TenantTx, opts: { force: boolean; limit: number }): Promise<number | null> {
    const { rows } = await tx.query<{ version: number }>(
      `UPDATE tenant_data_keys SET state = 'retired', retired_at = now()
       WHERE tenant_id = $1 AND state = 'active' AND ($2::boolean OR encryptions >= $3)
       RETURNING version`,
      [tx.tenantId, opts.force, opts.limit],
    );
    return rows[0]?.version ?? null;
  },

  /**
   * The tenant's shredding state. With `lock`, creates the keyring row if missing and locks it
   * until the transaction ends (creation of the first key).
   */
  async keyringState(tx: TenantTx, opts: { lock: boolean }): Promise<KeyringState> {
    if (opts.lock) await tx.query('INSERT INTO tenant_keyrings (tenant_id) VALUES ($1) ON CONFLICT DO NOTHING', [tx.tenantId]);
    const { rows } = await tx.query<{ shred_after: Date | null; shredded_at: Date | null; any_destroyed: boolean }>(
      opts.lock
        ? `SELECT r.shred_after, r.shredded_at,
                  EXISTS (SELECT 1 FROM tenant_data_keys k WHERE k.tenant_id = $1 AND k.state = 'destroyed') AS any_destroyed
           FROM tenant_keyrings r WHERE r.tenant_id = $1 FOR UPDATE OF r`
        : `SELECT r.shred_after, r.shredded_at,
                  EXISTS (SELECT 1 FROM tenant_data_keys k WHERE k.tenant_id = $1 AND k.state = 'destroyed') AS any_destroyed
           FROM (SELECT $1::uuid AS tenant_id) t LEFT JOIN tenant_keyrings r ON r.tenant_id = t.tenant_id`,
      [tx.tenantId],
    );
    const r = rows[0];
    // With lock, the insert above ran in this transaction (it fails its foreign key for an
    // unknown tenant); without, the outer join always yields a row.
    if (r === undefined) throw new Error('tenant keyring row not found after insert');
    return { shredAfter: r.shred_after, shreddedAt: r.shredded_at, anyDestroyed: r.any_destroyed };
  },

  async activeVersion(tx: TenantTx): Promise<number | null> {
    const { rows } = await tx.query<{ version: number }>(
      "SELECT version FROM tenant_data_keys WHERE tenant_id = $1 AND state = 'active'",
      [tx.tenantId],
    );
    return rows[0]?.version ?? null;
  },

  async nextVersion(tx: TenantTx): Promise<number> {
    const { rows } = await tx.query<{ next: number }>(
      'SELECT COALESCE(max(version), 0) + 1 AS next FROM tenant_data_keys WHERE tenant_id = $1',
      [tx.tenantId],
    );
    return rows[0]?.next ?? 1;
  },

  /** False if the version exists or another key is active (a concurrent creator won). */
  async insertActive(tx: TenantTx, key: { version: number; wrappedKey: Buffer; kekId: string }): Promise<boolean> {
    // DO NOTHING rather than catching the violation, which would abort the caller's transaction.
    const r = await tx.query(
      `INSERT INTO tenant_data_keys (tenant_id, version, wrapped_key, kek_id, state)
       VALUES ($1, $2, $3, $4, 'active') ON CONFLICT DO NOTHING`,
      [tx.tenantId, key.version, key.wrappedKey, key.kekId],
    );
    return r.rowCount > 0;
  },

  async get(tx: TenantTx, version: number): Promise<StoredDataKey | null> {
    const { rows } = await tx.query<WrappedRow & { state: DataKeyState }>(
      'SELECT version, kek_id, state, wrapped_key FROM tenant_data_keys WHERE tenant_id = $1 AND version = $2',
      [tx.tenantId, version],
    );
    const r = rows[0];
    if (r === undefined) return null;
    return { version: r.version, kekId: r.kek_id, state: r.state, wrappedKey: r.wrapped_key === null ? null : toBuffer(r.wrapped_key) };
  },

  async list(tx: TenantTx): Promise<DataKeyInfo[]> {
    const { rows } = await tx.query<{
      version: number;
      kek_id: string;
      state: DataKeyState;
      encryptions: string;
      created_at: Date;
      retired_at: Date | null;
      destroyed_at: Date | null;
    }>(
      `SELECT version, kek_id, state, encryptions, created_at, retired_at, destroyed_at
       FROM tenant_data_keys WHERE tenant_id = $1 ORDER BY version`,
      [tx.tenantId],
    );
    return rows.map((r) => ({
      version: r.version,
      kekId: r.kek_id,
      state: r.state,
      encryptions: Number(r.encryptions),
      createdAt: r.created_at,
      retiredAt: r.retired_at,
      destroyedAt: r.destroyed_at,
    }));
  },
};

export interface ShredSchedule {
  requestedAt: Date;
  shredAfter: Date;
  shreddedAt: Date | null;
}

export const keyringsRepo = {
  /**
   * Schedules the tenant's keys for destruction at `after` (the end of the grace period). An
   * existing schedule is kept, not moved: asking twice does not extend the grace period.
   * From now on the tenant can decrypt but no longer encrypt.
   */
  async scheduleShred(tx: TenantTx, after: Date): Promise<ShredSchedule> {
    const { rows } = await tx.query<{ shred_requested_at: Date; shred_after: Date; shredded_at: Date | null }>(
      `INSERT INTO tenant_keyrings (tenant_id, shred_requested_at, shred_after) VALUES ($1, now(), $2)
       ON CONFLICT (tenant_id) DO UPDATE
         SET shred_requested_at = COALESCE(tenant_keyrings.shred_requested_at, EXCLUDED.shred_requested_at),
             shred_after = COALESCE(tenant_keyrings.shred_after, EXCLUDED.shred_after)
       RETURNING shred_requested_at, shred_after, shredded_at`,
      [tx.tenantId, after],
    );
    const r = rows[0];
    if (r === undefined) throw new Error('expected the statement to return a row');
    return { requestedAt: r.shred_requested_at, shredAfter: r.shred_after, shreddedAt: r.shredded_at };
  },

  /** Cancels a pending shredding; false if none was pending or it has already happened. */
  async cancelShred(tx: TenantTx): Promise<boolean> {
    const r = await tx.query(
      `UPDATE tenant_keyrings SET shred_requested_at = NULL, shred_after = NULL
       WHERE tenant_id = $1 AND shred_after IS NOT NULL AND shredded_at IS NULL`,
      [tx.tenantId],
    );
    return r.rowCount > 0;
  },

  async shredStatus(tx: TenantTx): Promise<ShredSchedule | null> {
    const { rows } = await tx.query<{ shred_requested_at: Date | null; shred_after: Date | null; shredded_at: Date | null }>(
      'SELECT shred_requested_at, shred_after, shredded_at FROM tenant_keyrings WHERE tenant_id = $1',
      [tx.tenantId],
    );
    const r = rows[0];
    if (r === undefined || r.shred_requested_at === null || r.shred_after === null) return null;
    return { requestedAt: r.shred_requested_at, shredAfter: r.shred_after, shreddedAt: r.shredded_at };
  },
};
