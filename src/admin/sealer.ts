/**
 * The sealer the admin API writes provider credentials and webhook secrets with: the tenant's
 * data keys under the master key's KEK (and previous master keys during a rotation). Once the
 * gateway builds one keyring per process for everything, pass its tenantSealer instead.
 */
import { tenantSealer } from '../crypto/envelope.js';
import { parsePreviousMasterKeys } from '../crypto/master-key.js';
import { processKeyring } from '../crypto/process-keyring.js';
import type { FieldSealer } from '../store/index.js';

export function adminSealer(master: Buffer, env: NodeJS.ProcessEnv): FieldSealer {
  return tenantSealer(processKeyring(master, parsePreviousMasterKeys(env)));
}
