/**
 * Metering through a real gateway (embedded PGlite store, mock upstream): one event per
 * authenticated model request with its tokens, cost, latency, time to first token, tags and end
 * user; refusals metered with their status and no tokens; unauthenticated requests not metered;
 * rollups current once the spool shipped.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';

const KEY = 'sk-meter-0123456789abcdef0123456789abcdef';
const YAML = `
deployments:
  - model: priced-chat
    provider: mock
    upstreamModel: priced-chat
    prices: { input: 1, output: 10, request: 0.001 }
tenants:
  - slug: meter
    timeZone: Europe/Berlin
    keys:
      - { name: main, value: ${KEY} }
`;

interface Row {
  request_id: string;
  key_id: string | null;
  end_user: string | null;
  tags: string[];
  model: string;
  deployment_id: string | null;
  region: string | null;
  input_tokens: string;
  output_tokens: string;
  cost_micros: string;
  latency_ms: number;
  ttft_ms: number | null;
  status: number;
  streamed: boolean;
  client_aborted: boolean;
  usage_estimated: boolean;
}

let gw: TestGateway;
let tenantId: string;
beforeAll(async () => {
  gw = await startTestGateway({ yaml: YAML });
  tenantId = await gw.store.platform(
    async (tx) => (await tx.query<{ id: string }>("SELECT id FROM tenants WHERE slug = 'meter'")).rows[0]?.id as string,
  );
}, 120_000);
afterAll(async () => {
  await gw?.stop();
});

async function chat(body: Record<string, unknown>, headers: Record<string, string> = {}, key = KEY) {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, requestId: String(res.headers['x-request-id']), text };
}

async function eventsOf(requestId: string): Promise<Row[]> {
  await gw.metering.drain(10_000);
  return gw.store.withTenant(tenantId, async (tx) => (await tx.query<Row>('SELECT * FROM usage_events WHERE request_id = $1', [requestId])).rows);
}

describe('metering through the gateway', () => {
  it('a completed request has exactly one event with its tokens, cost, tags and end user', async () => {
    const r = await chat(
      { model: 'priced-chat', messages: [{ role: 'user', content: 'hello there' }], user: 'end-user-1' },
      { 'x-request-id': 'meter-plain-1', 'x-gatehouse-tags': 'Team:Search, batch, bad tag!, batch' },
    );
    expect(r.status).toBe(200);
    const usage = (JSON.parse(r.text) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    const rows = await eventsOf('meter-plain-1');
    expect(rows).toHaveLength(1);
    const e = rows[0] as Row;
    expect(e).toMatchObject({
      model: 'priced-chat',
      end_user: 'end-user-1',
      tags: ['team:search', 'batch'],
      status: 200,
      streamed: false,
      client_aborted: false,
      usage_estimated: false,
      ttft_ms: null,
    });
    expect(e.key_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(e.deployment_id).not.toBeNull();
    expect(Number(e.input_tokens)).toBe(usage.prompt_tokens);
    expect(Number(e.output_tokens)).toBe(usage.completion_tokens);
    // 1 and 10 micro-units per token, 1,000 per request (0.001 USD).
    expect(Number(e.cost_micros)).toBe(usage.prompt_tokens + 10 * usage.completion_tokens + 1000);
    expect(e.latency_ms).toBeGreaterThanOrEqual(0);
  });

  it('a stream records streamed, its time to first token and the usage of its last chunk', async () => {
    const r = await chat(
      { model: 'priced-chat', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'stream please' }] },
      { 'x-request-id': 'meter-stream-1' },
    );
    expect(r.status).toBe(200);
    expect(r.text).toContain('[DONE]');
    const [e] = await eventsOf('meter-stream-1');
    expect(e).toMatchObject({ streamed: true, status: 200, client_aborted: false });
    expect(e?.ttft_ms).not.toBeNull();
    expect(Number(e?.ttft_ms)).toBeLessThanOrEqual(Number(e?.latency_ms));
    expect(Number(e?.output_tokens)).toBeGreaterThan(0);
  });

  it("/metrics counts a stream's estimated usage as the ledger records it (the upstream sent none)", async () => {
    const series = async () => {
      const text = await (await request(`${gw.url}/metrics`)).body.text();
      const value = (name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
      return {
        input: value('gatehouse_tenant_tokens_total', 'tenant="meter",kind="input"'),
        output: value('gatehouse_tenant_tokens_total', 'tenant="meter",kind="output"'),
        cost: value('gatehouse_tenant_cost_micros_total', 'tenant="meter"'),
        requests: value('gatehouse_tenant_requests_total', 'tenant="meter",status_class="ok"'),
      };
    };
    const before = await series();
    // No stream_options.include_usage: the mock reports no usage, so the gateway estimates it.
    const r = await chat(
      { model: 'priced-chat', stream: true, messages: [{ role: 'user', content: 'estimate me, a prompt of a few tokens' }] },
      { 'x-request-id': 'meter-stream-estimated' },
    );
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('"usage":{');
    const [e] = await eventsOf('meter-stream-estimated');
    expect(e).toMatchObject({ streamed: true, usage_estimated: true });
    expect(Number(e?.input_tokens)).toBeGreaterThan(0);
    // The metrics finisher runs once the response is over: wait for the request to be counted.
    let after = await series();
    for (let i = 0; i < 100 && after.requests === before.requests; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = await series();
    }
    expect(after.requests - before.requests).toBe(1);
    expect({ input: after.input - before.input, output: after.output - before.output, cost: after.cost - before.cost }).toEqual({
      input: Number(e?.input_tokens),
      output: Number(e?.output_tokens),
      cost: Number(e?.cost_micros),
    });
  });

  it('a refusal after authentication is metered with its status and no tokens; a bad key is not', async () => {
    const refused = await chat({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }, { 'x-request-id': 'meter-refused-1' });
    expect(refused.status).toBe(404);
    const [e] = await eventsOf('meter-refused-1');
    expect(e).toMatchObject({ status: 404, input_tokens: '0', output_tokens: '0', cost_micros: '0', model: 'no-such-model' });

    const anonymous = await chat({ model: 'priced-chat', messages: [{ role: 'user', content: 'x' }] }, { 'x-request-id': 'meter-anon-1' }, 'sk-meter-wrong-0000000000000000000000000');
    expect(anonymous.status).toBe(401);
    expect(await eventsOf('meter-anon-1')).toEqual([]);
  });

  it('the same X-Request-ID twice is two requests: two events', async () => {
    for (let i = 0; i < 2; i++) {
      expect((await chat({ model: 'priced-chat', messages: [{ role: 'user', content: 'again' }] }, { 'x-request-id': 'meter-dup-1' })).status).toBe(200);
    }
    expect(await eventsOf('meter-dup-1')).toHaveLength(2);
  });

  it('a NUL or a lone surrogate in the end user or the model is stored as U+FFFD and holds up no other event', async () => {
    // PostgreSQL text refuses both: unchecked, one such request failed its whole batch, forever.
    const user = await chat({ model: 'priced-chat', messages: [{ role: 'user', content: 'x' }], user: 'a\u0000b\ud800' }, { 'x-request-id': 'meter-nul-user' });
    expect(user.status).toBe(200);
    const model = await chat({ model: 'no\u0000such\udfff', messages: [{ role: 'user', content: 'x' }] }, { 'x-request-id': 'meter-nul-model' });
    expect(model.status).toBe(404);
    const after = await chat({ model: 'priced-chat', messages: [{ role: 'user', content: 'x' }] }, { 'x-request-id': 'meter-nul-after' });
    expect(after.status).toBe(200);
    expect((await eventsOf('meter-nul-user'))[0]?.end_user).toBe('a\uFFFDb\uFFFD');
    expect((await eventsOf('meter-nul-model'))[0]?.model).toBe('no\uFFFDsuch\uFFFD');
    expect(await eventsOf('meter-nul-after')).toHaveLength(1);
    expect(gw.metering.stats().shipper).toMatchObject({ state: 'up', failures: 0, rejected: 0 });
  });

  it('rollups are current: day buckets at midnight in the tenant zone, sums equal to the raw events', async () => {
    await gw.metering.drain(10_000);
    const { raw, days } = await gw.store.withTenant(tenantId, async (tx) => ({
      raw: (await tx.query<{ n: string; cost: string }>('SELECT count(*)::text AS n, sum(cost_micros)::text AS cost FROM usage_events')).rows[0],
      days: (
        await tx.query<{ requests: string; cost: string; local: string }>(
          `SELECT sum(requests)::text AS requests, sum(cost_micros)::text AS cost,
                  to_char(min(bucket_start) AT TIME ZONE 'Europe/Berlin', 'HH24:MI') AS local
           FROM usage_rollups WHERE granularity = 'day'`,
        )
      ).rows[0],
    }));
    expect(days?.requests).toBe(raw?.n);
    expect(days?.cost).toBe(raw?.cost);
    expect(days?.local).toBe('00:00');
  });

  it('exposes the spool on /metrics', async () => {
    const text = await (await request(`${gw.url}/metrics`)).body.text();
    expect(text).toMatch(/^gatehouse_usage_spool_bytes \d+/m);
    expect(text).toMatch(/^gatehouse_usage_spool_backlog_bytes \d+/m);
    expect(text).toMatch(/^gatehouse_usage_shipper_up 1/m);
    expect(text).toMatch(/^gatehouse_usage_records_set_aside 0/m);
  });
});
