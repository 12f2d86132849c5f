/**
 * The sealer the admin API writes provider credentials and webhook secrets with: the tenant's
 * data keys under the master key's KEK (and previous master keys during a rotation). Once the
 * gateway builds one keyring per process for everything, pass its tenantSealer instead.
 */
import { tenantSealer } from '../crypto/envelope.js';
import { createKeyring } from '../crypto/keyring.js';
import { localKms } from '../crypto/kms.js';
import { parsePreviousMasterKeys } from '../crypto/master-key.js';
import type { FieldSealer } from '../store/index.js';

export function adminSealer(master: Buffer, env: NodeJS.ProcessEnv): FieldSealer {
  return tenantSealer(createKeyring(localKms(master), { previous: parsePreviousMasterKeys(env).map(localKms) }));
}
