/**
 * Issue 5's exactness test: two gateway processes (`gatehouse start`) on one PostgreSQL and one
 * Redis. 1,000 concurrent requests, half through each, against a limit of 100 admit exactly 100;
 * a limit changed in the store reaches both within a second.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, stopCli, type CliGateway } from '../helpers/cli.js';
import { limitRulesRepo, openStore, tenantsRepo, type Store } from '../../src/store/index.js';
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../../src/store/testing.js';
import { POSTGRES_URL, REDIS_URL, postgresAvailable, redisAvailable } from '../helpers/services.js';

const available = (await postgresAvailable()) && (await redisAvailable());
const MASTER_KEY_HEX = randomBytes(32).toString('hex');
const KEY = `sk-replicas-${randomBytes(16).toString('hex')}`;

type Gateway = CliGateway;

const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

async function fire(pool: Pool, n: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const res = await pool.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body,
      });
      await res.body.dump();
      return res.statusCode;
    }),
  );
}

describe.skipIf(!available)('limits across two gateway processes sharing Redis [PostgreSQL, Redis]', () => {
  let dir: string;
  let db: PostgresTestDatabase;
  let store: Store;
  let a: Gateway | undefined;
  let b: Gateway | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-replicas-'));
    db = await createPostgresTestDatabase(POSTGRES_URL);
    await writeFile(
      join(dir, 'gatehouse.yaml'),
      [
        'providers:',
        '  - { name: mock, kind: mock }',
        'deployments:',
        '  - { model: gpt-4o-mini, provider: mock }',
        'tenants:',
        '  - slug: replicated',
        '    keys:',
        '      - { name: main, value: { env: REPLICAS_KEY } }',
        '    limits:',
        '      - { id: requests-per-day, metric: requests, window: day, limit: 100 }',
        '',
      ].join('\n'),
    );
    const env = (name: string): Record<string, string> => ({
      DATABASE_URL: db.url,
      REDIS_URL,
      GATEHOUSE_MASTER_KEY: MASTER_KEY_HEX,
      GATEHOUSE_CONFIG: join(dir, 'gatehouse.yaml'),
      GATEHOUSE_DATA_DIR: join(dir, `${name}-data`),
      GATEHOUSE_HOST: '127.0.0.1',
      GATEHOUSE_PORT: '0',
      GATEHOUSE_LOG_LEVEL: 'info', // the 'listening' line names the URL
      GATEHOUSE_SHUTDOWN_GRACE_MS: '1000',
      GATEHOUSE_DEMO: '0',
      REPLICAS_KEY: KEY,
    });
    a = await startCli(env('a')); // alone first: it may compile the sources, and it migrates
    b = await startCli(env('b'));
    store = await openStore({ databaseUrl: db.url, poolSize: 2 });
  }, 300_000);

  afterAll(async () => {
    await Promise.all([stopCli(a), stopCli(b)]);
    if (store !== undefined) await db.drop(store);
    else await db?.drop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('1,000 concurrent requests through both against a limit of 100 admit exactly 100', async () => {
    const pools = [new Pool((a as Gateway).url, { connections: 64 }), new Pool((b as Gateway).url, { connections: 64 })];
    try {
      const statuses = (await Promise.all(pools.map((p) => fire(p, 500)))).flat();
      const ok = statuses.filter((s) => s === 200).length;
      const refused = statuses.filter((s) => s === 429).length;
      const other = statuses.filter((s) => s !== 200 && s !== 429);
      expect({ ok, refused, other }).toEqual({ ok: 100, refused: 900, other: [] });
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  }, 120_000);

  it('a raised limit written to the store reaches both processes within a second', async () => {
    const tenantId = await store.platform((tx) => tenantsRepo.findIdBySlug(tx, 'replicated'));
    if (tenantId === null) throw new Error('tenant not bootstrapped');
    await store.withTenant(tenantId, (tx) =>
      limitRulesRepo.upsert(tx, { id: 'requests-per-day', scope: 'tenant', subject: null, metric: 'requests', window: 'day', limit: 102, burst: null, models: null }),
    );
    const started = Date.now();
    const seen = new Set<string>();
    while (seen.size < 2 && Date.now() - started < 5_000) {
      for (const g of [a, b] as Gateway[]) {
        if (seen.has(g.url)) continue;
        const pool = new Pool(g.url, { connections: 1 });
        const [status] = await fire(pool, 1);
        await pool.close();
        if (status === 200) seen.add(g.url);
      }
      if (seen.size < 2) await new Promise((r) => setTimeout(r, 25));
    }
    const elapsed = Date.now() - started;
    expect(seen.size).toBe(2);
    expect(elapsed).toBeLessThan(1_000);
  }, 30_000);
});
