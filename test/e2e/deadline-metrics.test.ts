/**
 * The whole-request deadline (504 in the envelope, or a terminal SSE error event once a stream
 * has started) and the in-process overhead histogram on /metrics.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ env: { GATEHOUSE_REQUEST_TIMEOUT_MS: '600' } });
});
afterAll(async () => {
  await gw?.stop();
});

function chat(extra: Record<string, unknown>) {
  return request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }], ...extra }),
  });
}

describe('request deadline', () => {
  it('answers 504 in the envelope when the upstream is slower than the deadline', async () => {
    const started = Date.now();
    const res = await chat({ mock: { latencyMs: 3000 } });
    const body = (await res.body.json()) as { error: { code: string; type: string } };
    expect(res.statusCode).toBe(504);
    expect(body.error.code).toBe('upstream_timeout');
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('ends a stream that outlives the deadline with a terminal error event', async () => {
    const res = await chat({ stream: true, mock: { tokens: 100, tokensPerSecond: 20 } });
    expect(res.statusCode).toBe(200);
    const text = await res.body.text();
    expect(text).not.toContain('data: [DONE]');
    const last = text.trim().split('\n\n').at(-1) ?? '';
    expect(JSON.parse(last.replace(/^data: /, ''))).toMatchObject({ error: { code: 'upstream_timeout' } });
  });

  it('leaves requests within the deadline alone', async () => {
    const res = await chat({ mock: { latencyMs: 50 } });
    expect(res.statusCode).toBe(200);
    await res.body.text();
  });
});

describe('/metrics', () => {
  it('exports the in-process overhead histogram and responses by class', async () => {
    const ok = await chat({});
    await ok.body.text();
    const res = await request(`${gw.url}/metrics`);
    expect(res.statusCode).toBe(200);
    const text = await res.body.text();
    const count = /^gatehouse_overhead_seconds_count (\d+)/m.exec(text)?.[1];
    expect(Number(count)).toBeGreaterThan(0);
    expect(text).toMatch(/^gatehouse_responses_total\{class="2xx"\} [1-9]/m);
    expect(text).not.toContain(DEMO_KEY);
  });
});
