/**
 * A provider that ignores max_tokens (DESIGN §4: "a stream whose usage reaches its reservation
 * is ended with a terminal error event; budgets never overshoot, streams included"). Admission
 * reserves the prompt plus max_tokens and sends the bound upstream; the mock, told to ignore it
 * (`mock.ignoreMaxTokens`), keeps generating. The gateway ends the stream once the content
 * chunks pass the reservation, with an `output_limit_exceeded` error event, aborts the upstream
 * call, and settles the request at exactly the reservation. A provider that obeys is untouched.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const KEY = 'sk-streamcut-0123456789abcdef0123456789abcdef';
const FREE = 'sk-streamcut-free-0123456789abcdef01234567';
const TOKENS_PER_DAY = 100_000;

const YAML = `
deployments:
  - model: priced-chat
    provider: mock
    upstreamModel: priced-chat
    prices: { input: 1, output: 10 }
tenants:
  - slug: metered
    keys:
      - { name: main, value: ${KEY} }
    limits:
      - { id: tokens-per-day, metric: tokens, window: day, limit: ${TOKENS_PER_DAY} }
      - { id: budget-monthly, metric: cost, window: month, limit: 1000000 }
  - slug: unmetered
    keys:
      - { name: main, value: ${FREE} }
    limits:
      - { id: requests-per-minute, metric: requests, window: minute, limit: 1000 }
`;

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway({ yaml: YAML });
}, 120_000);
afterAll(async () => {
  await gw?.stop();
});

interface Streamed {
  status: number;
  tokensLeft: number;
  events: string[];
  contentChunks: number;
}

async function stream(key: string, body: Record<string, unknown>): Promise<Streamed> {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'priced-chat', stream: true, messages: [{ role: 'user', content: 'tell me a long story' }], ...body }),
  });
  const text = await res.body.text();
  const events = text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice('data: '.length));
  const contentChunks = events.filter((e) => e.includes('"content":"') && !e.includes('"content":""')).length;
  return { status: res.statusCode, tokensLeft: Number(res.headers['x-ratelimit-remaining-tokens']), events, contentChunks };
}

/** The tokens-per-day counter as the next request's headers show it, plus that request's own reservation. */
async function counterAfterNext(): Promise<number> {
  const r = await stream(KEY, { stream: false, max_tokens: 10, mock: { tokens: 3 } });
  return r.tokensLeft;
}

describe('a stream whose provider ignores max_tokens', () => {
  it('is ended past the reserved output with a terminal error event, and settled at the reservation', async () => {
    const cut = await stream(KEY, { max_tokens: 10, mock: { tokens: 500, ignoreMaxTokens: true } });
    expect(cut.status).toBe(200);
    // The bound was sent upstream; the mock ignored it.
    const sent = gw.mock?.requests.at(-1)?.body as { max_tokens?: number } | undefined;
    expect(sent?.max_tokens).toBe(10);
    const last = cut.events.at(-1) as string;
    expect(JSON.parse(last)).toMatchObject({ error: { code: 'output_limit_exceeded', type: 'upstream_error' } });
    expect(last).toContain('10 output tokens');
    expect(cut.events).not.toContain('[DONE]');
    // The reservation reached the client, and nothing past it: not 500 tokens.
    expect(cut.contentChunks).toBe(10);

    // Reserved: prompt + 10. The next request (the same prompt, max_tokens 10) sees the counter
    // moved by exactly its own reservation: the cut one was settled at its reservation, not at
    // the 500 tokens generated, nor at the chunks that passed.
    const reservedPrompt = TOKENS_PER_DAY - cut.tokensLeft - 10;
    expect(reservedPrompt).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 100)); // the settle runs when the response is over
    const next = await counterAfterNext();
    expect(next).toBe(cut.tokensLeft - (reservedPrompt + 10));
  });

  it('stops the upstream generating (its connection is aborted)', async () => {
    const aborted = gw.mock?.aborted ?? 0;
    await stream(KEY, { max_tokens: 5, mock: { tokens: 100_000, tokensPerSecond: 2_000, ignoreMaxTokens: true } });
    const deadline = Date.now() + 5_000;
    while ((gw.mock?.aborted ?? 0) === aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(gw.mock?.aborted).toBe(aborted + 1);
  });

  it('counts every choice of n > 1 against the reservation of all of them', async () => {
    const cut = await stream(KEY, { max_tokens: 4, n: 2, mock: { tokens: 50, ignoreMaxTokens: true } });
    expect(JSON.parse(cut.events.at(-1) as string)).toMatchObject({ error: { code: 'output_limit_exceeded' } });
    expect(cut.contentChunks).toBe(8);
  });

  it('leaves a provider that obeys max_tokens alone: the stream ends normally at the bound', async () => {
    const ok = await stream(KEY, { max_tokens: 10, mock: { tokens: 500 }, stream_options: { include_usage: true } });
    expect(ok.events.at(-1)).toBe('[DONE]');
    expect(ok.contentChunks).toBe(10);
    expect(ok.events.some((e) => e.includes('"finish_reason":"length"'))).toBe(true);
    expect(ok.events.some((e) => e.includes('"error"'))).toBe(false);
  });

  it('is not cut where no token, spend or compute limit reserved output', async () => {
    const free = await stream(FREE, { max_tokens: 10, mock: { tokens: 40, ignoreMaxTokens: true } });
    expect(free.events.at(-1)).toBe('[DONE]');
    expect(free.contentChunks).toBe(40);
  });
});
