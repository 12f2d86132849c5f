/** A local webhook receiver (node:http) that checks signatures and can be told to fail. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../../src/billing/alerts/signature.js';

export interface Received {
  eventId: string;
  signatureOk: boolean;
  status: number;
  body: Record<string, unknown>;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Status for the next requests, first one first; then `fallback`. */
  plan: number[];
  fallback: number;
  close(): Promise<void>;
}

export async function startReceiver(secret: string): Promise<Receiver> {
  const state = { received: [] as Received[], plan: [] as number[], fallback: 200 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const signatureOk = verifySignature(secret, raw, String(req.headers['x-gatehouse-signature'] ?? ''));
      const status = signatureOk ? (state.plan.shift() ?? state.fallback) : 400;
      state.received.push({ eventId: String(req.headers['x-gatehouse-event-id'] ?? ''), signatureOk, status, body: JSON.parse(raw) as Record<string, unknown> });
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    get received() {
      return state.received;
    },
    get plan() {
      return state.plan;
    },
    set plan(p: number[]) {
      state.plan = p;
    },
    get fallback() {
      return state.fallback;
    },
    set fallback(s: number) {
      state.fallback = s;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
