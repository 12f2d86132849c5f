/**
 * Crypto-shredding (DESIGN §3.2): deleting a tenant destroys its data keys after a grace
 * period, which makes every ciphertext it left behind (in the database, replicas, backups)
 * unreadable without having to find and erase each one.
 *
 * Scheduling and cancelling run in the tenant's own transaction (the admin API's delete and
 * undelete, next to its status change and audit entry); from then on the tenant can still
 * decrypt but not encrypt. The destruction itself runs on the owner path, from a periodic job
 * or the CLI: the tenant role cannot erase key material.
 *
 * What it does not reach: the wrapped key's old bytes stay in PostgreSQL's heap until VACUUM
 * and in backups until they expire; they are wrapped by the KEK, so rotating the master key
 * (master-rotation.ts) after the backups of the grace period have expired finishes the job.
 */
import { dataKeysAdminRepo, keyringsRepo } from '../store/index.js';
import type { ShredSchedule, Store, TenantTx } from '../store/index.js';
import type { Keyring } from './keyring.js';

export const DEFAULT_SHRED_GRACE_MS = 30 * 24 * 3600 * 1000;

/** Schedules the tenant's keys for destruction after the grace period (an existing schedule stays). */
export function scheduleTenantShred(tx: TenantTx, opts: { graceMs?: number; now?: Date } = {}): Promise<ShredSchedule> {
  const graceMs = opts.graceMs ?? DEFAULT_SHRED_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0) throw new RangeError('graceMs must be a non-negative number');
  return keyringsRepo.scheduleShred(tx, new Date((opts.now ?? new Date()).getTime() + graceMs));
}

/** Cancels a pending shredding during the grace period; false if none is pending (or too late). */
export function cancelTenantShred(tx: TenantTx): Promise<boolean> {
  return keyringsRepo.cancelShred(tx);
}

export interface ShredResult {
  shredded: Array<{ tenantId: string; keysDestroyed: number }>;
}

/**
 * Destroys the data keys of every tenant whose grace period has ended by `now`. Each tenant is
 * its own transaction and re-checks its schedule under lock, so a cancellation that lands
 * between listing and destruction wins. `keyrings`: this process's keyrings, whose cached copies
 * of the destroyed keys are dropped at once (other processes drop theirs on the next use, when
 * they read the key's state).
 */
export async function shredDueTenants(
  store: Pick<Store, 'admin' | 'platform'>,
  opts: { now?: Date; keyrings?: readonly Keyring[] } = {},
): Promise<ShredResult> {
  const now = opts.now ?? new Date();
  const due = await store.platform((tx) => dataKeysAdminRepo.listDueShreds(tx, now));
  const result: ShredResult = { shredded: [] };
  for (const tenantId of due) {
    const destroyed = await store.admin(async (tx) => {
      await dataKeysAdminRepo.enterTenant(tx, tenantId);
      return dataKeysAdminRepo.destroyIfDue(tx, tenantId, now);
    });
    if (destroyed === null) continue;
    for (const k of opts.keyrings ?? []) k.forgetTenant(tenantId);
    result.shredded.push({ tenantId, keysDestroyed: destroyed });
  }
  return result;
}
