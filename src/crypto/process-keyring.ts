/**
 * The keyring of a gateway or command process: the master key's KEK wraps new data keys, the
 * previous master keys' KEKs (GATEHOUSE_MASTER_KEY_PREVIOUS) still unwrap the data keys a
 * master-key rotation has not re-wrapped yet. One per process: its cache of unwrapped data keys
 * is then shared, and crypto-shredding can drop the cached keys of a destroyed tenant at once.
 */
import { createKeyring, type Keyring } from './keyring.js';
import { localKms } from './kms.js';

export function processKeyring(master: Buffer, previous: readonly Buffer[]): Keyring {
  return createKeyring(localKms(master), { previous: previous.map(localKms) });
}
