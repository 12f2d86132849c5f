/**
 * Opening the store for a one-shot command (`apply`, `export`, `audit`, `keys`). With the embedded store the data
 * directory is locked by whoever opened it first (DESIGN §10), so next to a running gateway the
 * command fails with a message that says what to do instead; PostgreSQL has no such limit.
 */
import { randomUUID } from 'node:crypto';
import type { Actor } from '../admin/context.js';
import type { LoadedConfig } from '../config/types.js';
import { auditHeadSigner, type AuditHeadSigner } from '../crypto/audit-head-key.js';
import type { Keyring } from '../crypto/keyring.js';
import { deriveKey, loadMasterKey, parsePreviousMasterKeys } from '../crypto/master-key.js';
import { processKeyring } from '../crypto/process-keyring.js';
import { DataDirInUseError, openStore, prepareSchema, type Store } from '../store/index.js';

export class CliError extends Error {
  override name = 'CliError';
}

export interface CliStore {
  store: Store;
  pepper: Buffer;
  /** GATEHOUSE_MASTER_KEY's KEK, and GATEHOUSE_MASTER_KEY_PREVIOUS's for unwrapping. */
  keyring: Keyring;
  /** Signs exported audit heads (derived from GATEHOUSE_MASTER_KEY). */
  headSigner: AuditHeadSigner;
  /** headSigner and the signers of GATEHOUSE_MASTER_KEY_PREVIOUS: whose heads verify. */
  headSigners: AuditHeadSigner[];
  actor: Actor;
  close(): Promise<void>;
}

/** The store a command works on, not migrated; the embedded one's lock held by a gateway is explained. */
export async function openCommandStore(config: LoadedConfig, command: string): Promise<Store> {
  const embedded = config.databaseUrl === undefined;
  try {
    return await openStore(embedded ? { dataDir: config.dataDir } : { databaseUrl: config.databaseUrl as string });
  } catch (err) {
    if (err instanceof DataDirInUseError) {
      throw new CliError(
        `${command}: the embedded store in ${err.dataDir} is in use by process ${err.pid} (a running gateway?). ` +
          'Only one process may open an embedded data directory. Stop the gateway and retry, ' +
          'use the admin API (/admin/v1) of the running gateway instead, or run Gatehouse on PostgreSQL (DATABASE_URL), ' +
          `where \`gatehouse ${command}\` works alongside running gateways.`,
        { cause: err },
      );
    }
    throw err;
  }
}

export async function openCliStore(config: LoadedConfig, env: NodeJS.ProcessEnv, command: string): Promise<CliStore> {
  const embedded = config.databaseUrl === undefined;
  const store = await openCommandStore(config, command);
  try {
    await prepareSchema(store);
    const master = await loadMasterKey({ env, dataDir: embedded ? config.dataDir : undefined });
    const previous = parsePreviousMasterKeys(env);
    const headSigner = auditHeadSigner(master);
    return {
      store,
      pepper: deriveKey(master, 'api-key-hash'),
      keyring: processKeyring(master, previous),
      headSigner,
      headSigners: [headSigner, ...previous.map(auditHeadSigner)],
      actor: {
        principal: { scope: 'platform', role: 'platform_admin', id: 'cli', label: `gatehouse ${command}`, kind: 'cli', keyId: null },
        requestId: randomUUID(),
        sourceIp: null,
      },
      close: () => store.close(),
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
