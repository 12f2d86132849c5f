/**
 * Master-key (KEK) rotation: re-wraps every tenant's data keys from old KEKs to a new one. The
 * data keys themselves do not change, so no ciphertext is touched and nothing needs to stop.
 *
 * Procedure without downtime:
 *  1. Restart the gateways with a keyring whose `current` is the new KMS and whose `previous`
 *     holds the old one: new keys are wrapped by the new KEK, old ones still unwrap.
 *  2. Run `rotateMasterKey(store, { from: [old], to: new })` with the owner's database URL.
 *     Each tenant is one short transaction that locks only that tenant's key rows (its
 *     encryptions wait a few milliseconds; decryption never waits).
 *  3. `countDataKeysByKek(store)` must show nothing under the old key id; then drop it from the
 *     configuration.
 * Keys wrapped by a KEK that is neither `to` nor in `from` are reported, not guessed at.
 *
 * Runs on the owner path (store.admin): the tenant role may not rewrite wrapped keys.
 */
import { dataKeysAdminRepo } from '../store/index.js';
import type { Store } from '../store/index.js';
import type { Kms } from './kms.js';
import { wrapAad } from './tenant-keys.js';

export interface MasterRotationResult {
  tenants: number;
  rewrapped: number;
  /** Keys left as they were because no KMS in `from` holds their KEK. */
  unknownKek: Array<{ tenantId: string; version: number; kekId: string }>;
}

export async function rotateMasterKey(
  store: Pick<Store, 'admin' | 'platform'>,
  opts: { from: readonly Kms[]; to: Kms; onTenant?: (tenantId: string, rewrapped: number) => void | Promise<void> },
): Promise<MasterRotationResult> {
  const from = new Map(opts.from.map((k) => [k.keyId, k]));
  const tenantIds = await store.platform((tx) => dataKeysAdminRepo.listTenantIds(tx));
  const result: MasterRotationResult = { tenants: tenantIds.length, rewrapped: 0, unknownKek: [] };
  for (const tenantId of tenantIds) {
    const n = await store.admin(async (tx) => {
      await dataKeysAdminRepo.enterTenant(tx, tenantId);
      let done = 0;
      for (const key of await dataKeysAdminRepo.lockNotWrappedBy(tx, tenantId, opts.to.keyId)) {
        const old = from.get(key.kekId);
        if (old === undefined) {
          result.unknownKek.push({ tenantId, version: key.version, kekId: key.kekId });
          continue;
        }
        const aad = wrapAad(tenantId, key.version);
        const dataKey = await old.unwrap(key.wrappedKey, aad);
        try {
          await dataKeysAdminRepo.rewrap(tx, tenantId, { version: key.version, kekId: opts.to.keyId, wrappedKey: await opts.to.wrap(dataKey, aad) });
        } finally {
          dataKey.fill(0);
        }
        done++;
      }
      return done;
    });
    result.rewrapped += n;
    await opts.onTenant?.(tenantId, n); // progress; awaited, so a caller can pace the job
  }
  return result;
}

/** Live data keys per KEK id over all tenants: shows when an old KEK is no longer needed. */
export async function countDataKeysByKek(store: Pick<Store, 'admin' | 'platform'>): Promise<Record<string, number>> {
  const tenantIds = await store.platform((tx) => dataKeysAdminRepo.listTenantIds(tx));
  const totals: Record<string, number> = {};
  for (const tenantId of tenantIds) {
    const counts = await store.admin(async (tx) => {
      await dataKeysAdminRepo.enterTenant(tx, tenantId);
      return dataKeysAdminRepo.countByKek(tx, tenantId);
    });
    for (const [kekId, n] of counts) totals[kekId] = (totals[kekId] ?? 0) + n;
  }
  return totals;
}
