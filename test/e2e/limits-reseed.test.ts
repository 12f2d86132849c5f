/**
 * Redis loses counters (DESIGN §12 "Limits under failure"): a restart without persistence, a
 * failover to a replica that lagged, an operator's FLUSHDB. Day/month quotas and budgets must
 * not start again from zero: the gateway notices (a per-tenant marker missing, or naming another
 * Redis run) and reseeds the tenant's counters from the PostgreSQL ledger (usage rollups),
 * taking the larger of Redis and the ledger, before the request is admitted.
 *
 * Runs on its own Redis database index (test/helpers/redis-db.ts): FLUSHDB never touches db 0,
 * which every other test shares.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { claimRedisDb, type DedicatedRedisDb } from '../helpers/redis-db.js';
import { POSTGRES_URL, postgresAvailable, redisAvailable } from '../helpers/services.js';
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../../src/store/testing.js';
import { tenantsRepo } from '../../src/store/index.js';

const available = (await postgresAvailable()) && (await redisAvailable());
const KEY = `sk-reseed-${randomBytes(16).toString('hex')}`;
const OTHER = `sk-reseed-other-${randomBytes(12).toString('hex')}`;
const USERS = `sk-reseed-users-${randomBytes(12).toString('hex')}`;
const UNITS = `sk-reseed-units-${randomBytes(12).toString('hex')}`;

// 1 and 10 micro-units per input/output token, 1,000 per request; 2.5 compute units per token.
const YAML = `
providers:
  - { name: mock, kind: mock }
deployments:
  - model: priced-chat
    provider: mock
    upstreamModel: priced-chat
    prices: { input: 1, output: 10, request: 0.001 }
    weight: 2.5
tenants:
  - slug: spender
    keys:
      - { name: main, value: ${KEY} }
    limits:
      - { id: requests-per-day, metric: requests, window: day, limit: 6 }
      - { id: budget-monthly, metric: cost, window: month, limit: 1000000 }
      - { id: key-tokens-per-day, scope: key, metric: tokens, window: day, limit: 1000000 }
  - slug: bystander
    keys:
      - { name: main, value: ${OTHER} }
    limits:
      - { id: requests-per-day, metric: requests, window: day, limit: 6 }
  - slug: end-users
    keys:
      - { name: main, value: ${USERS} }
    limits:
      - { id: user-requests-per-day, scope: user, metric: requests, window: day, limit: 3 }
  - slug: weighted
    keys:
      - { name: main, value: ${UNITS} }
    limits:
      - { id: units-per-day, metric: compute_units, window: day, limit: 400 }
`;

interface Answer {
  status: number;
  code: string | undefined;
  message: string | undefined;
  requestsLeft: number | undefined;
  tokensLeft: number | undefined;
  budgetLeft: string | undefined;
}

describe.skipIf(!available)('limit counters reseeded from the ledger after Redis lost them [PostgreSQL, Redis]', () => {
  let db: PostgresTestDatabase;
  let redis: DedicatedRedisDb;
  let gw: TestGateway;

  beforeAll(async () => {
    db = await createPostgresTestDatabase(POSTGRES_URL);
    redis = await claimRedisDb();
    gw = await startTestGateway({
      yaml: YAML,
      env: { DATABASE_URL: db.url, REDIS_URL: redis.url, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'), GATEHOUSE_DEMO: '0' },
    });
  }, 120_000);
  afterAll(async () => {
    await gw?.stop();
    await redis?.release();
    await db?.drop();
  });

  async function chat(key: string = KEY, user?: string): Promise<Answer> {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'priced-chat',
        max_tokens: 20,
        messages: [{ role: 'user', content: 'how much is left?' }],
        ...(user !== undefined ? { user } : {}),
      }),
    });
    const text = await res.body.text();
    const num = (h: string | string[] | undefined) => (typeof h === 'string' ? Number(h) : undefined);
    let error: { code?: string; message?: string } | undefined;
    try {
      error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    } catch {
      error = undefined;
    }
    const budget = res.headers['x-gatehouse-budget-remaining'];
    return {
      status: res.statusCode,
      code: error?.code,
      message: error?.message,
      requestsLeft: num(res.headers['x-ratelimit-remaining-requests']),
      tokensLeft: num(res.headers['x-ratelimit-remaining-tokens']),
      budgetLeft: typeof budget === 'string' ? budget : undefined,
    };
  }

  it('after FLUSHDB the next request sees what was spent before: requests, tokens and budget', async () => {
    const before: Answer[] = [];
    for (let i = 0; i < 3; i++) before.push(await chat());
    expect(before.map((a) => [a.status, a.requestsLeft])).toEqual([
      [200, 5],
      [200, 4],
      [200, 3],
    ]);
    expect((await chat(OTHER)).requestsLeft).toBe(5);
    const spent = before[2] as Answer;
    await gw.metering.drain(10_000); // the spent requests are in the ledger's rollups

    expect(await redis.client.dbsize()).toBeGreaterThan(0);
    await redis.client.flushdb();

    // Without the reseed this would read 5 again: a day's quota granted afresh.
    const next = await chat();
    expect(next.status).toBe(200);
    expect(next.requestsLeft).toBe(2);
    // Tokens and spend came back too: the counters hold at least the ledger's figures, so what is
    // left after this request is no more than what was left after the third, less this one.
    expect(next.tokensLeft).toBeLessThan(spent.tokensLeft as number);
    expect(Number(next.budgetLeft)).toBeLessThan(Number(spent.budgetLeft));
    // The other tenant is reseeded on its own first request, from its own ledger rows only.
    expect((await chat(OTHER)).requestsLeft).toBe(4);

    expect((await chat()).requestsLeft).toBe(1);
    expect((await chat()).requestsLeft).toBe(0);
    expect(await chat()).toMatchObject({ status: 429, code: 'quota_exceeded' });
  });

  it('a counter behind the ledger under another Redis run (a failover) is raised before admission', async () => {
    const tenantId = await gw.store.platform((tx) => tenantsRepo.findIdBySlug(tx, 'bystander'));
    if (tenantId === null) throw new Error('tenant not bootstrapped');
    await gw.metering.drain(10_000);
    // A replica promoted with a stale copy: the marker was replicated (naming the old primary's
    // run) but the last writes to the counter were not.
    const [counter] = (await redis.client.keys(`gh:{${tenantId}}:requests-per-day:*`)).filter((k) => !k.includes('|') && !k.includes('#'));
    if (counter === undefined) throw new Error('no counter');
    await redis.client.hset(counter, 'u', '0');
    expect(await redis.client.get(`gh:{${tenantId}}:seeded`)).toMatch(/^[0-9a-f]{40}$/);
    await redis.client.set(`gh:{${tenantId}}:seeded`, 'f'.repeat(40));

    // Two were served before (one each side of the flush): the ledger has both.
    expect((await chat(OTHER)).requestsLeft).toBe(3);
    expect(await redis.client.get(`gh:{${tenantId}}:seeded`)).not.toBe('f'.repeat(40));
  });

  it("after FLUSHDB an end user's daily quota and a compute-unit quota come back from the raw events", async () => {
    expect((await chat(USERS, 'alice')).requestsLeft).toBe(2);
    expect((await chat(USERS, 'alice')).requestsLeft).toBe(1);
    expect((await chat(USERS, 'bob')).requestsLeft).toBe(2);
    // A NUL or lone surrogate is stored as U+FFFD: admission must count the same id the ledger holds.
    const odd = 'dave\u0000\ud800';
    expect((await chat(USERS, odd)).requestsLeft).toBe(2);
    expect((await chat(USERS, odd)).requestsLeft).toBe(1);
    let served = 0;
    let refusal: Answer | undefined;
    for (; served < 10 && refusal === undefined; served++) {
      const a = await chat(UNITS);
      if (a.status !== 200) refusal = a;
    }
    expect(served).toBeGreaterThan(1);
    expect(refusal).toMatchObject({ status: 429, code: 'quota_exceeded' });
    await gw.metering.drain(10_000);
    await redis.client.flushdb();

    // The rollups have no end user and no compute units: without the events' figures alice
    // would have 2 left again, and the compute units would admit the next request.
    expect((await chat(USERS, 'alice')).requestsLeft).toBe(0);
    expect((await chat(USERS, 'bob')).requestsLeft).toBe(1);
    expect((await chat(USERS, 'carol')).requestsLeft).toBe(2);
    expect((await chat(USERS, odd)).requestsLeft).toBe(0);
    const alice = await chat(USERS, 'alice');
    expect(alice).toMatchObject({ status: 429, code: 'quota_exceeded' });
    expect(alice.message).toContain("requests per day for this end user (rule 'user-requests-per-day')");
    const units = await chat(UNITS);
    expect(units).toMatchObject({ status: 429, code: 'quota_exceeded' });
    expect(units.message).toContain("compute units per day for this tenant (rule 'units-per-day')");
  });
});
