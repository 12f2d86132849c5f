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
import type { AdminTx, MigrateResult, PlatformTx, Queryable } from './types.js';

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

function validateList(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.id !== i + 1) throw new MigrationError(`migration list out of order: position ${i + 1} holds id ${m.id}`);
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

async function readApplied(tx: Queryable, migrations: readonly Migration[]): Promise<Set<number>> {
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

/** Anything that can open a platform (read-only) transaction (the Store). */
export interface PlatformRunner {
  platform<T>(fn: (tx: PlatformTx) => Promise<T>): Promise<T>;
}

/**
 * Whether this connection may change the schema: it owns schema_migrations (or is a superuser,
 * as with the embedded store), or there is no schema yet (a first install must migrate).
 */
export async function mayMigrate(store: AdminRunner): Promise<boolean> {
  return store.admin(async (tx) => {
    const { rows } = await tx.query<{ may: boolean }>(
      `SELECT coalesce((SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass('schema_migrations')), true) AS may`,
    );
    return rows[0]?.may === true;
  });
}

/**
 * Checks, without changing anything, that the database has exactly this version's migrations
 * (read through the platform role, migration 0019's grant). For a gateway that does not own the
 * schema: it cannot migrate, so a database behind it (or ahead of it) is refused with the fix.
 */
export async function verifyMigrations(store: PlatformRunner, migrations: readonly Migration[] = MIGRATIONS): Promise<void> {
  validateList(migrations);
  let applied: Set<number>;
  try {
    applied = await store.platform((tx) => readApplied(tx, migrations));
  } catch (err) {
    if (err instanceof MigrationError) throw err;
    // 42501: no grant yet (a schema from before migration 0019); 42P01: no schema at all.
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
    if (code !== '42501' && code !== '42P01') throw err;
    applied = new Set();
  }
  const missing = migrations.filter((m) => !applied.has(m.id));
  if (missing.length > 0) {
    const first = missing[0] as Migration;
    throw new MigrationError(
      `the database lacks migration ${String(first.id).padStart(4, '0')} (${first.name})${missing.length > 1 ? ` and ${missing.length - 1} more` : ''}: ` +
        'run `gatehouse migrate` with the schema owner\'s DATABASE_URL first (a connection that does not own the schema cannot apply them)',
    );
  }
}

/**
 * What a gateway does with the schema at start: migrate when it may (embedded store, a PostgreSQL
 * connection as the owner), else verify that the owner has migrated it (DESIGN §3: production
 * gateways connect as a role that owns nothing).
 */
export async function prepareSchema(store: AdminRunner & PlatformRunner & { migrate(): Promise<MigrateResult> }): Promise<{ owner: boolean; applied: number[] }> {
  if (await mayMigrate(store)) return { owner: true, applied: (await store.migrate()).applied };
  await verifyMigrations(store);
  return { owner: false, applied: [] };
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
