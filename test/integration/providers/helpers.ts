/** Shared fixtures for the provider tests: deployments, requests, and reading bodies. */
import type { Readable } from 'node:stream';
import type { Deployment, Operation, UpstreamRequest } from '../../../src/providers/types.js';

export function deployment(over: Partial<Deployment> & Pick<Deployment, 'baseUrl'>): Deployment {
  return {
    id: 'dep-1',
    model: 'public-model',
    version: '1',
    kind: 'chat',
    provider: 'openai',
    upstreamModel: 'upstream-model',
    apiKey: 'sk-test-CANARY-0123456789',
    region: 'default',
    capacity: 8,
    weight: 1,
    limitsFailMode: 'closed',
    timeoutMs: 5_000,
    prices: { inputPerMTok: 0, outputPerMTok: 0, cachedInputPerMTok: 0, perRequest: 0 },
    ownedBy: 'test',
    created: 0,
    ...over,
  };
}

let counter = 0;

export function upstreamRequest(
  body: Record<string, unknown>,
  over: Partial<Omit<UpstreamRequest, 'body'>> = {},
): UpstreamRequest {
  const operation: Operation = over.operation ?? 'chat';
  return {
    operation,
    body,
    stream: body.stream === true,
    requestId: `req-test-${++counter}`,
    signal: new AbortController().signal,
    ...over,
  };
}

export const chatBody = (text = 'Hello there', extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'public-model',
  messages: [{ role: 'user', content: text }],
  ...extra,
});

export async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** The `data:` payloads of an SSE text, [DONE] included. */
export function sseData(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice(6));
}

export function until(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (check()) return resolve();
      if (Date.now() > deadline) return reject(new Error('condition not met in time'));
      setTimeout(tick, 5);
    };
    tick();
  });
}
