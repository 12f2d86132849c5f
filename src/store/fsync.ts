/**
 * fsync by path, for a file or a directory (a directory's entries are data too: a created or
 * renamed file is durable only once its directory is synced). Shared by the embedded database's
 * creation and the usage spool.
 */
import { open } from 'node:fs/promises';

export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
