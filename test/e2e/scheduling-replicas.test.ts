/**
 * A deployment's capacity holds across replicas (DESIGN §13 "Fair scheduling"): two gateways on
 * one Redis (a database of their own, so no other test's gateways count as replicas) in front of
 * one slow upstream, whose concurrency is measured where it matters, at the upstream. Flooding
 * both, the upstream never sees more than the capacity (4) at once, and sees all of it; once one
 * gateway stops, the other has the whole capacity within a few seconds.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockProvider, type MockProvider } from '../../src/providers/mock/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { claimRedisDb, type DedicatedRedisDb } from '../helpers/redis-db.js';
import { redisAvailable } from '../helpers/services.js';

const available = await redisAvailable();
const KEY = 'sk-capshare-0123456789abcdef0123456789abcd';
const ID = `cap-${randomBytes(5).toString('hex')}`;
const CAPACITY = 4;
const SLOW_MS = 400;

/** A pass-through in front of the mock provider that counts the requests it holds at once. */
interface CountingUpstream {
  url: string;
  peak: number;
  total: number;
  reset(): void;
  close(): Promise<void>;
}

async function countingUpstream(mock: MockProvider): Promise<CountingUpstream> {
  let inFlight = 0;
  const counts = { peak: 0, total: 0 };
  const server: Server = createServer((req, res) => {
    inFlight++;
    counts.total++;
    counts.peak = Math.max(counts.peak, inFlight);
    res.on('close', () => void inFlight--);
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const up = await request(`${mock.origin}${req.url ?? '/'}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: Buffer.concat(chunks),
      });
      const body = Buffer.from(await up.body.arrayBuffer());
      res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') });
      res.end(body);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    get peak() {
      return counts.peak;
    },
    get total() {
      return counts.total;
    },
    reset() {
      counts.peak = inFlight;
      counts.total = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe.skipIf(!available)('deployment capacity shared by two gateways [Redis]', () => {
  let mock: MockProvider | undefined;
  let upstream: CountingUpstream;
  let redis: DedicatedRedisDb | undefined;
  let one: TestGateway | undefined;
  let two: TestGateway | undefined;

  beforeAll(async () => {
    mock = await startMockProvider({ host: '127.0.0.1', port: 0 });
    upstream = await countingUpstream(mock);
    redis = await claimRedisDb();
    const yaml = `
demo: { enabled: false }
scheduling: { maxQueueDepth: 100, queueTimeoutMs: 60000 }
providers:
  - { name: upstream, kind: mock, baseUrl: "${upstream.url}" }
deployments:
  - { id: ${ID}, model: shared-model, provider: upstream, capacity: ${CAPACITY} }
tenants:
  - slug: capshare
    keys: [{ name: main, value: ${KEY} }]
`;
    one = await startTestGateway({ yaml, env: { REDIS_URL: redis.url } });
    two = await startTestGateway({ yaml, env: { REDIS_URL: redis.url } });
  }, 120_000);
  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
    await upstream?.close();
    await mock?.close();
    await redis?.release();
  });

  const chat = async (gw: TestGateway): Promise<number> => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'shared-model', messages: [{ role: 'user', content: 'hi' }], mock: { latencyMs: SLOW_MS } }),
    });
    await res.body.dump();
    return res.statusCode;
  };
  const gauge = async (gw: TestGateway, series: string): Promise<number | undefined> => {
    const text = await (await request(`${gw.url}/metrics`)).body.text();
    const escaped = series.replace(/[{}]/g, '\\$&');
    const m = new RegExp(`^${escaped} (\\d+)$`, 'm').exec(text);
    return m === null ? undefined : Number(m[1]);
  };
  const waitFor = async (what: () => Promise<boolean>, timeoutMs: number): Promise<number> => {
    const t0 = performance.now();
    while (!(await what())) {
      if (performance.now() - t0 > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return performance.now() - t0;
  };
  const slice = `gatehouse_deployment_capacity_slice{deployment="${ID}"}`;

  it('flooding both gateways, the upstream never sees more than the capacity at once; a stopped gateway gives its slice to the other', async () => {
    const a = one as TestGateway;
    const b = two as TestGateway;
    // The first gateway learns of the second at its next heartbeat (about a second).
    await waitFor(async () => (await gauge(a, 'gatehouse_replicas')) === 2 && (await gauge(b, 'gatehouse_replicas')) === 2, 5_000);

    upstream.reset();
    const statuses = await Promise.all([...Array.from({ length: 10 }, () => chat(a)), ...Array.from({ length: 10 }, () => chat(b))]);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(upstream.total).toBe(20);
    console.log(`two gateways, capacity ${CAPACITY}: at most ${upstream.peak} requests at the upstream at once`);
    expect(upstream.peak).toBeLessThanOrEqual(CAPACITY); // 8 without the split (4 per gateway)
    expect(upstream.peak).toBe(CAPACITY); // and the capacity is used: 2 + 2
    expect(await gauge(a, slice)).toBe(CAPACITY / 2);
    expect(await gauge(b, slice)).toBe(CAPACITY / 2);

    // One gateway stops (it leaves the membership after its drain): the other gets it all.
    const stopping = b.stop();
    two = undefined;
    const ms = await waitFor(async () => (await gauge(a, slice)) === CAPACITY, 5_000);
    await stopping;
    console.log(`one gateway stopped: the other had the whole capacity after ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(3_000);
    expect(await gauge(a, 'gatehouse_replicas')).toBe(1);

    upstream.reset();
    const alone = await Promise.all(Array.from({ length: 12 }, () => chat(a)));
    expect(alone.every((s) => s === 200)).toBe(true);
    expect(upstream.peak).toBe(CAPACITY);
  }, 30_000);
});
