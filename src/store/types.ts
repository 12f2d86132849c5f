/**
 * The store's public shapes. Code outside src/store/ sees only these: a Store that hands out
 * role-bound transaction handles, never a raw connection.
 */

import type { ListenEvents, NotificationHandler, Unlisten } from './notify.js';

export type StoreKind = 'embedded' | 'postgres';

export type OpenStoreOptions =
  /**
   * Embedded PGlite persisted in `dataDir/pgdata`, with an exclusive lock on `dataDir`. `signal`
   * stops an open in progress (a stop during start-up): the creation of a new database is killed
   * and the open rejects with the signal's reason, leaving the directory unlocked.
   */
  | { dataDir: string; thread?: EmbeddedThread; signal?: AbortSignal }
  /** PostgreSQL through a connection pool. */
  | { databaseUrl: string; poolSize?: number }
  /** In-memory PGlite (tests), optionally loaded from a `dumpDataDir()` tarball. */
  | { memory: true; loadDataDir?: Blob; thread?: EmbeddedThread };

/**
 * Where embedded PGlite runs: on a worker thread of its own (the default for a data directory,
 * so WebAssembly PostgreSQL never blocks the request thread) or on the calling thread.
 */
export type EmbeddedThread = 'worker' | 'main';

export interface QueryResult<T> {
  rows: T[];
  /** Rows returned or changed by the statement. */
  rowCount: number;
}

/**
 * Runs one parametrised statement. The SQL text must be a constant: values go in `params`,
 * never into the string (DESIGN §11.10).
 */
export interface Queryable {
  query<T extends object = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>>;
}

/**
 * A transaction running as `gatehouse_app` with `app.tenant_id` set: row-level security limits
 * every statement to this tenant's rows. Only SELECT/INSERT/UPDATE/DELETE/WITH statements are
 * accepted (no SET, DO, DDL): see guard.ts.
 */
export interface TenantTx extends Queryable {
  readonly scope: 'tenant';
  readonly tenantId: string;
}

/** A read-only transaction running as `gatehouse_platform`: metadata columns of every tenant. */
export interface PlatformTx extends Queryable {
  readonly scope: 'platform';
}

/** A transaction as the connecting (owning) user: migrations and bootstrap only. */
export interface AdminTx extends Queryable {
  readonly scope: 'admin';
  /** Several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface MigrateResult {
  /** Ids of the migrations this call applied (empty when the schema was current). */
  applied: number[];
}

export interface Store {
  readonly kind: StoreKind;
  /** Applies pending migrations; idempotent and safe to run from several processes at once. */
  migrate(): Promise<MigrateResult>;
  /** Tenant-scoped work: the only way to touch tenant rows from the data plane. */
  withTenant<T>(tenantId: string, fn: (tx: TenantTx) => Promise<T>): Promise<T>;
  /** Platform-wide metadata reads (the start-up snapshot), in one consistent read-only snapshot. */
  platform<T>(fn: (tx: PlatformTx) => Promise<T>): Promise<T>;
  /** Owner access: migrations and bootstrap only, never request handling. */
  admin<T>(fn: (tx: AdminTx) => Promise<T>): Promise<T>;
  /**
   * Calls `onMessage` with the payload of every NOTIFY on `channel` committed by anyone on this
   * database; resolves once listening. PostgreSQL keeps a dedicated connection and reconnects
   * with backoff (then `events.onReconnect`: notifications sent meanwhile are lost); PGlite
   * delivers in process. Returns the function that stops listening.
   */
  listen(channel: string, onMessage: NotificationHandler, events?: ListenEvents): Promise<Unlisten>;
  close(): Promise<void>;
}
