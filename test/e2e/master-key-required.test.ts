/**
 * On PostgreSQL the master key is required. A start without one is refused before it touches the
 * database: an empty database stays empty (it used to be migrated first, then refused).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MasterKeyError } from '../../src/crypto/master-key.js';
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../../src/store/testing.js';
import { startTestGateway } from '../helpers/gateway.js';
import { POSTGRES_URL, postgresAvailable } from '../helpers/services.js';

const available = await postgresAvailable();

describe.skipIf(!available)('PostgreSQL without a master key [PostgreSQL]', () => {
  let db: PostgresTestDatabase;
  beforeAll(async () => {
    db = await createPostgresTestDatabase(POSTGRES_URL);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('refuses to start, naming the variable, and leaves the database unmigrated', async () => {
    const err = await startTestGateway({ env: { DATABASE_URL: db.url, GATEHOUSE_DEMO: '0' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MasterKeyError);
    expect(String(err)).toContain('GATEHOUSE_MASTER_KEY');
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>("SELECT count(*)::text AS n FROM pg_tables WHERE schemaname = 'public'");
      expect(rows[0]?.n).toBe('0');
    } finally {
      await client.end();
    }
  });
});
