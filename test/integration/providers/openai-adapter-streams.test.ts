/**
 * Streams through the adapter: a client that goes away cancels the upstream, a slow client
 * slows the upstream (backpressure) instead of growing a buffer, and an aborted request never
 * leaves bytes on a pooled connection for the next request.
 */
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockProvider, startMockProvider } from '../../../src/providers/mock/index.js';
import { OpenAIAdapter } from '../../../src/providers/openai/index.js';
import { chatBody, deployment, readAll, sseData, upstreamRequest } from './helpers.js';

let mock: MockProvider;
let adapter: OpenAIAdapter;

beforeAll(async () => {
  mock = await startMockProvider({});
  adapter = new OpenAIAdapter();
});
afterAll(async () => {
  await adapter.close();
  await mock.close();
});

/** Resolves with the first chunk of a stream, leaving the rest unread. */
function firstChunk(body: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    body.once('error', reject);
    body.once('readable', () => {
      const chunk = body.read() as Buffer | null;
      if (chunk === null) reject(new Error('no data'));
      else resolve(chunk);
    });
  });
}

describe('cancellation', () => {
  it('destroying the body mid-stream aborts the upstream request', async () => {
    const before = mock.aborted;
    const d = deployment({ baseUrl: mock.url });
    const res = await adapter.send(d, upstreamRequest(chatBody('abort me', { stream: true, mock: { tokens: 1_000, tokensPerSecond: 200 } })));
    await firstChunk(res.body);
    res.body.destroy();
    await expect.poll(() => mock.aborted, { timeout: 2_000 }).toBe(before + 1);
    // Cut off before the provider's usage: estimated from the content chunks that passed.
    const usage = await res.usage;
    expect(usage).toMatchObject({ estimated: true, promptTokens: 0 });
    expect(usage?.completionTokens).toBeGreaterThanOrEqual(1);
    expect(usage?.completionTokens).toBeLessThan(1_000);
  });

  it('aborting the signal mid-stream errors the body with the reason and aborts the upstream', async () => {
    const before = mock.aborted;
    const ac = new AbortController();
    const d = deployment({ baseUrl: mock.url });
    const res = await adapter.send(
      d,
      upstreamRequest(chatBody('abort me', { stream: true, stream_options: { include_usage: true }, mock: { tokens: 1_000, tokensPerSecond: 200 } }), {
        signal: ac.signal,
      }),
    );
    await firstChunk(res.body);
    const reason = new Error('client disconnected');
    ac.abort(reason);
    const err = await readAll(res.body).catch((e: unknown) => e);
    expect(err).toBe(reason);
    await expect.poll(() => mock.aborted, { timeout: 2_000 }).toBe(before + 1);
    // Cut off before the provider's usage: estimated from the content chunks that passed.
    const usage = await res.usage;
    expect(usage).toMatchObject({ estimated: true, promptTokens: 0 });
    expect(usage?.completionTokens).toBeGreaterThanOrEqual(1);
    expect(usage?.completionTokens).toBeLessThan(1_000);
  });

  it('with a pool of one, aborted requests never leak bytes into the next request', async () => {
    const d = deployment({ baseUrl: mock.url, capacity: 1 });
    const solo = new OpenAIAdapter();
    try {
      for (let i = 0; i < 5; i++) {
        const ac = new AbortController();
        const tenantA = await solo.send(d, upstreamRequest(chatBody(`tenant-a secret ${i}`, { stream: true, mock: { tokens: 500, tokensPerSecond: 500 } }), { signal: ac.signal }));
        await firstChunk(tenantA.body);
        ac.abort(new Error('gone'));
        tenantA.body.on('error', () => undefined);
        const tenantB = await solo.send(d, upstreamRequest(chatBody(`tenant-b ${i}`)));
        const text = await readAll(tenantB.body);
        expect(text).not.toContain('tenant-a');
        expect((JSON.parse(text) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toContain(`tenant-b ${i}`);
      }
    } finally {
      await solo.close();
    }
  });
});

describe('backpressure', () => {
  it('a paused reader stalls the upstream writer; memory stays bounded; nothing is lost', async () => {
    const tokens = 20_000;
    const waitsBefore = mock.backpressureWaits;
    const completedBefore = mock.completed;
    const d = deployment({ baseUrl: mock.url, timeoutMs: 30_000 });
    const res = await adapter.send(d, upstreamRequest(chatBody('bp', { stream: true, stream_options: { include_usage: true }, mock: { tokens } })));
    // Nobody reads: the mock must end up blocked on a full socket.
    await expect.poll(() => mock.backpressureWaits, { timeout: 5_000 }).toBeGreaterThan(waitsBefore);
    // The adapter holds at most its stream buffers, never the ~5 MB stream.
    // Its 64 KiB high-water mark plus the chunk that crossed it.
    const bound = 128 * 1024;
    expect(res.body.readableLength).toBeLessThanOrEqual(bound);
    await new Promise((r) => setTimeout(r, 300));
    expect(res.body.readableLength).toBeLessThanOrEqual(bound);
    // The upstream is stalled, not finished: the stream waits on our reader.
    expect(mock.completed).toBe(completedBefore);
    const data = sseData(await readAll(res.body));
    expect(data).toHaveLength(1 + tokens + 1 + 1 + 1);
    await expect.poll(() => mock.completed).toBe(completedBefore + 1);
    expect(await res.usage).toMatchObject({ completionTokens: tokens });
  });
});

describe('concurrency', () => {
  it('carries 512 concurrent paced streams with no lost or stalled chunk', async () => {
    const d = deployment({ baseUrl: mock.url, capacity: 512, timeoutMs: 10_000 });
    const tokens = 20;
    const counts = await Promise.all(
      Array.from({ length: 512 }, async (_, i) => {
        const res = await adapter.send(d, upstreamRequest(chatBody(`c${i}`, { stream: true, stream_options: { include_usage: true }, mock: { tokens, tokensPerSecond: 100 } })));
        const data = sseData(await readAll(res.body));
        const usage = await res.usage;
        return data.length === 1 + tokens + 1 + 1 + 1 && usage?.completionTokens === tokens;
      }),
    );
    expect(counts.every(Boolean)).toBe(true);
  });
});
