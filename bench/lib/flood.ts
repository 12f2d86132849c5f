/**
 * A closed-loop flood in a worker thread, so it never shares an event loop with the quiet
 * tenant's measurements: `connections` clients, each sending its next request as soon as the
 * previous one is answered. On a 429 a client waits as long as Retry-After says, as the official
 * SDKs do; without that, a refused flood is a CPU load test of the 429 path, not of scheduling.
 *
 * Protocol (parentPort): in { type: 'start' | 'count' | 'stop' }; out { type: 'counts', counts }
 * after 'count' and 'stop' (once every client has finished its request in flight).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';

export interface FloodSpec {
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  connections: number;
  /** Wait Retry-After seconds on 429 (SDK behaviour). */
  honorRetryAfter: boolean;
}

export interface FloodCounts {
  ok: number;
  rateLimited: number;
  otherStatus: number;
  errors: number;
}

export type FloodCommand = { type: 'start' } | { type: 'count' } | { type: 'stop' };
export type FloodReply = { type: 'counts'; counts: FloodCounts };

async function run(spec: FloodSpec): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('flood.ts runs as a worker thread');
  const pool = new Pool(spec.origin, { connections: spec.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const counts: FloodCounts = { ok: 0, rateLimited: 0, otherStatus: 0, errors: 0 };
  let stopping = false;
  const stopped = new AbortController();
  const pause = (ms: number) => sleep(ms, undefined, { signal: stopped.signal }).catch(() => undefined);
  let clients: Promise<void>[] = [];
  const headers = { 'content-type': 'application/json', ...spec.headers };

  async function client(): Promise<void> {
    while (!stopping) {
      try {
        const res = await pool.request({ method: 'POST', path: spec.path, headers, body: spec.body });
        await res.body.dump();
        if (res.statusCode === 200) counts.ok += 1;
        else if (res.statusCode === 429) {
          counts.rateLimited += 1;
          const seconds = Number(res.headers['retry-after']);
          if (spec.honorRetryAfter && Number.isFinite(seconds) && seconds > 0) await pause(seconds * 1000);
        } else counts.otherStatus += 1;
      } catch {
        counts.errors += 1;
        await pause(10);
      }
    }
  }

  port.on('message', (msg: FloodCommand) => {
    if (msg.type === 'start') {
      clients = Array.from({ length: spec.connections }, () => client());
    } else if (msg.type === 'count') {
      port.postMessage({ type: 'counts', counts: { ...counts } } satisfies FloodReply);
    } else {
      stopping = true;
      stopped.abort();
      void Promise.all(clients).then(async () => {
        port.postMessage({ type: 'counts', counts: { ...counts } } satisfies FloodReply);
        await pool.close();
        port.close();
      });
    }
  });
}

if (parentPort !== null) void run(workerData as FloodSpec);
