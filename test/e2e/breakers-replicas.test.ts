/**
 * Circuit breakers shared through Redis by two gateways (each with its own embedded store and
 * mock upstream, one Redis): a deployment tripped by one gateway's failures is out of rotation on
 * the other within a second, without the other sending it anything; after the cool-down the two
 * let exactly one probe through between them, and its success puts the deployment back on both.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { REDIS_URL, redisAvailable } from '../helpers/services.js';

const available = await redisAvailable();
const KEY = 'sk-breakers-0123456789abcdef0123456789abcd';
// Its own deployment id: the fleet's breakers are keyed by deployment id in the shared Redis.
const ID = `brk-${randomBytes(5).toString('hex')}`;
const OPEN_MS = 1500;

const YAML = `
demo: { enabled: false }
providers:
  - { name: mock, kind: mock }
routing:
  maxAttempts: 1
  breaker: { consecutiveFailures: 3, openMs: ${OPEN_MS}, maxOpenMs: 6000 }
deployments:
  - { id: ${ID}, model: shared-model, provider: mock }
tenants:
  - slug: breakers
    keys: [{ name: main, value: ${KEY} }]
`;

describe.skipIf(!available)('circuit breakers shared by two gateways [Redis]', () => {
  let one: TestGateway | undefined;
  let two: TestGateway | undefined;

  beforeAll(async () => {
    one = await startTestGateway({ yaml: YAML, env: { REDIS_URL } });
    two = await startTestGateway({ yaml: YAML, env: { REDIS_URL } });
  }, 120_000);
  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
  });

  const chat = async (gw: TestGateway, mock: Record<string, unknown> = {}): Promise<{ status: number; code?: string; retryAfter?: string }> => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'shared-model', messages: [{ role: 'user', content: 'hi' }], mock }),
    });
    const text = await res.body.text();
    const code = res.statusCode >= 400 ? (JSON.parse(text) as { error: { code: string } }).error.code : undefined;
    const ra = res.headers['retry-after'];
    return { status: res.statusCode, ...(code ? { code } : {}), ...(typeof ra === 'string' ? { retryAfter: ra } : {}) };
  };
  const breakerState = async (gw: TestGateway): Promise<number | undefined> => {
    const text = await (await request(`${gw.url}/metrics`)).body.text();
    const m = new RegExp(`^gatehouse_deployment_breaker_state\\{deployment="${ID}"\\} (\\d)$`, 'm').exec(text);
    return m === null ? undefined : Number(m[1]);
  };
  const upstreamCalls = (gw: TestGateway): number => gw.mock?.requests.length ?? 0;

  it("one gateway's trip takes the deployment out on the other within a second; one probe between them closes it", async () => {
    const a = one as TestGateway;
    const b = two as TestGateway;
    for (let i = 0; i < 3; i++) expect((await chat(a, { fail: { key: `${ID}-down`, status: 500 } })).status).toBe(502);
    const tripped = performance.now();
    expect(await breakerState(a)).toBe(2);
    while ((await breakerState(b)) !== 2) {
      expect(performance.now() - tripped).toBeLessThan(3_000);
      await new Promise((r) => setTimeout(r, 10));
    }
    const ms = performance.now() - tripped;
    console.log(`a breaker trip reached the other gateway in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1_000);
    expect(b.logs.some((l) => l.includes('circuit breaker opened') && l.includes(ID))).toBe(true);

    // The other gateway refuses without calling its upstream, and says when to come back.
    const before = upstreamCalls(b);
    const refused = await chat(b);
    expect(refused).toMatchObject({ status: 503, code: 'upstream_unavailable' });
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(upstreamCalls(b)).toBe(before);

    // Cool-down over: ten requests at once, five per gateway; the probe answers slowly, so all
    // ten are in while it is out. Exactly one of them reaches an upstream.
    await new Promise((r) => setTimeout(r, OPEN_MS + 200));
    const calls = upstreamCalls(a) + upstreamCalls(b);
    const burst = await Promise.all([...Array.from({ length: 5 }, () => chat(a, { latencyMs: 700 })), ...Array.from({ length: 5 }, () => chat(b, { latencyMs: 700 }))]);
    expect(burst.filter((r) => r.status === 200)).toHaveLength(1);
    expect(burst.filter((r) => r.status === 503)).toHaveLength(9);
    expect(upstreamCalls(a) + upstreamCalls(b)).toBe(calls + 1);

    // The probe succeeded: both serve again within a second.
    const closed = performance.now();
    for (const gw of [a, b]) {
      while ((await chat(gw)).status !== 200) {
        expect(performance.now() - closed).toBeLessThan(1_000);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
});
