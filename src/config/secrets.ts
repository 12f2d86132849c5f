/**
 * Resolves secret references (`"literal"`, `{env: NAME}`, `{file: path}`) once, at start-up, so a
 * missing credential stops the gateway before it takes traffic instead of failing the first
 * request. Messages name the variable or file, never the secret.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { SecretRef } from './schema.js';

export type SecretResult = { ok: true; value: string } | { ok: false; message: string };

/** Secrets are short; a bigger file is a wrong path (or /dev/zero), not a key. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * @param baseDir directory that relative `{file}` paths are resolved against: the config file's
 *   directory, so a config and its secrets can move together.
 */
export async function resolveSecret(ref: SecretRef, env: NodeJS.ProcessEnv, baseDir: string): Promise<SecretResult> {
  if (typeof ref === 'string') return { ok: true, value: ref };
  if ('env' in ref) {
    const value = env[ref.env];
    if (value === undefined) return { ok: false, message: `environment variable ${ref.env} is not set` };
    if (value === '') return { ok: false, message: `environment variable ${ref.env} is empty` };
    return { ok: true, value };
  }
  const file = path.resolve(baseDir, ref.file);
  let text: string;
  try {
    text = await readSmallFile(file);
  } catch (err) {
    return { ok: false, message: `cannot read secret file ${file}: ${describeFsError(err)}` };
  }
  // Files written by `echo` or editors end with a newline that is not part of the secret.
  const value = text.trim();
  if (value === '') return { ok: false, message: `secret file ${file} is empty` };
  return { ok: true, value };
}

async function readSmallFile(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new Error('not a regular file');
    if (stat.size > MAX_SECRET_FILE_BYTES) throw new Error(`larger than ${MAX_SECRET_FILE_BYTES} bytes`);
    return await handle.readFile({ encoding: 'utf8' });
  } finally {
    await handle.close();
  }
}

/** The error code (ENOENT, EACCES, ...) or our own reason; never file contents. */
export function describeFsError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'no such file (ENOENT)';
    if (code === 'EACCES' || code === 'EPERM') return `permission denied (${code})`;
    if (code === 'EISDIR') return 'is a directory (EISDIR)';
    return code ?? err.message;
  }
  return String(err);
}
