/**
 * Issue 6's metering guarantees against real failures, with `gatehouse start` processes on
 * PostgreSQL:
 * (a) kill -9 of the gateway under load, then a restart on the same data directory: every request
 *     whose response the client saw complete has exactly one usage event;
 * (b) PostgreSQL unreachable for 30 s under load (a TCP proxy in this test between the gateway and
 *     the real server refuses and cuts connections; the shared server itself is never touched):
 *     requests keep being served, nothing is lost, and the backlog drains on recovery.
 * Client request ids are unique per request here, so "exactly one event" is checked per id.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, tenantsRepo, type Store } from '../../src/store/index.js';
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../../src/store/testing.js';
import { startCli, stopCli, type CliGateway } from '../helpers/cli.js';
import { POSTGRES_URL, postgresAvailable } from '../helpers/services.js';
import { cuttableProxy } from '../helpers/tcp-proxy.js';

const available = await postgresAvailable();
const MASTER_KEY_HEX = randomBytes(32).toString('hex');
const KEY = `sk-metering-${randomBytes(16).toString('hex')}`;

const CONFIG = [
  'providers:',
  '  - { name: mock, kind: mock, mock: { latencyMs: 2, tokensPerSecond: 0 } }',
  'deployments:',
  '  - { model: gpt-4o-mini, provider: mock, prices: { input: 0.15, output: 0.6 } }',
  'tenants:',
  '  - slug: metered',
  '    keys:',
  '      - { name: main, value: { env: METERING_KEY } }',
  'metering:',
  '  shipLingerMs: 20',
  '',
].join('\n');

interface Load {
  /** Request ids whose response completed (full body read, status 200). */
  completed: Set<string>;
  statuses: Map<number, number>;
  errors: number;
  stop(): Promise<void>;
}

/** `workers` clients in a loop until stopped; half stream. Ids are unique per request. */
function startLoad(url: string, prefix: string, workers: number): Load {
  const pool = new Pool(url, { connections: workers, pipelining: 1 });
  const completed = new Set<string>();
  const statuses = new Map<number, number>();
  let errors = 0;
  let stopping = false;
  let n = 0;
  const worker = async () => {
    while (!stopping) {
      const id = `${prefix}-${n++}`;
      const stream = n % 2 === 0;
      try {
        const res = await pool.request({
          path: '/v1/chat/completions',
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, 'x-request-id': id },
          body: JSON.stringify({
            model: 'gpt-4o-mini',
            stream,
            ...(stream ? { stream_options: { include_usage: true } } : {}),
            messages: [{ role: 'user', content: `hello ${id}` }],
          }),
          headersTimeout: 20_000,
          bodyTimeout: 20_000,
        });
        const text = await res.body.text();
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        // Complete: the whole body arrived (a cut stream has no [DONE]; a cut JSON does not parse).
        const whole = stream ? text.includes('data: [DONE]') : (() => { try { JSON.parse(text); return true; } catch { return false; } })();
        if (res.statusCode === 200 && whole) completed.add(id);
      } catch {
        errors++;
        if (!stopping) await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const running = Promise.all(Array.from({ length: workers }, worker));
  return {
    completed,
    statuses,
    get errors() {
      return errors;
    },
    async stop() {
      stopping = true;
      await running;
      await pool.destroy();
    },
  };
}

async function backlogOf(url: string): Promise<number> {
  const res = await fetch(`${url}/metrics`);
  const m = /^gatehouse_usage_spool_backlog_bytes (\d+)/m.exec(await res.text());
  return m ? Number(m[1]) : Number.NaN;
}

async function waitDrained(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await backlogOf(url)) === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`usage backlog of ${url} did not drain in ${timeoutMs} ms`);
}

