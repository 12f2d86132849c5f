/**
 * PGlite (PostgreSQL in WASM) as a Driver. PGlite is one connection: its transaction() holds a
 * mutex, so concurrent store calls simply queue.
 */
import { PGlite } from '@electric-sql/pglite';
import type { PGliteOptions } from '@electric-sql/pglite';
import type { Driver, SqlSession } from './driver.js';
import { createPgliteListener } from './notify-pglite.js';
import { embeddedStartParams, enableFsync } from './pglite-settings.js';

const BYTEA_OID = 17;
const INT8_OID = 20;

/**
 * Values come back as node-postgres returns them, so repositories see one set of types in both
 * modes: bytea as Buffer (PGlite: Uint8Array), int8 as string (PGlite: number, which silently
 * loses precision above 2^53).
 */
const parsers: NonNullable<PGliteOptions['parsers']> = {
  [BYTEA_OID]: (text: string) => Buffer.from(text.slice(2), 'hex'),
  [INT8_OID]: (text: string) => text,
};

const JSON_OID = 114;

/**
 * json parameters go in binary format, which for json is the text itself: PGlite then copies the
 * bytes instead of measuring and encoding the string in JavaScript character by character (twice),
 * ~2 µs per usage event of a shipped batch. (PGlite sends a Uint8Array a serializer returns as
 * a binary parameter; its typings say string.)
 */
const serializers = {
  [JSON_OID]: (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)),
} as unknown as NonNullable<PGliteOptions['serializers']>;

export async function createPgliteInstance(dataDir: string | undefined, loadDataDir?: Blob): Promise<PGlite> {
  const options: PGliteOptions = { parsers, serializers, startParams: embeddedStartParams() };
  if (dataDir !== undefined) options.dataDir = dataDir;
  if (loadDataDir !== undefined) options.loadDataDir = loadDataDir;
  const db = await PGlite.create(options);
  enableFsync(db);
  return db;
}

export function pgliteDriver(db: PGlite, onClose: () => Promise<void> = async () => {}): Driver {
  const listener = createPgliteListener(db);
  return {
    kind: 'embedded',
    transaction<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
      return db.transaction(async (tx) => {
        const session: SqlSession = {
          async query<R>(sql: string, params: readonly unknown[]) {
            const r = await tx.query<R>(sql, [...params]);
            return { rows: r.rows, rowCount: r.rowCount ?? r.rows.length };
          },
          async exec(sql: string) {
            await tx.exec(sql);
          },
        };
        return fn(session);
      });
    },
    listen: (channel, onMessage, events) => listener.listen(channel, onMessage, events),
    async close() {
      try {
        await listener.close();
        if (!db.closed) await db.close();
      } finally {
        await onClose();
      }
    },
  };
}
