/**
 * Hostile and broken input over real sockets: every case gets a clear 4xx in the OpenAI error
 * envelope (or the connection is closed), never a crash or a hang, and never an upstream call.
 */
import net from 'node:net';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ env: { GATEHOUSE_MAX_BODY_BYTES: '65536' } });
});
afterAll(async () => {
  await gw?.stop();
});

async function send(body: string | Buffer, headers: Record<string, string> = {}, path = '/v1/chat/completions') {
  const before = gw.mock?.requests.length ?? 0;
  const res = await request(`${gw.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.body.text();
  return { status: res.statusCode, text, headers: res.headers, upstream: (gw.mock?.requests.length ?? 0) - before };
}

function envelope(text: string): { message: string; type: string; code: string; param: string | null } {
  const parsed = JSON.parse(text) as { error: { message: string; type: string; code: string; param: string | null } };
  expect(Object.keys(parsed.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  return parsed.error;
}

describe('bad input', () => {
  it.each([
    ['malformed JSON', '{"model": "gpt-4o-mini", "messages": [', 'invalid_json'],
    ['a JSON array', '[]', 'invalid_json'],
    ['an empty body', '', 'invalid_json'],
    ['a missing model', '{"messages":[{"role":"user","content":"x"}]}', 'missing_model'],
    ['a non-string model', '{"model":42,"messages":[{"role":"user","content":"x"}]}', 'invalid_request'],
    ['a non-boolean stream', '{"model":"gpt-4o-mini","stream":"yes","messages":[{"role":"user","content":"x"}]}', 'invalid_request'],
    ['messages of the wrong type', '{"model":"gpt-4o-mini","messages":"hi"}', 'invalid_request'],
  ])('rejects %s with 400 in the envelope', async (_name, body, code) => {
    const r = await send(body);
    expect(r.status).toBe(400);
    expect(envelope(r.text).code).toBe(code);
    expect(r.upstream).toBe(0);
  });

  it('rejects JSON nested past 128 levels with 400 (a 10 KB body overflowed the stack: 500), on both dialects', async () => {
    const deep = (d: number) => `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"x"}],"x":${'['.repeat(d)}${']'.repeat(d)}}`;
    for (const path of ['/v1/chat/completions', '/v1/messages']) {
      const r = await send(deep(5000), { 'anthropic-version': '2023-06-01' }, path);
      expect(r.status).toBe(400);
      expect(r.text).toContain('nested more than 128 levels');
      expect(r.upstream).toBe(0);
    }
    expect(envelope((await send(deep(5000))).text).code).toBe('invalid_json');
    // 120 levels of an unknown field still pass through to the upstream.
    expect((await send(deep(120))).status).toBe(200);
  });

  it('answers an unknown Expect with 417 in the envelope (Node sends a bare one)', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1', () => {
        socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
      });
      let out = '';
      socket.on('data', (d: Buffer) => (out += d.toString()));
      socket.on('end', () => resolve(out));
      socket.on('error', reject);
    });
    expect(raw.startsWith('HTTP/1.1 417')).toBe(true);
    expect(envelope(raw.slice(raw.indexOf('\r\n\r\n') + 4)).code).toBe('expectation_failed');
  });

  it('rejects invalid UTF-8', async () => {
    const bytes = Buffer.concat([Buffer.from('{"model":"gpt-4o-mini","messages":[{"role":"user","content":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]);
    const r = await send(bytes);
    expect(r.status).toBe(400);
    expect(envelope(r.text).code).toBe('invalid_utf8');
  });

  it('rejects a body over the configured limit with 413, declared or streamed', async () => {
    const big = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(70_000) }] });
    const declared = await send(big);
    expect(declared.status).toBe(413);
    expect(envelope(declared.text).code).toBe('payload_too_large');
    // Chunked (no Content-Length): the limit is enforced while reading.
    const chunked = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: Readable.from(
        (function* () {
          for (let i = 0; i < 20; i++) yield Buffer.alloc(8192, 0x61);
        })(),
      ),
    });
    expect(chunked.statusCode).toBe(413);
    await chunked.body.text();
  });

  it('rejects a wrong content type with 415', async () => {
    const r = await send('model=gpt-4o-mini', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(r.status).toBe(415);
    expect(envelope(r.text).code).toBe('unsupported_media_type');
  });

  it('refuses a compressed request body with 415 naming Content-Encoding (a gzip body was "not valid UTF-8", a mislabelled one was served)', async () => {
    const json = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
    for (const [body, encoding] of [
      [gzipSync(json), 'gzip'],
      [Buffer.from(json), 'gzip'],
      [Buffer.from(json), 'br'],
      [Buffer.from(json), 'identity, gzip'],
    ] as const) {
      const r = await send(body, { 'content-encoding': encoding });
      expect(r.status, encoding).toBe(415);
      const error = envelope(r.text);
      expect(error.code).toBe('unsupported_media_type');
      expect(error.message).toContain('Content-Encoding');
      expect(r.upstream).toBe(0);
    }
    for (const encoding of ['identity', 'Identity', '']) expect((await send(json, { 'content-encoding': encoding })).status, encoding).toBe(200);
  });

  it('rejects oversized headers with 431 in the envelope', async () => {
    const r = await send('{}', { 'x-padding': 'p'.repeat(40_000) });
    expect(r.status).toBe(431);
    expect(envelope(r.text).code).toBe('header_too_large');
  });

  it('answers a malformed HTTP request with 400 and closes', async () => {
    const port = new URL(gw.url).port;
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write('GARBAGE / HTTP/1.1\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect(raw).toContain('"type":"invalid_request_error"');
  });

  it('answers unknown routes with 404 and wrong methods with 405, in the envelope', async () => {
    const notFound = await request(`${gw.url}/v1/nothing`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
    expect(notFound.statusCode).toBe(404);
    envelope(await notFound.body.text());
    const wrong = await request(`${gw.url}/v1/chat/completions`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers.allow).toBe('POST');
    envelope(await wrong.body.text());
  });

  it('echoes a valid inbound X-Request-ID and replaces an invalid one', async () => {
    const ok = await send('{}', { 'x-request-id': 'trace-abc.123' });
    expect(ok.headers['x-request-id']).toBe('trace-abc.123');
    const bad = await send('{}', { 'x-request-id': 'bad id with spaces' });
    expect(bad.headers['x-request-id']).not.toBe('bad id with spaces');
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers what the HTTP server refuses before the pipeline (no Host, an unknown Expect, headers too large, garbage) in the envelope with the headers every response carries', async () => {
    const rawExchange = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1', () => socket.write(text));
        let out = '';
        socket.on('data', (d: Buffer) => (out += d.toString()));
        socket.on('end', () => resolve(out));
        socket.on('error', reject);
      });
    const post = (headers: string) =>
      `POST /v1/chat/completions HTTP/1.1\r\n${headers}Authorization: Bearer ${DEMO_KEY}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`;
    for (const [text, status, code, echoed] of [
      // HTTP/1.1 requires Host (RFC 9112 §3.2): node:http answered a bare 400 without a body.
      [post('X-Request-ID: no-host-1\r\n'), 400, 'invalid_request', 'no-host-1'],
      [post('Host: x\r\nExpect: teapot\r\nX-Request-ID: expect-1\r\n'), 417, 'expectation_failed', 'expect-1'],
      [post(`Host: x\r\nX-Padding: ${'p'.repeat(40_000)}\r\n`), 431, 'header_too_large', undefined],
      ['GARBAGE / HTTP/1.1\r\n\r\n', 400, 'invalid_request', undefined],
    ] as const) {
      const answer = await rawExchange(text);
      const head = answer.slice(0, answer.indexOf('\r\n\r\n')).toLowerCase();
      expect(head.startsWith(`http/1.1 ${status} `), head).toBe(true);
      expect(head).toContain('x-content-type-options: nosniff');
      expect(head).toContain('x-frame-options: deny');
      expect(head).toMatch(echoed === undefined ? /\r\nx-request-id: [0-9a-f-]{36}\r\n/ : new RegExp(`\r\nx-request-id: ${echoed}\r\n`));
      expect(envelope(answer.slice(answer.indexOf('\r\n\r\n') + 4)).code).toBe(code);
    }
    // An HTTP/1.0 request needs no Host.
    const old = await rawExchange(`GET /healthz HTTP/1.0\r\n\r\n`);
    expect(old.startsWith('HTTP/1.1 200')).toBe(true);
  });

  it('cancels the upstream request when the client disconnects mid-stream', async () => {
    const mock = gw.mock;
    if (mock === undefined) throw new Error('no mock');
    const abortedBefore = mock.aborted;
    const controller = new AbortController();
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'long' }],
        mock: { tokens: 2000, tokensPerSecond: 100 },
      }),
      signal: controller.signal,
    });
    expect(res.statusCode).toBe(200);
    for await (const _chunk of res.body) {
      controller.abort();
      break;
    }
    const deadline = Date.now() + 3000;
    while (mock.aborted === abortedBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(mock.aborted).toBeGreaterThan(abortedBefore);
  });

  it('keeps serving after all of the above', async () => {
    const r = await send(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'still there?' }] }));
    expect(r.status).toBe(200);
  });
});
