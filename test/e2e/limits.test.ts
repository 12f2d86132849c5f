/**
 * Limits as a client meets them (issue 5), through HTTP and the official OpenAI SDK: 429s that
 * name the caller's own limit with Retry-After, x-ratelimit-* headers, token quotas settled at
 * the real (streamed) usage, budgets that concurrency cannot overshoot, and tenants that never
 * share a counter.
 */
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const ACME = 'sk-acme-limits-0123456789abcdef0123456789';
const ACME_OTHER = 'sk-acme-limits-other-0123456789abcdef0123';
const GLOBEX = 'sk-globex-limits-0123456789abcdef01234567';
const BUDGET = 'sk-budget-limits-0123456789abcdef01234567';
const TOKENS = 'sk-tokens-limits-0123456789abcdef01234567';

// Prices: 1 USD per million input tokens, 10 per million output = 1 and 10 micro-units per token.
const YAML = `
deployments:
  - model: priced-chat
    provider: mock
    upstreamModel: priced-chat
    prices: { input: 1, output: 10 }
  - model: gpt-4o-mini
    provider: mock
tenants:
  - slug: acme
    keys:
      - { name: main, value: ${ACME} }
      - { name: other, value: ${ACME_OTHER} }
    limits:
      - { id: key-rpm, scope: key, metric: requests, window: minute, limit: 3 }
  - slug: globex
    keys:
      - { name: main, value: ${GLOBEX} }
    limits:
      - { id: key-rpm, scope: key, metric: requests, window: minute, limit: 3 }
  - slug: budget
    keys:
      - { name: main, value: ${BUDGET} }
    limits:
      - { id: budget-monthly, metric: cost, window: month, limit: 20000 }
  - slug: tokens
    keys:
      - { name: main, value: ${TOKENS} }
    limits:
      - { id: tokens-per-day, metric: tokens, window: day, limit: 100000 }
`;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ yaml: YAML });
}, 120_000);
afterAll(async () => {
  await gw?.stop();
});

const client = (key: string) => new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });

async function chat(key: string, body: Record<string, unknown>) {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  const json = (await res.body.json()) as {
    error?: { code: string; type: string; message: string };
    usage?: { prompt_tokens: number; completion_tokens: number };
  };
  return { status: res.statusCode, headers: res.headers, json };
}

const hello = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hello' }] };

describe('rate limits', () => {
  it('answers with x-ratelimit headers, then a typed 429 naming the key limit with Retry-After', async () => {
    const first = await client(ACME).chat.completions.create(hello).withResponse();
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('2');
    expect(first.response.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+(\.\d+)?m?s$/);
    await client(ACME).chat.completions.create(hello);
    await client(ACME).chat.completions.create(hello);
    const upstreamBefore = gw.mock?.requests.length ?? 0;
    const err = await client(ACME)
      .chat.completions.create(hello)
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const rate = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rate.status).toBe(429);
    expect(rate.code).toBe('rate_limit_exceeded');
    expect(rate.message).toContain("requests per minute for this API key (rule 'key-rpm')");
    expect(Number(rate.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(rate.headers?.get('x-tenant-id')).toBe('acme');
    expect(gw.mock?.requests.length ?? 0).toBe(upstreamBefore); // refused before any upstream call
  });

  it("counts each key and each tenant on its own: acme's exhaustion does not touch globex", async () => {
    expect((await chat(ACME_OTHER, hello)).status).toBe(200);
    const g = await chat(GLOBEX, hello);
    expect(g.status).toBe(200);
    expect(g.headers['x-ratelimit-remaining-requests']).toBe('2');
  });
});

describe('token quotas', () => {
  it('reserves the worst case and settles at the usage the stream reported', async () => {
    const first = await chat(TOKENS, { ...hello, max_tokens: 50 });
    expect(first.status).toBe(200);
    const remainingAfterFirst = Number(first.headers['x-ratelimit-remaining-tokens']);
    // Reserved: prompt tokens + the 50-token bound.
    expect(remainingAfterFirst).toBeLessThanOrEqual(100_000 - 50);

    // A stream settles at the usage its last chunk reported.
    const stream = await client(TOKENS).chat.completions.create({ ...hello, max_tokens: 50, stream: true, stream_options: { include_usage: true } });
    let usage: { prompt_tokens: number; completion_tokens: number } | undefined;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toBeDefined();

    // After both settled, a third request sees exactly the settled usage of the first two gone.
    await new Promise((r) => setTimeout(r, 50));
    const third = await chat(TOKENS, { ...hello, max_tokens: 50 });
    const firstUsed = (first.json.usage?.prompt_tokens ?? 0) + (first.json.usage?.completion_tokens ?? 0);
    const streamUsed = (usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0);
    const reservedThird = 100_000 - firstUsed - streamUsed - Number(third.headers['x-ratelimit-remaining-tokens']);
    // The third's own reservation is its prompt plus the 50-token bound: small, positive.
    expect(reservedThird).toBeGreaterThanOrEqual(50);
    expect(reservedThird).toBeLessThan(50 + 30);
  });
});

describe('budgets', () => {
  it('never spends past a budget under concurrency, and says so with budget_exceeded', async () => {
    // Every answer uses its whole 200-token bound (the mock's knob), and they overlap in time.
    const body = {
      model: 'priced-chat',
      messages: [{ role: 'user', content: 'hello there' }],
      max_tokens: 200,
      mock: { tokens: 200, latencyMs: 100 },
    };
    const results = await Promise.all(Array.from({ length: 40 }, () => chat(BUDGET, body)));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    expect(ok.length + refused.length).toBe(40);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.json.error?.code).toBe('budget_exceeded');
      expect(r.json.error?.type).toBe('insufficient_quota');
      expect(r.headers['x-gatehouse-budget-remaining']).toMatch(/^\d+\.\d{6}$/);
    }
    // What was actually spent, from the usage of the answers, stays within the budget.
    const spent = ok.reduce((sum, r) => sum + (r.json.usage?.prompt_tokens ?? 0) * 1 + (r.json.usage?.completion_tokens ?? 0) * 10, 0);
    expect(spent).toBeLessThanOrEqual(20_000);
    // 200 output tokens cost 2,000: no more than 9 such answers fit 20,000 with their prompts.
    expect(ok.length).toBeGreaterThanOrEqual(1);
    expect(ok.length).toBeLessThanOrEqual(9);
  });
});
