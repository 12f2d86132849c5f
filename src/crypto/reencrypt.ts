/**
 * After a data-key rotation, moves a tenant's ciphertexts onto the active key, so that old
 * versions could eventually be destroyed. Optional: old versions keep decrypting meanwhile.
 * Batches run in their own short transactions, so the tenant's traffic is never blocked for
 * long, and the job can stop and resume at any point.
 */
import { dataKeysRepo, providerCredentialsRepo, webhooksRepo } from '../store/index.js';
import type { FieldSealer, Store, TenantTx } from '../store/index.js';
import { tenantSealer } from './envelope.js';
import type { Keyring } from './keyring.js';

type Reencrypt = (tx: TenantTx, sealer: FieldSealer, opts: { below: number; limit: number }) => Promise<number>;

/** Every table with encrypted columns. A new one must be added here to take part in rotation. */
export const ENCRYPTED_TABLES: ReadonlyArray<{ table: string; reencrypt: Reencrypt }> = [
  { table: 'provider_credentials', reencrypt: providerCredentialsRepo.reencrypt },
  { table: 'webhooks', reencrypt: webhooksRepo.reencrypt },
];

export interface ReencryptResult {
  /** Rows were moved off every version below this one (the active version at the start). */
  below: number | null;
  reencrypted: Record<string, number>;
}

/**
 * Re-encrypts every encrypted value of the tenant that is under a key version older than the
 * one active when this starts. Values written meanwhile already use a newer key; a rotation
 * caused by the re-encryption itself (encryption budget) does not make it start over.
 */
export async function reencryptTenant(
  store: Pick<Store, 'withTenant'>,
  keys: Keyring,
  tenantId: string,
  opts: { batchSize?: number } = {},
): Promise<ReencryptResult> {
  const limit = opts.batchSize ?? 100;
  const below = await store.withTenant(tenantId, (tx) => dataKeysRepo.activeVersion(tx));
  const reencrypted: Record<string, number> = {};
  if (below === null) return { below, reencrypted }; // no key: nothing was ever encrypted
  const sealer = tenantSealer(keys);
  for (const { table, reencrypt } of ENCRYPTED_TABLES) {
    let total = 0;
    for (;;) {
      const n = await store.withTenant(tenantId, (tx) => reencrypt(tx, sealer, { below, limit }));
      total += n;
      if (n < limit) break;
    }
    reencrypted[table] = total;
  }
  return { below, reencrypted };
}
