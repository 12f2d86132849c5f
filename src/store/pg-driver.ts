/** node-postgres as a Driver: one pooled client per transaction. */
import pg from 'pg';
import type { QueryConfig } from 'pg';
import type { Driver, SqlSession } from './driver.js';
import { createPgListener } from './notify-pg.js';

export function pgDriver(databaseUrl: string, poolSize = 10): Driver {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize, application_name: 'gatehouse' });
  // An idle client that loses its connection emits 'error' on the pool; without a listener
  // that would crash the process. The pool has already discarded the client.
  pool.on('error', () => {});
  // Created now, connects on the first listen(): a LISTEN needs a session of its own.
  const listener = createPgListener({ connectionString: databaseUrl });

  return {
    kind: 'postgres',
    async transaction<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      // A client whose transaction state is unknown must be destroyed, not returned to the pool:
      // the next borrower (another tenant) would run inside it (DESIGN §12, cancellation).
      let poisoned: Error | undefined;
      // The pool listens for errors of idle clients only: a checked-out client whose connection
      // drops between two queries emits 'error', which would otherwise crash the process.
      const onError = (err: Error) => {
        poisoned ??= err;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const session: SqlSession = {
          async query<R>(sql: string, params: readonly unknown[]) {
            // queryMode 'extended' even without parameters: the extended protocol accepts exactly
            // one statement, so a stray ';' cannot smuggle in a second one. (@types/pg lacks it.)
            const config: QueryConfig & { queryMode: 'extended' } = { text: sql, values: [...params], queryMode: 'extended' };
            const r = await client.query(config);
            return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
          },
          async exec(sql: string) {
            await client.query(sql);
          },
        };
        const result = await fn(session);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackError) {
          poisoned = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
        throw err;
      } finally {
        client.removeListener('error', onError);
        client.release(poisoned);
      }
    },
    listen: (channel, onMessage, events) => listener.listen(channel, onMessage, events),
    async close() {
      await listener.close();
      await pool.end();
    },
  };
}
