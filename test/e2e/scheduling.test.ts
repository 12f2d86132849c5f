/**
 * Fair scheduling through the real HTTP server and the mock upstream: a deployment of capacity 2
 * shared by two tenants of equal weight. A tenant that floods it gets its share and a bounded
 * queue (429 with Retry-After in the OpenAI envelope beyond it); the other tenant is served at
 * once, without waiting behind that queue.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const FLOOD = 'sk-flood-0123456789abcdef0123456789abcdef';
const QUIET = 'sk-quiet-0123456789abcdef0123456789abcdef';
const SLOW_MS = 1000;

const YAML = `
demo: { enabled: false }
scheduling:
  maxQueueDepth: 3
  queueTimeoutMs: 20000
  reserveIdleMs: 30000
providers:
  - name: mock
    kind: mock
deployments:
  - model: shared-model
    provider: mock
    capacity: 2
  - model: flaky-model
    provider: mock
    capacity: 10
tenants:
  - slug: flood
    keys: [{ name: main, value: ${FLOOD} }]
  - slug: quiet
    keys: [{ name: main, value: ${QUIET} }]
`;

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ yaml: YAML });
});
afterAll(async () => {
  await gw?.stop();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; type: string; message: string; param: string | null } };
  ms: number;
}

async function chat(key: string, latencyMs: number, headers: Record<string, string> = {}): Promise<Answer> {
  const started = Date.now();
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'shared-model', messages: [{ role: 'user', content: 'hi' }], mock: { latencyMs } }),
  });
  const body = (await res.body.json()) as Answer['body'];
  return { status: res.statusCode, headers: res.headers, body, ms: Date.now() - started };
}

describe('fair scheduling', () => {
  it('serves the quiet tenant at once while the other one fills its queue; beyond it, 429 with Retry-After', async () => {
    // The quiet tenant has been seen, so its share (1 of 2 slots) is reserved for it.
    expect((await chat(QUIET, 0)).status).toBe(200);

    const flood = Array.from({ length: 6 }, () => chat(FLOOD, SLOW_MS));
    const settled: Answer[] = [];
    for (const p of flood) void p.then((a) => settled.push(a));
    // 1 slot (its share) + 3 queued; the other 2 are refused at once.
    const started = Date.now();
    while (settled.filter((a) => a.status === 429).length < 2 && Date.now() - started < 5000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const refused = settled.filter((a) => a.status === 429);
    expect(refused).toHaveLength(2);
    for (const r of refused) {
      expect(r.ms).toBeLessThan(SLOW_MS);
      expect(r.headers['retry-after']).toMatch(/^[1-9]\d*$/);
      expect(r.headers['x-tenant-id']).toBe('flood');
      expect(r.body.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'rate_limit_error', param: null });
      expect(r.body.error?.message).toContain("this tenant's queue for this model is full");
      expect(r.body.error?.message).not.toContain('quiet');
    }

    const quiet = await chat(QUIET, 20);
    expect(quiet.status).toBe(200);
    // Had it waited for the flood's slot to free, it would have taken most of SLOW_MS.
    expect(quiet.ms).toBeLessThan(SLOW_MS / 2);
    expect(settled.filter((a) => a.status === 200)).toHaveLength(0);

    // The flood's queue drains through its one slot.
    const all = await Promise.all(flood);
    expect(all.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 429, 429]);
    // The queued ones say how long they waited; the quiet tenant did not wait at all.
    const waited = all.filter((a) => a.status === 200).map((a) => Number(a.headers['x-gatehouse-queue-ms'] ?? 0));
    expect(waited.filter((ms) => ms >= SLOW_MS * 0.9)).toHaveLength(3);
    expect(quiet.headers['x-gatehouse-queue-ms']).toBeUndefined();
  }, 20_000);

  it('refuses an unknown priority with 400 naming the header', async () => {
    const r = await chat(QUIET, 0, { 'x-gatehouse-priority': 'asap' });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'invalid_request', param: 'x-gatehouse-priority' });
  });

  it('exports the deployment capacity and queue on /metrics', async () => {
    const res = await request(`${gw.url}/metrics`);
    const text = await res.body.text();
    expect(text).toMatch(/^gatehouse_deployment_capacity\{deployment="mock-shared-model"\} 2$/m);
    expect(text).toMatch(/^gatehouse_deployment_capacity_effective\{deployment="mock-shared-model"\} 2$/m);
    expect(text).toMatch(/^gatehouse_deployment_queued\{deployment="mock-shared-model"\} 0$/m);
  });

  it('lowers a deployment\'s capacity when its upstream answers 503, which the client sees as 502', async () => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${QUIET}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'flaky-model', messages: [{ role: 'user', content: 'hi' }], mock: { errorRate: 1, errorStatus: 503 } }),
    });
    await res.body.dump();
    expect(res.statusCode).toBe(502);
    const metrics = await (await request(`${gw.url}/metrics`)).body.text();
    const effective = Number(/^gatehouse_deployment_capacity_effective\{deployment="mock-flaky-model"\} (\d+)$/m.exec(metrics)?.[1]);
    expect(effective).toBe(7); // 10 × 0.7
  });
});
