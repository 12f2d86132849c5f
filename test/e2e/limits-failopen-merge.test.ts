/**
 * Spend served while one replica could not reach Redis (fail open) reaches the shared counters
 * once Redis answers again (DESIGN §13 "Leases, reseeding, fail-open seeds"). Two gateways on one
 * PostgreSQL (one ledger) and one Redis; A reaches Redis through a TCP proxy the test cuts. Before,
 * A's local spend stayed local: Redis read less than the ledger for the rest of the month, and
 * the fleet spent past the budget by what A served during the outage.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limitSeedsFromLedger } from '../../src/billing/limit-seeds.js';
import type { TenantLimits } from '../../src/limits/types.js';
import { tenantsRepo } from '../../src/store/index.js';
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../../src/store/testing.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { claimRedisDb, type DedicatedRedisDb } from '../helpers/redis-db.js';
import { POSTGRES_URL, postgresAvailable, redisAvailable } from '../helpers/services.js';
import { cuttableProxy, type CuttableProxy } from '../helpers/tcp-proxy.js';

const available = (await postgresAvailable()) && (await redisAvailable());
const KEY = `sk-merge-${randomBytes(16).toString('hex')}`;
/** 10,000 µ a request, whatever the tokens: ten requests exhaust the budget. */
const PER_REQUEST = 10_000;
const BUDGET = 100_000;

const YAML = `
limits: { redisTimeoutMs: 200 }
providers:
  - { name: upstream, kind: mock }
deployments:
  - { model: priced, provider: upstream, limitsFailMode: open, prices: { input: 0, output: 0, request: 0.01 } }
tenants:
  - slug: merged
    keys: [{ name: main, value: ${KEY} }]
    limits:
      - { id: budget-monthly, metric: cost, window: month, limit: ${BUDGET} }
`;

const LIMITS: TenantLimits = {
  plan: null,
  weight: 1,
  rules: [{ id: 'budget-monthly', scope: 'tenant', subject: null, metric: 'cost', window: 'month', limit: BUDGET, burst: null, models: null }],
  timeZone: 'UTC',
  budgetAction: 'reject',
};

describe.skipIf(!available)('fail-open spend written back to Redis across two gateways [PostgreSQL, Redis]', () => {
  let db: PostgresTestDatabase | undefined;
  let redis: DedicatedRedisDb | undefined;
  let proxy: CuttableProxy | undefined;
  let a: TestGateway | undefined;
  let b: TestGateway | undefined;

  beforeAll(async () => {
    db = await createPostgresTestDatabase(POSTGRES_URL);
    redis = await claimRedisDb();
    proxy = await cuttableProxy(new URL(redis.url));
    const env = { DATABASE_URL: db.url, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'), GATEHOUSE_DEMO: '0' };
    a = await startTestGateway({ yaml: YAML, env: { ...env, REDIS_URL: proxy.url } }); // alone first: it migrates
    b = await startTestGateway({ yaml: YAML, env: { ...env, REDIS_URL: redis.url } });
  }, 180_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await proxy?.close();
    await redis?.release();
    await db?.drop();
  });

  const chat = async (gw: TestGateway): Promise<number> => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'priced', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 }),
    });
    await res.body.dump();
    return res.statusCode;
  };
  const metric = async (gw: TestGateway, name: string): Promise<number | undefined> => {
    const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await request(`${gw.url}/metrics`)).body.text());
    return m === null ? undefined : Number(m[1]);
  };

  it('after the outage Redis holds what the ledger holds, and the fleet stops at the budget', async () => {
    const [ga, gb] = [a as TestGateway, b as TestGateway];
    const deadline = Date.now() + 15_000;
    while ((await metric(ga, 'gatehouse_replicas')) !== 2 || (await metric(gb, 'gatehouse_replicas')) !== 2) {
      if (Date.now() > deadline) throw new Error('the gateways never saw each other');
      await new Promise((r) => setTimeout(r, 200));
    }
    const tenantId = await ga.store.platform((tx) => tenantsRepo.findIdBySlug(tx, 'merged'));
    if (tenantId === null) throw new Error('tenant not bootstrapped');
    /** The ledger's figure for the budget counter, and Redis's, keyed as admission keys it. */
    const figures = async () => {
      await Promise.all([ga.metering.drain(10_000), gb.metering.drain(10_000)]);
      const [seed] = await limitSeedsFromLedger({ store: ga.store, limitsOf: () => LIMITS })(tenantId);
      if (seed === undefined) throw new Error('no ledger figure');
      return { ledger: seed.used, redis: Number((await redis?.client.hget(seed.key, 'u')) ?? 0) };
    };

    // 40,000 µ through Redis; the two agree.
    for (const gw of [ga, gb, ga, gb]) expect(await chat(gw)).toBe(200);
    expect(await figures()).toEqual({ ledger: 4 * PER_REQUEST, redis: 4 * PER_REQUEST });

    // A loses Redis and serves from its local counters (half the budget, seeded with half of what
    // it last saw taken) until they are full; B serves one more through Redis meanwhile.
    (proxy as CuttableProxy).cut();
    const local: number[] = [];
    for (let i = 0; i < 5; i++) local.push(await chat(ga));
    expect(local.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    const servedLocally = local.filter((s) => s === 200).length;
    expect(servedLocally).toBeGreaterThan(0);
    expect(await chat(gb)).toBe(200);
    expect(await metric(ga, 'gatehouse_limits_backend_up')).toBe(0);

    (proxy as CuttableProxy).restore();
    const back = Date.now() + 15_000;
    let now = await figures();
    while (now.redis !== now.ledger) {
      if (Date.now() > back) break;
      await new Promise((r) => setTimeout(r, 200));
      now = await figures();
    }
    expect(now).toEqual({ ledger: (5 + servedLocally) * PER_REQUEST, redis: (5 + servedLocally) * PER_REQUEST });
    expect(await metric(ga, 'gatehouse_limits_backend_up')).toBe(1);
    expect(await metric(ga, 'gatehouse_limits_outage_merges')).toBeGreaterThan(0);
    expect(await metric(ga, 'gatehouse_limits_outage_merges_pending')).toBe(0);

    // B admits what is left of the budget, then refuses: the fleet spent the budget, not more.
    const after: number[] = [];
    for (let i = 0; i < 10; i++) after.push(await chat(gb));
    const left = BUDGET / PER_REQUEST - 5 - servedLocally;
    expect(after.filter((s) => s === 200)).toHaveLength(left);
    expect(after.slice(left).every((s) => s === 429)).toBe(true);
    expect(await figures()).toEqual({ ledger: BUDGET, redis: BUDGET });
  }, 120_000);
});
