/**
 * The server's root secret. It keys the API-key hashes (a leaked database alone cannot be used
 * to test guessed keys) and will wrap tenant data keys. It lives outside the database: from
 * GATEHOUSE_MASTER_KEY (base64 or hex, 32 bytes), from a file, or — embedded mode only — in a
 * file generated in the data directory with owner-only permissions.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export class MasterKeyError extends Error {
  override name = 'MasterKeyError';
}

export function parseMasterKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new MasterKeyError(`${where} must hold 32 bytes, base64- or hex-encoded (got ${key.length} bytes).`);
  }
  return key;
}

export interface MasterKeySource {
  env: NodeJS.ProcessEnv;
  /** Where a generated key may be kept; undefined when the store is not embedded. */
  dataDir: string | undefined;
}

export async function loadMasterKey({ env, dataDir }: MasterKeySource): Promise<Buffer> {
  if (env.GATEHOUSE_MASTER_KEY) return parseMasterKey(env.GATEHOUSE_MASTER_KEY, 'GATEHOUSE_MASTER_KEY');
  if (env.GATEHOUSE_MASTER_KEY_FILE) {
    const file = env.GATEHOUSE_MASTER_KEY_FILE;
    return parseMasterKey(await readFile(file, 'utf8'), `The key file ${file}`);
  }
  if (dataDir === undefined) {
    throw new MasterKeyError(
      'GATEHOUSE_MASTER_KEY (or GATEHOUSE_MASTER_KEY_FILE) is required when the store is PostgreSQL; ' +
        'generate one with: openssl rand -base64 32',
    );
  }
  const file = join(dataDir, 'master.key');
  try {
    return parseMasterKey(await readFile(file, 'utf8'), `The key file ${file}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32);
  await writeFile(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  return key;
}

/** Derives a purpose-bound subkey so one root secret never serves two uses directly. */
export function deriveKey(master: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `gatehouse:${purpose}`, 32));
}

/**
 * Master keys being rotated out, from GATEHOUSE_MASTER_KEY_PREVIOUS (comma-separated, base64 or
 * hex each): during a master-key rotation they still unwrap data keys that have not been
 * re-wrapped yet (see master-rotation.ts). Empty when unset.
 */
export function parsePreviousMasterKeys(env: NodeJS.ProcessEnv): Buffer[] {
  const text = env.GATEHOUSE_MASTER_KEY_PREVIOUS;
  if (text === undefined || text.trim() === '') return [];
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s, i) => parseMasterKey(s, `GATEHOUSE_MASTER_KEY_PREVIOUS (entry ${i + 1})`));
}
