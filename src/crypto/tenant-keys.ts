/**
 * A tenant's data keys: created lazily on first use, counted per encryption, replaced by a new
 * version when used up or on request, unwrapped through the keyring (and its cache). The SQL is
 * in src/store/repos/data-keys.ts, including the lock order that keeps this deadlock-free.
 */
import { randomBytes } from 'node:crypto';
import { dataKeysRepo } from '../store/index.js';
import type { TenantTx } from '../store/index.js';
import type { Keyring } from './keyring.js';
import { KmsError } from './kms.js';
import { DecryptError, EncryptError } from './tenant-crypto-errors.js';

const DATA_KEY_BYTES = 32;
const WRAP_AAD_LABEL = Buffer.from('gatehouse/data-key/v1\0', 'utf8');

/**
 * Associated data of a wrapped data key: a wrapped key copied to another tenant's row, or to
 * another version, does not unwrap.
 */
export function wrapAad(tenantId: string, version: number): Buffer {
  const v = Buffer.alloc(4);
  v.writeUInt32BE(version);
  return Buffer.concat([WRAP_AAD_LABEL, Buffer.from(tenantId.toLowerCase(), 'utf8'), Buffer.from([0]), v]);
}

type Op = 'encrypt' | 'decrypt';

function fail(op: Op, reason: 'kek_unavailable' | 'unwrap_failed', message: string): Error {
  return op === 'decrypt' ? new DecryptError(reason, message) : new EncryptError(reason, message);
}

async function unwrap(keys: Keyring, tenantId: string, key: { version: number; kekId: string; wrappedKey: Buffer }, op: Op): Promise<Buffer> {
  const hit = keys.cached(tenantId, key.version, key.wrappedKey);
  if (hit !== undefined) return hit;
  const kms = keys.kms(key.kekId);
  if (kms === undefined) {
    throw fail(
      op,
      'kek_unavailable',
      `data key version ${key.version} of tenant ${tenantId} is wrapped by KEK ${key.kekId}, which this keyring does not hold (it has ${keys.keyIds.join(', ')})`,
    );
  }
  let dataKey: Buffer;
  try {
    dataKey = await kms.unwrap(key.wrappedKey, wrapAad(tenantId, key.version));
  } catch (err) {
    const why = err instanceof KmsError ? err.message : 'the KMS refused';
    throw fail(op, 'unwrap_failed', `cannot unwrap data key version ${key.version} of tenant ${tenantId}: ${why}`);
  }
  if (dataKey.length !== DATA_KEY_BYTES) throw fail(op, 'unwrap_failed', `data key version ${key.version} of tenant ${tenantId} has the wrong length`);
  keys.remember(tenantId, key.version, key.wrappedKey, dataKey);
  return dataKey;
}

/**
 * Makes a new active data key version, retiring the active one if `force` or if it is used up;
 * returns the active version afterwards. When another transaction created or rotated the key
 * first (or the active key is not used up and not forced), returns that key's version.
 */
export async function rollDataKey(tx: TenantTx, keys: Keyring, opts: { force: boolean }): Promise<number> {
  // Holding the retired row's lock, this transaction is the only rotator until it ends.
  const retired = await dataKeysRepo.retireActive(tx, { force: opts.force, limit: keys.rotateAfter });
  const active = retired === null ? await dataKeysRepo.activeVersion(tx) : null;
  // No key at all: the first creation queues on the keyring row instead.
  const creating = retired === null && active === null;
  // Read on every slow path: the counter refuses a tenant scheduled for shredding, and this
  // is where the caller learns why.
  const ring = await dataKeysRepo.keyringState(tx, { lock: creating });
  if (ring.shreddedAt !== null || ring.anyDestroyed) {
    throw new EncryptError('tenant_shredded', `tenant ${tx.tenantId}: its data keys were destroyed; nothing can be encrypted for it`);
  }
  if (ring.shredAfter !== null) {
    throw new EncryptError('tenant_shredding', `tenant ${tx.tenantId} is scheduled for deletion: its data can be read until then, no longer written`);
  }
  if (active !== null) return active;
  if (creating) {
    const created = await dataKeysRepo.activeVersion(tx); // by another transaction, while this one waited
    if (created !== null) return created;
  }
  const version = await dataKeysRepo.nextVersion(tx);
  const dataKey = randomBytes(DATA_KEY_BYTES);
  const wrappedKey = await keys.current.wrap(dataKey, wrapAad(tx.tenantId, version));
  if (!(await dataKeysRepo.insertActive(tx, { version, wrappedKey, kekId: keys.current.keyId }))) {
    const winner = await dataKeysRepo.activeVersion(tx);
    if (winner !== null) return winner;
    throw new EncryptError('key_unavailable', `tenant ${tx.tenantId}: could not create data key version ${version}`);
  }
  keys.remember(tx.tenantId, version, wrappedKey, dataKey);
  return version;
}

/** A new active data key version for the tenant now; older versions stay for decryption. */
export function rotateDataKey(tx: TenantTx, keys: Keyring): Promise<number> {
  return rollDataKey(tx, keys, { force: true });
}

/**
 * The active data key, counted for one encryption: created on first use, replaced when it has
 * been used `keys.rotateAfter` times.
 */
export async function dataKeyForEncryption(tx: TenantTx, keys: Keyring): Promise<{ version: number; dataKey: Buffer }> {
  // A key this transaction created is invisible to others, so the next round can use it. A key
  // found after waiting can have been used up by others meanwhile: each extra round means
  // someone else made progress, and the bound only stops a pathological budget.
  for (let round = 0; round < 16; round++) {
    const key = await dataKeysRepo.useActive(tx, keys.rotateAfter);
    if (key !== null) return { version: key.version, dataKey: await unwrap(keys, tx.tenantId, key, 'encrypt') };
    await rollDataKey(tx, keys, { force: false });
  }
  throw new EncryptError('key_unavailable', `tenant ${tx.tenantId}: no usable data key after rotation`);
}

/**
 * The active data key counted for `uses` encryptions at once (a batch), or null when that takes
 * more than one step (no key yet, fewer than `uses` left before rotation, shredding scheduled):
 * the caller then encrypts one by one through dataKeyForEncryption, which handles those.
 */
export async function dataKeyForEncryptions(tx: TenantTx, keys: Keyring, uses: number): Promise<{ version: number; dataKey: Buffer } | null> {
  const key = await dataKeysRepo.useActive(tx, keys.rotateAfter, uses);
  return key === null ? null : { version: key.version, dataKey: await unwrap(keys, tx.tenantId, key, 'encrypt') };
}

/** The data key of `version` for decryption; the row is read every time so destruction is seen. */
export async function dataKeyForDecryption(tx: TenantTx, keys: Keyring, version: number): Promise<Buffer> {
  const key = await dataKeysRepo.get(tx, version);
  if (key === null) throw new DecryptError('key_not_found', `tenant ${tx.tenantId} has no data key version ${version}`);
  if (key.state === 'destroyed' || key.wrappedKey === null) {
    keys.forgetTenant(tx.tenantId);
    throw new DecryptError('key_destroyed', `data key version ${version} of tenant ${tx.tenantId} was destroyed (crypto-shredded): the data cannot be decrypted`);
  }
  return unwrap(keys, tx.tenantId, { version, kekId: key.kekId, wrappedKey: key.wrappedKey }, 'decrypt');
}
