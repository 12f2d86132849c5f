/**
 * What the store needs from a database engine: transactions on one connection, nothing more.
 * PGlite and node-postgres each implement it in one small file; everything above (roles,
 * tenant setting, guards, migrations, repositories) is shared, so both modes run the same SQL.
 */
import type { ListenEvents, NotificationHandler, Unlisten } from './notify.js';
import type { QueryResult, StoreKind } from './types.js';

/** One connection inside an open transaction. */
export interface SqlSession {
  /** One statement over the extended protocol (never several statements). */
  query<T>(sql: string, params: readonly unknown[]): Promise<QueryResult<T>>;
  /** Several statements without parameters over the simple protocol (migrations only). */
  exec(sql: string): Promise<void>;
}

export interface Driver {
  readonly kind: StoreKind;
  /** BEGIN, fn, COMMIT (ROLLBACK if fn throws). The session must not be used after fn settles. */
  transaction<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
  /** LISTEN on `channel` outside any transaction (notify-pg.ts, notify-pglite.ts). */
  listen(channel: string, onMessage: NotificationHandler, events?: ListenEvents): Promise<Unlisten>;
  close(): Promise<void>;
}
