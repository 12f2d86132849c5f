/**
 * Failing open splits every limit by the live replicas (DESIGN §13 "Capacity across replicas"):
 * two gateways reach one Redis through a TCP proxy the test can cut. Both see each other through
 * the membership heartbeat; once Redis is cut, a deployment with `limitsFailMode: open` falls back
 * to local counters, and each gateway enforces half of a tenant's daily quota, so together they
 * admit the quota, not twice it. The configured hint (`limits.replicas`) is left at 1 on purpose.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { claimRedisDb, type DedicatedRedisDb } from '../helpers/redis-db.js';
import { redisAvailable } from '../helpers/services.js';
import { cuttableProxy, type CuttableProxy } from '../helpers/tcp-proxy.js';

const available = await redisAvailable();
const KEY = 'sk-failopen-0123456789abcdef0123456789abcd';
const QUOTA = 10;

describe.skipIf(!available)('fail-open limits across two gateways [Redis]', () => {
  let redis: DedicatedRedisDb | undefined;
  let proxy: CuttableProxy | undefined;
  let one: TestGateway | undefined;
  let two: TestGateway | undefined;

  beforeAll(async () => {
    redis = await claimRedisDb();
    proxy = await cuttableProxy(new URL(redis.url));
    const yaml = `
demo: { enabled: false }
limits: { redisTimeoutMs: 200 }
providers:
  - { name: upstream, kind: mock }
deployments:
  - { model: open-model, provider: upstream, limitsFailMode: open }
tenants:
  - slug: failopen
    keys: [{ name: main, value: ${KEY} }]
    limits:
      - { id: requests-per-day, metric: requests, window: day, limit: ${QUOTA} }
`;
    one = await startTestGateway({ yaml, env: { REDIS_URL: proxy.url } });
    two = await startTestGateway({ yaml, env: { REDIS_URL: proxy.url } });
  }, 120_000);
  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
    await proxy?.close();
    await redis?.release();
  });

  const chat = async (gw: TestGateway): Promise<number> => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'open-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 }),
    });
    await res.body.dump();
    return res.statusCode;
  };
  const replicasSeen = async (gw: TestGateway): Promise<number | undefined> => {
    const text = await (await request(`${gw.url}/metrics`)).body.text();
    const m = /^gatehouse_replicas (\d+)$/m.exec(text);
    return m === null ? undefined : Number(m[1]);
  };

  it('each gateway enforces its half of the quota once Redis is cut', async () => {
    const [a, b] = [one as TestGateway, two as TestGateway];
    // Both have read a membership of two (the heartbeat is 1 s).
    const deadline = Date.now() + 10_000;
    while ((await replicasSeen(a)) !== 2 || (await replicasSeen(b)) !== 2) {
      if (Date.now() > deadline) throw new Error('the gateways never saw each other');
      await new Promise((r) => setTimeout(r, 200));
    }
    (proxy as NonNullable<typeof proxy>).cut();

    const statuses = { a: [] as number[], b: [] as number[] };
    for (let i = 0; i < QUOTA; i++) {
      statuses.a.push(await chat(a));
      statuses.b.push(await chat(b));
    }
    const admitted = (xs: number[]) => xs.filter((s) => s === 200).length;
    expect(statuses.a.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(statuses.b.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(admitted(statuses.a)).toBe(QUOTA / 2);
    expect(admitted(statuses.b)).toBe(QUOTA / 2);
  }, 60_000);
});
