/**
 * Change notifications on real PostgreSQL, and the listener's own connection: dedicated (not
 * from the pool), re-established after it is killed, with a reload signal because whatever was
 * sent in between is lost.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_CHANNEL, type Store } from '../../../src/store/index.js';
import { createPgListener } from '../../../src/store/notify-pg.js';
import { openPostgresTestStore } from '../../../src/store/testing.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';
import { notifyContract } from './notify.contract.js';
import { waitFor } from './helpers.js';

const available = await postgresAvailable();

if (available) {
  notifyContract('PostgreSQL', async () => {
    const { store, drop } = await openPostgresTestStore(POSTGRES_URL);
    return { store, close: drop };
  });
}

const APP_NAME = `gatehouse-listen:${process.pid}`;

describe.skipIf(!available)('PostgreSQL listener connection', () => {
  let store: Store;
  let dbName: string;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    let db: { name: string };
    ({ store, drop, db } = await openPostgresTestStore(POSTGRES_URL, { poolSize: 2 }));
    dbName = db.name;
  });
  afterAll(async () => drop?.());

  /** Backends of this process's listener, as the server sees them. */
  const listenerPids = (): Promise<number[]> =>
    store.admin(async (tx) =>
      (
        await tx.query<{ pid: number }>(
          'SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database() ORDER BY pid',
          [APP_NAME],
        )
      ).rows.map((r) => r.pid),
    );
  const notify = (payload: string) => store.admin((tx) => tx.query('SELECT pg_notify($1, $2)', [CONFIG_CHANNEL, payload]));

  it('listens on one dedicated connection, shared by every subscription, closed with the last one', async () => {
    const a: string[] = [];
    const b: string[] = [];
    const stopA = await store.listen(CONFIG_CHANNEL, (p) => a.push(p));
    const stopB = await store.listen(CONFIG_CHANNEL, (p) => b.push(p));
    try {
      expect(await listenerPids()).toHaveLength(1);
      await notify('one');
      await waitFor('both subscribers hear "one"', () => a.includes('one') && b.includes('one'));
      await stopA();
      await notify('two');
      await waitFor('b hears "two"', () => b.includes('two'));
      expect(a).toEqual(['one']);
    } finally {
      await stopB();
    }
    await waitFor('the listener connection to close', async () => (await listenerPids()).length === 0);
  });

  it('after pg_terminate_backend it reconnects, listens again and asks for a full reload', async () => {
    const heard: string[] = [];
    const errors: string[] = [];
    let reconnects = 0;
    const stop = await store.listen(CONFIG_CHANNEL, (p) => heard.push(p), {
      onError: (err) => errors.push(err.message),
      onReconnect: () => (reconnects += 1),
    });
    try {
      const [first] = await listenerPids();
      expect(first).toBeDefined();
      await store.admin((tx) => tx.query('SELECT pg_terminate_backend($1)', [first]));
      await notify('while-down'); // may be lost: that is what onReconnect is for
      await waitFor('a reconnect', () => reconnects === 1, 10_000);
      expect(errors.length).toBeGreaterThan(0);
      const pids = await listenerPids();
      expect(pids).toHaveLength(1);
      expect(pids[0]).not.toBe(first);
      await notify('after');
      await waitFor('the notification sent after reconnecting', () => heard.includes('after'));
    } finally {
      await stop();
    }
  });

  it('keeps retrying with backoff while the database refuses it, and recovers', async () => {
    const heard: string[] = [];
    let reconnects = 0;
    const errors: string[] = [];
    const stop = await store.listen(CONFIG_CHANNEL, (p) => heard.push(p), {
      onError: (err) => errors.push(err.message),
      onReconnect: () => (reconnects += 1),
    });
    // A database cannot refuse connections to itself from inside: do it from the server's default one.
    const server = new pg.Client({ connectionString: POSTGRES_URL });
    await server.connect();
    const db = server.escapeIdentifier(dbName);
    try {
      // Refuse new connections to this database for a while, then cut the listener.
      await server.query(`ALTER DATABASE ${db} WITH ALLOW_CONNECTIONS false`);
      const [pid] = await listenerPids();
      await server.query('SELECT pg_terminate_backend($1)', [pid]);
      await waitFor('several failed attempts', () => errors.length >= 3, 10_000);
      expect(reconnects).toBe(0);
    } finally {
      await server.query(`ALTER DATABASE ${db} WITH ALLOW_CONNECTIONS true`);
      await server.end();
    }
    try {
      await waitFor('a reconnect once connections are allowed again', () => reconnects === 1, 10_000);
      await notify('back');
      await waitFor('the notification after recovery', () => heard.includes('back'));
    } finally {
      await stop();
    }
  });

  it('a listener that cannot connect at all fails its first listen() instead of hanging', async () => {
    const u = new URL(POSTGRES_URL);
    u.pathname = '/gh_no_such_database';
    const listener = createPgListener({ connectionString: u.toString() });
    try {
      await expect(listener.listen(CONFIG_CHANNEL, () => {})).rejects.toThrow(/does not exist/);
    } finally {
      await listener.close();
    }
  });

  it('refuses channel names that are not plain identifiers', async () => {
    await expect(store.listen('Gatehouse; DROP TABLE tenants', () => {})).rejects.toThrow(/invalid channel name/);
  });
});