describe.skipIf(!available)('metering durability across process and database failures [PostgreSQL]', () => {
  let dir: string;
  let db: PostgresTestDatabase;
  let store: Store;
  let tenantId: string;
  const gateways: CliGateway[] = [];

  const env = (name: string, databaseUrl: string): Record<string, string> => ({
    DATABASE_URL: databaseUrl,
    GATEHOUSE_MASTER_KEY: MASTER_KEY_HEX,
    GATEHOUSE_CONFIG: join(dir, 'gatehouse.yaml'),
    GATEHOUSE_DATA_DIR: join(dir, `${name}-data`),
    GATEHOUSE_HOST: '127.0.0.1',
    GATEHOUSE_PORT: '0',
    GATEHOUSE_LOG_LEVEL: 'info',
    GATEHOUSE_SHUTDOWN_GRACE_MS: '1000',
    GATEHOUSE_DEMO: '0',
    METERING_KEY: KEY,
  });

  const start = async (name: string, databaseUrl: string) => {
    const g = await startCli(env(name, databaseUrl));
    gateways.push(g);
    return g;
  };

  async function eventCounts(prefix: string): Promise<Map<string, number>> {
    return store.withTenant(tenantId, async (tx) => {
      const { rows } = await tx.query<{ request_id: string; n: number }>(
        'SELECT request_id, count(*)::int AS n FROM usage_events WHERE request_id LIKE $1 GROUP BY request_id',
        [`${prefix}-%`],
      );
      return new Map(rows.map((r) => [r.request_id, r.n]));
    });
  }

  function check(load: Load, events: Map<string, number>) {
    const missing = [...load.completed].filter((id) => events.get(id) !== 1);
    const doubled = [...events].filter(([, n]) => n !== 1);
    return { completed: load.completed.size > 0, missing, doubled };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-metering-'));
    db = await createPostgresTestDatabase(POSTGRES_URL);
    await writeFile(join(dir, 'gatehouse.yaml'), CONFIG);
    const first = await start('boot', db.url); // alone first: it may compile the sources, and it migrates
    store = await openStore({ databaseUrl: db.url, poolSize: 2 });
    const id = await store.platform((tx) => tenantsRepo.findIdBySlug(tx, 'metered'));
    if (id === null) throw new Error('tenant not bootstrapped');
    tenantId = id;
    await stopCli(first);
  }, 300_000);

  afterAll(async () => {
    for (const g of gateways) {
      if (g.child.exitCode === null && g.child.signalCode === null) g.child.kill('SIGKILL');
    }
    if (store !== undefined) await db.drop(store);
    else await db?.drop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('(a) kill -9 under load, then restart: every completed request has exactly one event', async () => {
    const victim = await start('killed', db.url);
    const load = startLoad(victim.url, 'kill', 32);
    // At least 2.5 s of load, and enough completed requests to check: a new process on a busy
    // machine (other test files running) may serve only a few dozen in its first seconds.
    const loadStarted = Date.now();
    await new Promise((r) => setTimeout(r, 2_500));
    while (load.completed.size <= 200 && Date.now() - loadStarted < 60_000) await new Promise((r) => setTimeout(r, 50));
    victim.child.kill('SIGKILL');
    await victim.exited;
    await load.stop();
    expect(load.completed.size).toBeGreaterThan(100);

    // The same data directory: the spool's unshipped tail (and any batch shipped but not yet
    // checkpointed) is replayed; the idempotent insert keeps replays from counting twice.
    const again = await start('killed', db.url);
    await waitDrained(again.url, 60_000);
    const result = check(load, await eventCounts('kill'));
    expect({ ...result, missing: result.missing.slice(0, 10), missingCount: result.missing.length }).toEqual({
      completed: true,
      missing: [],
      doubled: [],
      missingCount: 0,
    });
    await stopCli(again);
  }, 240_000);

  it('(b) PostgreSQL unreachable for 30 s under load: served throughout, nothing lost, backlog drains', async () => {
    const proxy = await cuttableProxy(new URL(db.url));
    try {
      const g = await start('outage', proxy.url);
      const load = startLoad(g.url, 'outage', 16);
      await new Promise((r) => setTimeout(r, 1_000));
      proxy.cut();
      const servedBefore = load.completed.size;
      await new Promise((r) => setTimeout(r, 30_000));
      const servedDuring = load.completed.size - servedBefore;
      if (g.child.exitCode !== null || g.child.signalCode !== null) throw new Error(`gateway died during the outage:\n${g.output().slice(-4000)}`);
      const backlogDuring = await backlogOf(g.url);
      proxy.restore();
      await new Promise((r) => setTimeout(r, 1_000));
      await load.stop();
      // Requests need no database: they were served while it was down, and spooled.
      expect(servedDuring).toBeGreaterThan(100);
      expect(backlogDuring).toBeGreaterThan(0);
      await waitDrained(g.url, 90_000);
      const result = check(load, await eventCounts('outage'));
      expect({ ...result, missing: result.missing.slice(0, 10), missingCount: result.missing.length }).toEqual({
        completed: true,
        missing: [],
        doubled: [],
        missingCount: 0,
      });
      expect(load.statuses.get(200)).toBe(load.completed.size);
      await stopCli(g);
    } finally {
      await proxy.close();
    }
  }, 240_000);
});
