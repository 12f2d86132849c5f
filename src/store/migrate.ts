/**
 * Applies the numbered migrations. Each runs in its own transaction together with the row
 * that records it, so a failure leaves the schema at the previous migration. Concurrent
 * migrators (replicas starting together) serialise on a transaction-scoped advisory lock and
 * re-read what is applied once they hold it. An applied migration whose SQL changed aborts the
 * run: the database would no longer match what the code believes it is.
 */
import { createHash } from 'node:crypto';
import { MIGRATIONS } from './migrations/index.js';
import type { Migration } from './migrations/index.js';
import type { AdminTx, MigrateResult } from './types.js';

export class MigrationError extends Error {
  override name = 'MigrationError';
}

interface AppliedRow {
  id: number;
  name: string;
  checksum: string;
}

/** Anything that can open an owner transaction (the Store). */
export interface AdminRunner {
  admin<T>(fn: (tx: AdminTx) => Promise<T>): Promise<T>;
}

export function migrationChecksum(m: Migration): string {
  return createHash('sha256').update(m.sql, 'utf8').digest('hex');
}

/**
 * Ids strictly ascend. Numbers are handed out per branch of work before the branches merge, so a
 * branch may hold 0021 after 0015 until 0016-0020 land: a gap is allowed, disorder is not.
 */
function validateList(migrations: readonly Migration[]): void {
  let previous = 0;
  migrations.forEach((m, i) => {
    if (!Number.isInteger(m.id) || m.id <= previous) {
      throw new MigrationError(`migration list out of order: position ${i + 1} holds id ${m.id} after ${previous}`);
    }
    previous = m.id;
  });
}

// A constant key (ASCII "gatehous" as int8): transaction-scoped, so it is released on COMMIT or
// ROLLBACK and a crashed migrator cannot leave it held.
const LOCK = 'SELECT pg_advisory_xact_lock(7449363237540164979)';

const CREATE_TABLE = `
CREATE TABLE IF NOT EXISTS schema_migrations (
  id integer PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

async function readApplied(tx: AdminTx, migrations: readonly Migration[]): Promise<Set<number>> {
  const { rows } = await tx.query<AppliedRow>('SELECT id, name, checksum FROM schema_migrations ORDER BY id');
  const byId = new Map(migrations.map((m) => [m.id, m]));
  for (const row of rows) {
    const m = byId.get(row.id);
    const label = `migration ${String(row.id).padStart(4, '0')} (${row.name})`;
    if (m === undefined) {
      throw new MigrationError(
        `the database has ${label}, which this version of Gatehouse does not know: it was migrated by a newer version`,
      );
    }
    const expected = migrationChecksum(m);
    if (row.checksum !== expected) {
      throw new MigrationError(
        `${label} was applied with checksum ${row.checksum}, but the code now has ${expected}: ` +
          'an applied migration must never change; revert the edit and add a new migration instead',
      );
    }
  }
  return new Set(rows.map((r) => r.id));
}

export async function runMigrations(
  store: AdminRunner,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrateResult> {
  validateList(migrations);
  await store.admin(async (tx) => {
    await tx.query(LOCK);
    await tx.exec(CREATE_TABLE);
    await readApplied(tx, migrations); // verify checksums even when nothing is pending
  });

  const applied: number[] = [];
  for (const m of migrations) {
    const ran = await store.admin(async (tx) => {
      await tx.query(LOCK);
      if ((await readApplied(tx, migrations)).has(m.id)) return false;
      try {
        await tx.exec(m.sql);
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        throw new MigrationError(`migration ${String(m.id).padStart(4, '0')} (${m.name}) failed: ${reason}`, { cause: err });
      }
      await tx.query('INSERT INTO schema_migrations (id, name, checksum) VALUES ($1, $2, $3)', [
        m.id,
        m.name,
        migrationChecksum(m),
      ]);
      return true;
    });
    if (ran) applied.push(m.id);
  }
  return { applied };
}
