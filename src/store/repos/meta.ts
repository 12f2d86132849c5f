/** Platform-level key/value settings (not tenant-owned): written by the owner at bootstrap. */
import type { AdminTx, PlatformTx } from '../types.js';

export const metaRepo = {
  async get(tx: PlatformTx | AdminTx, key: string): Promise<string | null> {
    const { rows } = await tx.query<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key]);
    return rows[0]?.value ?? null;
  },

  async set(tx: AdminTx, key: string, value: string): Promise<void> {
    await tx.query(
      `INSERT INTO meta (key, value) VALUES ($1, $2)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
      [key, value],
    );
  },
};
