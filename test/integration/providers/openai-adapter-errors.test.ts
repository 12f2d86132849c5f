/**
 * Upstream failures as clients will see them: 5xx → 502, 429 → 429 with Retry-After, other 4xx
 * passed through in the OpenAI envelope, timeouts → 504, unreachable → 502, and never a
 * credential in an error.
 */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { type MockProvider, startMockProvider } from '../../../src/providers/mock/index.js';
import { UpstreamHttpError } from '../../../src/providers/index.js';
import { OpenAIAdapter } from '../../../src/providers/openai/index.js';
import { chatBody, deployment, readAll, until, upstreamRequest } from './helpers.js';

const KEY = 'sk-test-CANARY-0123456789';
let mock: MockProvider;
let adapter: OpenAIAdapter;
/** A raw upstream for shapes the mock never produces; `reply` decides each answer. */
let raw: Server;
let rawUrl: string;
let reply: (res: import('node:http').ServerResponse) => void = (res) => res.end();

beforeAll(async () => {
  mock = await startMockProvider({ apiKey: KEY });
  adapter = new OpenAIAdapter();
  raw = createServer((req, res) => {
    req.resume();
    req.on('end', () => reply(res));
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  rawUrl = `http://127.0.0.1:${(raw.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  await adapter.close();
  await mock.close();
  raw.closeAllConnections();
  await new Promise((r) => raw.close(r));
});

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  const g = err as GatewayError;
  // DESIGN §12: no credential in messages, causes or logs of errors.
  expect(inspect(g, { depth: 6 })).not.toContain(KEY);
  return g;
}

const injected = (errorStatus: number, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  chatBody('x', { mock: { errorRate: 1, errorStatus, ...extra } });

describe('upstream status codes', () => {
  it('5xx becomes upstream_error (502), with the upstream status as cause', async () => {
    const err = await failure(adapter.send(deployment({ baseUrl: mock.url }), upstreamRequest(injected(503))));
    expect(err.code).toBe('upstream_error');
    expect(err.status).toBe(502);
    expect(err.message).toContain('503');
    expect(err.cause).toBeInstanceOf(UpstreamHttpError);
    expect((err.cause as UpstreamHttpError).status).toBe(503);
  });

  it('a 5xx body that echoes the credential is redacted', async () => {
    reply = (res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `key ${KEY} and Bearer ${KEY} failed` } }));
    };
    const err = await failure(adapter.send(deployment({ baseUrl: rawUrl }), upstreamRequest(chatBody())));
    expect(err.message).toContain('[redacted]');
  });

  it('429 becomes rate_limit_exceeded with Retry-After passed through', async () => {
    const err = await failure(adapter.send(deployment({ baseUrl: mock.url }), upstreamRequest(injected(429))));
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.status).toBe(429);
    expect(err.headers['retry-after']).toBe('1');
    reply = (res) => {
      res.writeHead(429, { 'retry-after': '17' });
      res.end('slow down');
    };
    const again = await failure(adapter.send(deployment({ baseUrl: rawUrl }), upstreamRequest(chatBody())));
    expect(again.headers['retry-after']).toBe('17');
  });

  it('4xx with an OpenAI envelope passes through unchanged', async () => {
    const res = await adapter.send(deployment({ baseUrl: mock.url }), upstreamRequest(injected(400)));
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/json');
    const body = JSON.parse(await readAll(res.body)) as { error: { message: string; type: string } };
    expect(body.error.type).toBe('invalid_request_error');
    expect(body.error.message).toContain('injected');
    expect(await res.usage).toBeUndefined();
  });

  it('upstream 401 (bad platform key) is a 502 for the client, without the key', async () => {
    // Passed through, the client's SDK would report the client's own gateway key as wrong.
    const err = await adapter
      .send(deployment({ baseUrl: mock.url, apiKey: 'sk-wrong-CANARY-999999' }), upstreamRequest(chatBody()))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).status).toBe(502);
    expect((err as GatewayError).message).toContain('401');
    expect((err as GatewayError).message).not.toContain('sk-wrong-CANARY-999999');
  });

  it('4xx without an envelope is wrapped into one (FastAPI detail, Ollama error string, plain text)', async () => {
    const cases: [number, string, string, string][] = [
      [422, 'application/json', '{"detail":"field required"}', 'field required'],
      [404, 'application/json', '{"error":"model \\"llama9\\" not found"}', 'model "llama9" not found'],
      [400, 'text/plain', `bad request for ${KEY}`, 'bad request for [redacted]'],
    ];
    for (const [status, type, body, message] of cases) {
      reply = (res) => {
        res.writeHead(status, { 'content-type': type });
        res.end(body);
      };
      const res = await adapter.send(deployment({ baseUrl: rawUrl }), upstreamRequest(chatBody()));
      expect(res.status).toBe(status);
      const text = await readAll(res.body);
      expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(text));
      const env = JSON.parse(text) as { error: Record<string, unknown> };
      expect(env.error).toEqual({ message, type: 'invalid_request_error', code: `upstream_http_${status}`, param: null });
    }
  });

  it('a redirect is never followed: upstream_error', async () => {
    reply = (res) => {
      res.writeHead(307, { location: 'http://169.254.169.254/latest' });
      res.end();
    };
    const err = await failure(adapter.send(deployment({ baseUrl: rawUrl }), upstreamRequest(chatBody())));
    expect(err.code).toBe('upstream_error');
  });
});

describe('compressed bodies', () => {
  const sse = 'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"zipped"},"finish_reason":"stop"}]}\n\n' +
    'data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}\n\ndata: [DONE]\n\n';
  const json = JSON.stringify({ id: 'c', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'zipped' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 } });

  it('asks the upstream for an uncompressed body', async () => {
    let asked: string | string[] | undefined;
    reply = (res) => {
      asked = res.req.headers['accept-encoding'];
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sse);
    };
    const res = await adapter.send(deployment({ baseUrl: rawUrl }), upstreamRequest(chatBody('x', { stream: true })));
    await readAll(res.body);
    expect(asked).toBe('identity');
  });

  it.each([
    ['a gzip event stream', 'gzip', 'text/event-stream', true, gzipSync(sse)],
    ['a gzip JSON answer', 'gzip', 'application/json', false, gzipSync(json)],
    ['a brotli JSON answer', 'br', 'application/json', false, brotliCompressSync(json)],
  ])('%s (2xx) fails the attempt as upstream_error naming the coding, never passing its bytes on', async (_name, coding, type, stream, bytes) => {
    let closed = false;
    reply = (res) => {
      res.on('close', () => (closed = true));
      res.writeHead(200, { 'content-type': type, 'content-encoding': coding, 'content-length': String(bytes.length) });
      res.end(bytes);
    };
    const err = await failure(adapter.send(deployment({ baseUrl: rawUrl }), upstreamRequest(chatBody('x', { stream }))));
    expect(err.code).toBe('upstream_error');
    expect(err.status).toBe(502);
    expect(err.message).toContain(`'${coding}'`);
    // No UpstreamHttpError cause: routing retries it (another deployment may answer plainly) and counts it against the breaker.
    expect(err.cause).toBeUndefined();
    await until(() => closed);
  });

  it('identity (any case) is no coding at all', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'Identity' });
      res.end(json);
    };
    const res = await adapter.send(deployment({ baseUrl: rawUrl }), upstreamRequest(chatBody()));
    expect(JSON.parse(await readAll(res.body))).toMatchObject({ choices: [{ message: { content: 'zipped' } }] });
    expect(await res.usage).toMatchObject({ promptTokens: 3, completionTokens: 1 });
  });

  it('a compressed 4xx body is not read as text (no binary in the message)', async () => {
    reply = (res) => {
      const body = gzipSync(JSON.stringify({ error: { message: 'bad request', type: 'invalid_request_error' } }));
      res.writeHead(400, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(body);
    };
    const res = await adapter.send(deployment({ baseUrl: rawUrl }), upstreamRequest(chatBody()));
    expect(res.status).toBe(400);
    const env = JSON.parse(await readAll(res.body)) as { error: { message: string } };
    expect(env.error.message).toBe('The upstream provider answered HTTP 400.');
  });
});

describe('a stream that ends (cleanly) before the upstream said it finished', () => {
  const head = '"id":"c","object":"chat.completion.chunk","created":1,"model":"m"';
  const delta = (content: string, index = 0): string =>
    `data: {${head},"choices":[{"index":${index},"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}]}\n\n`;
  const finish = (index = 0): string => `data: {${head},"choices":[{"index":${index},"delta":{},"finish_reason":"stop"}]}\n\n`;
  const usage = `data: {${head},"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n`;

  /** Reads as the server does (flowing): the text that came out, and the error it ended with. */
  function drain(body: NodeJS.ReadableStream): Promise<{ text: string; err: unknown }> {
    return new Promise((resolve) => {
      let text = '';
      body.on('data', (c: Buffer) => (text += c.toString()));
      body.on('end', () => resolve({ text, err: undefined }));
      body.on('error', (err) => resolve({ text, err }));
    });
  }
  const send = (parts: string[], body = chatBody('x', { stream: true }), operation: 'chat' | 'completions' = 'chat') => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Each part its own write, so the stream crosses chunk boundaries as a real one does.
      const next = (i: number): void => {
        if (i === parts.length) return void res.end();
        res.write(parts[i], () => setTimeout(() => next(i + 1), 2));
      };
      next(0);
    };
    return adapter.send(deployment({ baseUrl: rawUrl }), upstreamRequest(body, { operation }));
  };

  it('neither finish_reason nor [DONE]: the body fails with upstream_error after the whole events; usage still settles', async () => {
    const res = await send([delta('Hel'), delta('lo'), 'data: {"id":"c","choi']);
    const { text, err } = await drain(res.body);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'upstream_error', status: 502 });
    expect((err as Error).message).toMatch(/ended before the upstream finished the answer/);
    expect(text).toBe(delta('Hel') + delta('lo'));
    expect(await res.usage).toMatchObject({ completionTokens: 2, estimated: true });
  });

  it('the error waits for the reader: one that comes late, or reads slowly, gets every whole event first (no uncaught error)', async () => {
    const parts = [delta('a'.repeat(50_000)), delta('b'.repeat(50_000)), delta('c')];
    const late = await send(parts);
    // The whole body has arrived, and ended unfinished, before anyone reads or listens.
    await new Promise((r) => setTimeout(r, 100));
    const l = await drain(late.body);
    expect(l.err).toMatchObject({ code: 'upstream_error' });
    expect(l.text).toBe(parts.join(''));
    // A reader that pauses for each chunk (a slow client: the body's buffer fills up).
    const slow = await send(parts);
    let text = '';
    const err = await new Promise<unknown>((resolve) => {
      slow.body.on('data', (c: Buffer) => {
        text += c.toString();
        slow.body.pause();
        setTimeout(() => slow.body.resume(), 20);
      });
      slow.body.on('end', () => resolve(undefined));
      slow.body.on('error', resolve);
    });
    expect(err).toMatchObject({ code: 'upstream_error' });
    expect(text).toBe(parts.join(''));
    // An empty 200 stream is no answer either.
    expect((await drain((await send([])).body)).err).toMatchObject({ code: 'upstream_error' });
  });

  it('a finish_reason without [DONE] is complete; so is [DONE] without a finish_reason', async () => {
    for (const parts of [[delta('a'), finish(), usage], [delta('a'), 'data: [DONE]\n\n'], [delta('a'), finish().slice(0, 70), finish().slice(70)]]) {
      const res = await send(parts);
      expect(await drain(res.body)).toEqual({ text: parts.join(''), err: undefined });
    }
  });

  it('legacy completions (text_completion) streams: the same rule', async () => {
    const text = (t: string, f: string | null): string =>
      `data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"text":${JSON.stringify(t)},"index":0,"logprobs":null,"finish_reason":${f === null ? 'null' : `"${f}"`}}]}\n\n`;
    const body = { model: 'm', prompt: 'x', stream: true };
    expect((await drain((await send([text('a', null), text('b', null)], body, 'completions')).body)).err).toMatchObject({ code: 'upstream_error' });
    const whole = [text('a', null), text('', 'length')];
    expect(await drain((await send(whole, body, 'completions')).body)).toEqual({ text: whole.join(''), err: undefined });
  });

  it('the mock provider always finishes its streams: chat n > 1 with include_usage, and legacy completions', async () => {
    const chat = await adapter.send(
      deployment({ baseUrl: mock.url }),
      upstreamRequest(chatBody('two choices', { stream: true, n: 2, stream_options: { include_usage: true } })),
    );
    const c = await drain(chat.body);
    expect(c.err).toBeUndefined();
    expect(c.text.endsWith('data: [DONE]\n\n')).toBe(true);
    const legacy = await adapter.send(deployment({ baseUrl: mock.url }), upstreamRequest({ model: 'm', prompt: 'hi', stream: true, n: 2 }, { operation: 'completions' }));
    const l = await drain(legacy.body);
    expect(l.err).toBeUndefined();
    expect(l.text).toContain('"object":"text_completion"');
  });
});

describe('transport failures', () => {
  it('no headers within timeoutMs → upstream_timeout (504)', async () => {
    const d = deployment({ baseUrl: mock.url, timeoutMs: 100 });
    const t0 = Date.now();
    const err = await failure(adapter.send(d, upstreamRequest(chatBody('slow', { mock: { latencyMs: 5_000 } }))));
    expect(err.code).toBe('upstream_timeout');
    expect(err.status).toBe(504);
    // undici's header/body timers tick at ~0.5 s resolution (cheap on the hot path).
    expect(Date.now() - t0).toBeLessThan(2_500);
  });

  it('a stream that stalls longer than timeoutMs between chunks fails with upstream_timeout', async () => {
    const d = deployment({ baseUrl: mock.url, timeoutMs: 300 });
    // One event now, the next in 5 s: the gap exceeds timeoutMs.
    const res = await adapter.send(d, upstreamRequest(chatBody('stall', { stream: true, mock: { tokensPerSecond: 0.2 } })));
    const t0 = Date.now();
    const err = await readAll(res.body).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('upstream_timeout');
    expect(Date.now() - t0).toBeLessThan(2_500);
    // No usage from the provider: the estimate counts the one chunk that passed.
    expect(await res.usage).toMatchObject({ estimated: true, promptTokens: 0, completionTokens: 1 });
  });

  it('connection refused → upstream_error (502)', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = await failure(adapter.send(deployment({ baseUrl: `http://127.0.0.1:${port}/v1` }), upstreamRequest(chatBody())));
    expect(err.code).toBe('upstream_error');
    expect(err.status).toBe(502);
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('a connection reset before the response → upstream_error', async () => {
    reply = (res) => res.socket?.destroy();
    const err = await failure(adapter.send(deployment({ baseUrl: rawUrl }), upstreamRequest(chatBody())));
    expect(err.code).toBe('upstream_error');
  });

  it('a deadline on the signal (TimeoutError) → upstream_timeout', async () => {
    const d = deployment({ baseUrl: mock.url });
    const err = await failure(adapter.send(d, upstreamRequest(chatBody('x', { mock: { latencyMs: 2_000 } }), { signal: AbortSignal.timeout(50) })));
    expect(err.code).toBe('upstream_timeout');
  });

  it('a client abort before headers rethrows the abort reason as-is and cancels upstream', async () => {
    const d = deployment({ baseUrl: mock.url });
    const ac = new AbortController();
    const before = mock.aborted;
    const reason = new Error('client went away');
    setTimeout(() => ac.abort(reason), 50);
    const err = await adapter.send(d, upstreamRequest(chatBody('x', { mock: { latencyMs: 2_000 } }), { signal: ac.signal })).catch((e: unknown) => e);
    expect(err).toBe(reason);
    await expect.poll(() => mock.aborted, { timeout: 2_000 }).toBe(before + 1);
  });
});
