/**
 * The Store: role-bound transactions over a Driver, the same for PGlite and PostgreSQL.
 *
 * Tenant work switches to gatehouse_app with `SET LOCAL ROLE` and sets the tenant with
 * `set_config(..., true)`, both transaction-local, so nothing survives on a pooled connection
 * (DESIGN §3). The switch is needed even when the connection is a superuser (PGlite, tests):
 * a superuser, or a table owner without FORCE, bypasses row-level security.
 *
 * PostgreSQL in production: the gateway's login role is neither owner nor superuser and must
 * be allowed to switch to both roles, and should hold no rights of its own:
 *   CREATE ROLE gatehouse LOGIN NOINHERIT PASSWORD '...';
 *   GRANT gatehouse_app, gatehouse_platform TO gatehouse;
 * Migrations run with the owner's URL (`store.migrate()` on a store opened with it).
 */
import { join } from 'node:path';
import type { Driver, SqlSession } from './driver.js';
import { assertDataStatement } from './guard.js';
import { lockDataDir } from './lock.js';
import { runMigrations } from './migrate.js';
import { pgDriver } from './pg-driver.js';
import { createDatabaseOutOfProcess } from './pglite-create.js';
import { createPgliteInstance, pgliteDriver } from './pglite-driver.js';
import { pgliteWorkerDriver } from './pglite-worker-driver.js';
import type { AdminTx, OpenStoreOptions, PlatformTx, QueryResult, Store, TenantTx } from './types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class StoreClosedError extends Error {
  override name = 'StoreClosedError';
}

type QueryFn = <T extends object = Record<string, unknown>>(sql: string, params?: readonly unknown[]) => Promise<QueryResult<T>>;

/**
 * A query function bound to one transaction that refuses to run once the transaction is over:
 * a handle leaked out of its callback would otherwise run on a pooled connection that by then
 * belongs to someone else's transaction, possibly another tenant's.
 */
function bindQuery(session: SqlSession, guarded: boolean): { query: QueryFn; end(): void } {
  let ended = false;
  const query: QueryFn = async <T extends object>(sql: string, params: readonly unknown[] = []) => {
    if (ended) throw new StoreClosedError('this transaction has ended; do not keep a transaction handle past its callback');
    if (guarded) assertDataStatement(sql);
    return session.query<T>(sql, params);
  };
  return { query, end: () => void (ended = true) };
}

async function run<T>(session: SqlSession, guarded: boolean, fn: (query: QueryFn) => Promise<T>): Promise<T> {
  const bound = bindQuery(session, guarded);
  try {
    return await fn(bound.query);
  } finally {
    bound.end();
  }
}

export function storeFromDriver(driver: Driver): Store {
  let closed = false;
  const open = <T>(work: () => Promise<T>): Promise<T> =>
    closed ? Promise.reject(new StoreClosedError('the store is closed')) : work();

  const store: Store = {
    kind: driver.kind,

    migrate: () => open(() => runMigrations(store)),

    withTenant<T>(tenantId: string, fn: (tx: TenantTx) => Promise<T>): Promise<T> {
      if (typeof tenantId !== 'string' || !UUID.test(tenantId)) {
        return Promise.reject(new TypeError('withTenant needs a tenant id (uuid)'));
      }
      return open(() =>
        driver.transaction(async (session) => {
          // set_config('role', ..., true) is SET LOCAL ROLE; one statement saves a round trip
          // on every tenant transaction.
          await session.query("SELECT set_config('role', 'gatehouse_app', true), set_config('app.tenant_id', $1, true)", [
            tenantId,
          ]);
          return run(session, true, (query) => fn({ scope: 'tenant', tenantId, query }));
        }),
      );
    },

    platform<T>(fn: (tx: PlatformTx) => Promise<T>): Promise<T> {
      return open(() =>
        driver.transaction(async (session) => {
          // One snapshot for everything read (tenants and their keys agree); must come first.
          await session.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY', []);
          await session.query('SET LOCAL ROLE gatehouse_platform', []);
          await session.query("SELECT set_config('app.tenant_id', '', true)", []);
          return run(session, true, (query) => fn({ scope: 'platform', query }));
        }),
      );
    },

    admin<T>(fn: (tx: AdminTx) => Promise<T>): Promise<T> {
      return open(() =>
        driver.transaction(async (session) => {
          let ended = false;
          const exec = async (sql: string) => {
            if (ended) throw new StoreClosedError('this transaction has ended');
            await session.exec(sql);
          };
          try {
            return await run(session, false, (query) => fn({ scope: 'admin', query, exec }));
          } finally {
            ended = true;
          }
        }),
      );
    },

    listen: (channel, onMessage, events) => open(() => driver.listen(channel, onMessage, events)),

    async close() {
      if (closed) return;
      closed = true;
      await driver.close();
    },
  };
  return store;
}

/**
 * Opens the store; does not migrate (call `store.migrate()` where the deployment allows it:
 * in production migrations run as the owner with their own URL, DESIGN §3).
 */
export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  if ('databaseUrl' in opts) {
    const driver = pgDriver(opts.databaseUrl, opts.poolSize);
    try {
      await driver.transaction((s) => s.query('SELECT 1', [])); // fail at start-up, not on first request
    } catch (err) {
      await driver.close();
      throw err;
    }
    return storeFromDriver(driver);
  }
  if ('memory' in opts) {
    if (opts.thread === 'worker') {
      const workerOpts = opts.loadDataDir === undefined ? {} : { loadDataDir: opts.loadDataDir };
      return storeFromDriver(await pgliteWorkerDriver(workerOpts));
    }
    return storeFromDriver(pgliteDriver(await createPgliteInstance(undefined, opts.loadDataDir)));
  }
  // Lock before PGlite touches the files: a second process must not even open them.
  const lock = await lockDataDir(opts.dataDir);
  try {
    const pgdata = join(opts.dataDir, 'pgdata');
    await createDatabaseOutOfProcess(pgdata, opts.signal);
    opts.signal?.throwIfAborted(); // a stop during start-up: created (or found), not opened
    if ((opts.thread ?? 'worker') === 'worker') return storeFromDriver(await pgliteWorkerDriver({ dataDir: pgdata }, () => lock.release()));
    const db = await createPgliteInstance(pgdata);
    return storeFromDriver(pgliteDriver(db, () => lock.release()));
  } catch (err) {
    await lock.release();
    throw err;
  }
}
