/**
 * Writing mock responses: JSON, the OpenAI error envelope, and paced SSE that honours
 * backpressure and stops the moment the client goes away.
 */
import type { ServerResponse } from 'node:http';

let served = 0;
const RUN = Math.random().toString(36).slice(2, 8);

/** Short unique ids (`chatcmpl-...`, `call_...`); a counter, not crypto, keeps the mock cheap. */
export function mockId(prefix: string): string {
  served++;
  return `${prefix}${RUN}${served.toString(36).padStart(8, '0')}`;
}

export function baseHeaders(contentType: string): Record<string, string> {
  return {
    'content-type': contentType,
    'x-request-id': mockId('req_'),
    'openai-processing-ms': '1',
  };
}

export function sendJson(res: ServerResponse, status: number, value: unknown, extra?: Record<string, string>): void {
  const body = JSON.stringify(value);
  const headers = baseHeaders('application/json');
  headers['content-length'] = String(Buffer.byteLength(body));
  if (extra !== undefined) Object.assign(headers, extra);
  res.writeHead(status, headers);
  res.end(body);
}

const ERROR_TYPES: Record<number, { type: string; code: string | null }> = {
  400: { type: 'invalid_request_error', code: null },
  401: { type: 'invalid_request_error', code: 'invalid_api_key' },
  403: { type: 'permission_denied_error', code: null },
  404: { type: 'invalid_request_error', code: 'not_found' },
  429: { type: 'requests', code: 'rate_limit_exceeded' },
};

/** The OpenAI error envelope; 429s carry Retry-After like the real API. */
export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  opts: { param?: string | null; code?: string | null; type?: string; retryAfter?: number } = {},
): void {
  const known = ERROR_TYPES[status] ?? { type: status >= 500 ? 'server_error' : 'invalid_request_error', code: null };
  const error = {
    message,
    type: opts.type ?? known.type,
    param: opts.param ?? null,
    code: opts.code === undefined ? known.code : opts.code,
  };
  const extra: Record<string, string> =
    opts.retryAfter !== undefined
      ? { 'retry-after': String(opts.retryAfter), 'retry-after-ms': String(opts.retryAfter * 1000) }
      : status === 429
        ? { 'retry-after': '1', 'retry-after-ms': '1000' }
        : {};
  sendJson(res, status, { error }, extra);
}

/** Resolves true after `ms`, or false as soon as the client disconnects. */
export function wait(res: ServerResponse, ms: number): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off('close', onClose);
      resolve(true);
    }, ms);
    res.once('close', onClose);
  });
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export interface StreamStats {
  /** Times the writer waited for 'drain' because the client was not reading. */
  backpressureWaits: number;
}

/** Batches up to this many bytes per write when pacing is off. */
const BATCH_BYTES = 16 * 1024;

/**
 * A stream that goes wrong after `afterChunks` events (and, `midEvent`, half of the next one):
 * the connection drops, or goes silent for `stallMs`.
 */
export type StreamFault = { kind: 'cut'; afterChunks: number; midEvent?: boolean } | { kind: 'stall'; afterChunks: number; stallMs: number; midEvent?: boolean };

/**
 * Writes SSE events at `tokensPerSecond` (0 = as fast as the socket takes them, batched).
 * Stops early when the client disconnects; waits for 'drain' when the socket is full.
 */
export async function streamSse(
  res: ServerResponse,
  events: Iterator<string>,
  tokensPerSecond: number,
  stats: StreamStats,
  fault?: StreamFault,
): Promise<void> {
  const headers = baseHeaders('text/event-stream; charset=utf-8');
  headers['cache-control'] = 'no-cache';
  res.writeHead(200, headers);
  const interval = tokensPerSecond > 0 ? 1000 / tokensPerSecond : 0;
  let start = performance.now();
  let sent = 0;
  let pending = fault;
  for (;;) {
    if (res.destroyed) return;
    // Everything due by now goes out in one write; at tokensPerSecond 0 everything is due.
    const due = interval === 0 ? Infinity : Math.floor((performance.now() - start) / interval) + 1;
    let batch = '';
    let done = false;
    while (sent < due && batch.length < BATCH_BYTES && (pending === undefined || sent < pending.afterChunks)) {
      const next = events.next();
      if (next.done === true) {
        done = true;
        break;
      }
      batch += next.value;
      sent++;
    }
    if (pending !== undefined && sent >= pending.afterChunks) {
      if (pending.midEvent === true) {
        const next = events.next();
        if (next.done !== true) batch += next.value.slice(0, Math.ceil(next.value.length / 2));
      }
      // What was written reaches the client first.
      if (batch !== '') await new Promise<void>((resolve) => res.write(batch, () => resolve()));
      if (pending.kind === 'cut') {
        // Then the connection drops without an end.
        res.socket?.destroy();
        return;
      }
      // Then nothing at all, the connection open, until the stall is over or the client leaves.
      const stalledFor = pending.stallMs;
      pending = undefined;
      if (!(await wait(res, stalledFor))) return;
      start += stalledFor; // pacing resumes where it stopped
      continue;
    }
    if (batch !== '' && !res.write(batch)) {
      stats.backpressureWaits++;
      await drained(res);
    }
    if (done) break;
    if (interval > 0 && sent >= due && !(await wait(res, start + sent * interval - performance.now()))) return;
  }
  if (!res.destroyed) res.end();
}
