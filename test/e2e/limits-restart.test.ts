/**
 * A single gateway keeps its limit counters in memory (no Redis). Restarting it must not grant a
 * day's quota or budget afresh: each tenant's day/month counters are seeded from the ledger on its
 * first request after the start (DESIGN §13 "Limit backends"). Checked for a daily request quota,
 * a daily spend budget, an end user's daily quota (usage_events: the rollups have no end user) and
 * a daily compute-unit quota (usage_events at the deployment's weight, rounded up per request as
 * admission rounds), on the embedded store and on PostgreSQL: use them up, stop the gateway, start
 * a new one on the same store and data directory, and the next request is refused naming the limit.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../../src/store/testing.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { POSTGRES_URL, postgresAvailable } from '../helpers/services.js';

const pgAvailable = await postgresAvailable();
const key = (name: string) => `sk-restart-${name}-${randomBytes(12).toString('hex')}`;
const KEYS = { counted: key('counted'), budgeted: key('budgeted'), users: key('users'), units: key('units') };

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
  - slug: counted
    keys: [{ name: main, value: ${KEYS.counted} }]
    limits:
      - { id: requests-per-day, metric: requests, window: day, limit: 5 }
  - slug: budgeted
    keys: [{ name: main, value: ${KEYS.budgeted} }]
    limits:
      - { id: budget-daily, metric: cost, window: day, limit: 3000 }
  - slug: users
    keys: [{ name: main, value: ${KEYS.users} }]
    limits:
      - { id: user-requests-per-day, scope: user, metric: requests, window: day, limit: 2 }
  - slug: units
    keys: [{ name: main, value: ${KEYS.units} }]
    limits:
      - { id: units-per-day, metric: compute_units, window: day, limit: 400 }
`;

interface Answer {
  status: number;
  code: string | undefined;
  message: string | undefined;
  requestsLeft: number | undefined;
}

const stores = [
  { label: 'embedded store', skip: false },
  { label: 'PostgreSQL', skip: !pgAvailable },
];

for (const s of stores) {
  describe.skipIf(s.skip)(`in-memory limit counters survive a gateway restart [${s.label}]`, () => {
    let dataDir: string;
    let db: PostgresTestDatabase | undefined;
    let env: Record<string, string>;
    let gw: TestGateway | undefined;

    beforeAll(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'gatehouse-restart-'));
      if (s.label === 'PostgreSQL') db = await createPostgresTestDatabase(POSTGRES_URL);
      env = {
        GATEHOUSE_DATA_DIR: dataDir,
        GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'),
        GATEHOUSE_DEMO: '0',
        ...(db !== undefined ? { DATABASE_URL: db.url } : {}),
      };
    }, 120_000);
    afterAll(async () => {
      await gw?.stop();
      await db?.drop();
      await rm(dataDir, { recursive: true, force: true });
    });

    async function chat(apiKey: string, user?: string): Promise<Answer> {
      const res = await request(`${(gw as TestGateway).url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'priced-chat',
          max_tokens: 20,
          messages: [{ role: 'user', content: 'how much is left?' }],
          ...(user !== undefined ? { user } : {}),
        }),
      });
      const text = await res.body.text();
      let error: { code?: string; message?: string } | undefined;
      try {
        error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
      } catch {
        error = undefined;
      }
      const left = res.headers['x-ratelimit-remaining-requests'];
      return { status: res.statusCode, code: error?.code, message: error?.message, requestsLeft: typeof left === 'string' ? Number(left) : undefined };
    }

    /** Requests until the first refusal (at most `max`): how many were served, and the refusal. */
    async function useUp(apiKey: string, max: number): Promise<{ served: number; refusal: Answer }> {
      for (let served = 0; served < max; served++) {
        const a = await chat(apiKey);
        if (a.status !== 200) return { served, refusal: a };
      }
      throw new Error(`still served after ${max} requests`);
    }

    it('daily requests, a daily budget, an end user\'s quota and compute units are refused after the restart as before it', async () => {
      gw = await startTestGateway({ yaml: YAML, env });
      expect((await chat(KEYS.counted)).requestsLeft).toBe(4);
      expect((await chat(KEYS.counted)).requestsLeft).toBe(3);

      const budget = await useUp(KEYS.budgeted, 10);
      expect(budget.served).toBeGreaterThan(0);
      expect(budget.refusal).toMatchObject({ status: 429, code: 'budget_exceeded' });

      expect((await chat(KEYS.users, 'alice')).status).toBe(200);
      expect((await chat(KEYS.users, 'alice')).status).toBe(200);
      expect(await chat(KEYS.users, 'alice')).toMatchObject({ status: 429, code: 'quota_exceeded' });

      const units = await useUp(KEYS.units, 10);
      expect(units.served).toBeGreaterThan(0);
      expect(units.refusal).toMatchObject({ status: 429, code: 'quota_exceeded' });

      // A plain stop: whatever its drain did not ship stays in the spool for the next start.
      await gw.stop();
      gw = undefined;
      gw = await startTestGateway({ yaml: YAML, env });

      // Without the seeds every counter would start from zero again (4 left, all served).
      expect((await chat(KEYS.counted)).requestsLeft).toBe(2);
      const spent = await chat(KEYS.budgeted);
      expect(spent).toMatchObject({ status: 429, code: 'budget_exceeded' });
      expect(spent.message).toContain("spend per day for this tenant (rule 'budget-daily')");
      const alice = await chat(KEYS.users, 'alice');
      expect(alice).toMatchObject({ status: 429, code: 'quota_exceeded' });
      expect(alice.message).toContain("requests per day for this end user (rule 'user-requests-per-day')");
      expect((await chat(KEYS.users, 'bob')).status).toBe(200); // another end user's counter is their own
      const heavy = await chat(KEYS.units);
      expect(heavy).toMatchObject({ status: 429, code: 'quota_exceeded' });
      expect(heavy.message).toContain("compute units per day for this tenant (rule 'units-per-day')");
    }, 120_000);
  });
}
