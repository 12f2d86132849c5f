/**
 * The usage event is acknowledged before the client can see its response complete (DESIGN §5):
 * the completion hook runs before the last byte. For a body of declared length the last byte is
 * the last data chunk, so that chunk must wait; for a chunked body it is the terminator.
 */
import { connect, type Socket } from 'node:net';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../../src/observability/metrics.js';
import { setCompletion, type RequestContext } from '../../../src/pipeline/context.js';
import { createHandler } from '../../../src/server/handler.js';

interface Harness {
  server: Server;
  port: number;
  body: PassThrough;
  releaseCompletion: () => void;
  completionCalls: () => number;
}

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function harness(headers: Record<string, string>): Promise<Harness> {
  const body = new PassThrough();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let calls = 0;
  const handler = createHandler({
    inference: async (ctx: RequestContext) => {
      setCompletion(ctx, () => {
        calls++;
        return gate;
      });
      ctx.upstream = { status: 200, headers: { ...headers }, body, usage: new Promise((r) => body.once('end', () => r(undefined))) };
    },
    models: async () => {},
    renderModels: () => ({}),
    isReady: () => true,
    isDraining: () => false,
    logger: pino({ level: 'silent' }),
    metrics: createMetrics(),
    requestTimeoutMs: 10_000,
  });
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, body, releaseCompletion: release, completionCalls: () => calls };
}

/** A raw client: everything the socket received so far. */
function rawPost(port: number): { socket: Socket; received: () => string } {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
  socket.write('POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
  return { socket, received: () => text };
}

const settle = (ms = 60) => new Promise((r) => setTimeout(r, ms));

describe('the last byte waits for the completion hook', () => {
  it('holds the final chunk of a body of declared length until the hook resolves', async () => {
    const h = await harness({ 'content-type': 'application/json', 'content-length': '10' });
    const client = rawPost(h.port);
    await settle();
    h.body.write('01234');
    await settle();
    expect(client.received()).toContain('\r\n\r\n01234'); // earlier chunks flow as they come
    h.body.end('56789');
    await settle();
    expect(h.completionCalls()).toBe(1);
    expect(client.received()).not.toContain('56789'); // the client cannot have it all yet
    h.releaseCompletion();
    await settle();
    expect(client.received().endsWith('0123456789')).toBe(true);
    client.socket.destroy();
  });

  it('sends a one-chunk answer only after the hook, headers and body together', async () => {
    const h = await harness({ 'content-type': 'application/json', 'content-length': '2' });
    const client = rawPost(h.port);
    await settle();
    h.body.end('{}');
    await settle();
    expect(h.completionCalls()).toBe(1);
    expect(client.received()).toBe('');
    h.releaseCompletion();
    await settle();
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*content-length: 2\r\n[\s\S]*\r\n\r\n\{\}$/);
    client.socket.destroy();
  });

  it('streams a chunked body as it comes and writes the terminator only after the hook', async () => {
    const h = await harness({ 'content-type': 'text/event-stream' });
    const client = rawPost(h.port);
    await settle();
    h.body.write('data: a\n\n');
    h.body.end('data: [DONE]\n\n');
    await settle();
    expect(client.received()).toContain('data: [DONE]');
    expect(client.received()).not.toContain('\r\n0\r\n\r\n');
    h.releaseCompletion();
    await settle();
    expect(client.received().endsWith('\r\n0\r\n\r\n')).toBe(true);
    client.socket.destroy();
  });
});
