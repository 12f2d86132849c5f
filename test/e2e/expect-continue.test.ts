/**
 * `Expect: 100-continue` over real sockets: the client sends its headers, waits for the interim
 * `100 Continue`, and only then the body. node:http sent that interim answer as soon as the
 * headers arrived, before the gateway had authenticated the request or checked its declared size,
 * so an anonymous or oversized upload went out anyway, only to be refused. The gateway now sends
 * it when it is about to read the body: a refused request gets its final answer without one.
 */
import net from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KEY, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const ADMIN_KEY = 'admin-expect-0123456789abcdef0123456789abcdef';
const MAX_BODY = 65_536;

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({ env: { GATEHOUSE_MAX_BODY_BYTES: String(MAX_BODY), GATEHOUSE_ADMIN_KEY: ADMIN_KEY } });
});
afterAll(async () => {
  await gw?.stop();
});

interface Exchange {
  /** Whether `100 Continue` came before the final answer. */
  continued: boolean;
  /** Whether the body was sent (only after a 100). */
  bodySent: boolean;
  status: number;
  head: string;
  body: string;
}

/**
 * Sends the request head with `Expect: 100-continue`, then waits: on `100 Continue` it sends the
 * body, as curl and other clients do; a final answer first means the body is never sent.
 */
function exchange(
  path: string,
  headers: Record<string, string>,
  body: string,
  opts: { declaredLength?: number; keepAlive?: boolean } = {},
): Promise<Exchange> {
  const declared = opts.declaredLength ?? Buffer.byteLength(body);
  const lines = [`POST ${path} HTTP/1.1`, 'Host: localhost', 'Expect: 100-continue', `Content-Length: ${declared}`];
  if (opts.keepAlive !== true) lines.push('Connection: close');
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return new Promise<Exchange>((resolve, reject) => {
    let continued = false;
    let bodySent = false;
    let data = Buffer.alloc(0);
    const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`));
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const interim = 'HTTP/1.1 100 Continue\r\n\r\n';
      if (!continued && data.toString('latin1').startsWith(interim)) {
        continued = true;
        data = data.subarray(interim.length);
        bodySent = true;
        socket.write(body);
      }
    });
    socket.on('end', () => {
      const text = data.toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      const head = text.slice(0, split);
      resolve({ continued, bodySent, status: Number(head.split(' ')[1]), head: head.toLowerCase(), body: text.slice(split + 4) });
    });
    socket.on('error', reject);
  });
}

const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello' }] });
const json = { 'Content-Type': 'application/json' };
const errorCode = (body: string): string => (JSON.parse(body) as { error: { code: string } }).error.code;

describe('Expect: 100-continue on the model API', () => {
  it('refuses a request without a key with 401 before the body: no 100 Continue', async () => {
    const before = gw.mock?.requests.length ?? 0;
    // Asked to keep the connection: it is closed (exchange() waits for its end), since the body
    // the client may still send would be read as the next request.
    const r = await exchange('/v1/chat/completions', json, chat, { keepAlive: true });
    expect(r.status).toBe(401);
    expect(r.continued).toBe(false);
    expect(r.bodySent).toBe(false);
    expect(r.head).toContain('connection: close');
    expect(errorCode(r.body)).toBe('missing_api_key');
    expect((gw.mock?.requests.length ?? 0) - before).toBe(0);
  });

  it('refuses a wrong key with 401 before the body: no 100 Continue', async () => {
    const r = await exchange('/v1/chat/completions', { ...json, Authorization: `Bearer ghk_wrong000_${'w'.repeat(40)}` }, chat);
    expect(r.status).toBe(401);
    expect(r.continued).toBe(false);
    expect(errorCode(r.body)).toBe('invalid_api_key');
  });

  it('refuses a declared Content-Length over the limit with 413 before the body: no 100 Continue', async () => {
    const r = await exchange('/v1/chat/completions', { ...json, Authorization: `Bearer ${DEMO_KEY}` }, '', { declaredLength: MAX_BODY + 1 });
    expect(r.status).toBe(413);
    expect(r.continued).toBe(false);
    expect(r.bodySent).toBe(false);
    expect(errorCode(r.body)).toBe('payload_too_large');
    expect(r.head).toContain('connection: close');
  });

  it('sends 100 Continue to an authenticated request of acceptable size, then serves it', async () => {
    const before = gw.mock?.requests.length ?? 0;
    const r = await exchange('/v1/chat/completions', { ...json, Authorization: `Bearer ${DEMO_KEY}` }, chat);
    expect(r.continued).toBe(true);
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as { object: string }).object).toBe('chat.completion');
    expect((gw.mock?.requests.length ?? 0) - before).toBe(1);
    // The Anthropic dialect reads its body through the same stage.
    const messages = await exchange(
      '/v1/messages',
      { ...json, 'x-api-key': DEMO_KEY, 'anthropic-version': '2023-06-01' },
      JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'Hello' }] }),
    );
    expect(messages.continued).toBe(true);
    expect(messages.status).toBe(200);
  });

  it('still answers an Expect other than 100-continue with 417', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1', () => {
        socket.write(
          `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nAuthorization: Bearer ${DEMO_KEY}\r\n` +
            `Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
        );
      });
      let out = '';
      socket.on('data', (d: Buffer) => (out += d.toString()));
      socket.on('end', () => resolve(out));
      socket.on('error', reject);
    });
    expect(raw.startsWith('HTTP/1.1 417')).toBe(true);
    expect(errorCode(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toBe('expectation_failed');
  });

  it('leaves the official OpenAI SDK working', async () => {
    const client = new OpenAI({ apiKey: DEMO_KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x'.repeat(4096) }] });
    expect(completion.choices[0]?.message.content).toBeTruthy();
  });
});

describe('Expect: 100-continue on the admin API', () => {
  const tenant = (slug: string) => JSON.stringify({ slug, name: `Tenant ${slug}` });

  it('refuses an unauthenticated request with 401 before the body: no 100 Continue', async () => {
    const r = await exchange('/admin/v1/tenants', json, tenant('expect-anon'));
    expect(r.status).toBe(401);
    expect(r.continued).toBe(false);
    expect(r.bodySent).toBe(false);
  });

  it('refuses a declared body over its limit with 413 before the body: no 100 Continue', async () => {
    const r = await exchange('/admin/v1/tenants', { ...json, Authorization: `Bearer ${ADMIN_KEY}` }, '', { declaredLength: 1024 * 1024 });
    expect(r.status).toBe(413);
    expect(r.continued).toBe(false);
    expect(r.bodySent).toBe(false);
  });

  it('sends 100 Continue to an authorised request (as curl sends with large bodies), then serves it', async () => {
    const r = await exchange('/admin/v1/tenants', { ...json, Authorization: `Bearer ${ADMIN_KEY}` }, tenant('expect-ok'));
    expect(r.continued).toBe(true);
    expect(r.status).toBe(201);
    expect((JSON.parse(r.body) as { slug: string }).slug).toBe('expect-ok');
  });
});
