/**
 * The node:http server (chosen by measurement, see bench/README.md) with bounded headers,
 * envelope-shaped answers to malformed requests, and graceful shutdown: stop accepting, let
 * in-flight requests and streams finish up to a deadline, then cut what is left.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { GatewayError, errorEnvelope } from '../errors.js';
import { deferContinue } from '../pipeline/body.js';
import { pickRequestId } from './handler.js';
import { baseHeaders, sendError } from './respond.js';

export interface HttpServerOptions {
  host: string;
  port: number;
  maxHeaderBytes: number;
  handler(req: IncomingMessage, res: ServerResponse): void;
}

export interface HttpServer {
  readonly port: number;
  readonly draining: boolean;
  /**
   * Stops accepting, lets requests in flight finish for `graceMs`, then calls `cut` (which should
   * make the rest answer) and waits a moment more before closing every connection. Resolves once
   * every connection is closed.
   */
  shutdown(graceMs: number, cut?: () => void): Promise<void>;
}

/** How long requests cut at the end of the grace period get to write their last bytes. */
const CUT_ANSWER_MS = 1_000;

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

function rawError(code: 'header_too_large' | 'invalid_request' | 'request_timeout', message: string): string {
  const err = new GatewayError(code, message);
  const body = JSON.stringify(errorEnvelope(err));
  const reason = REASONS[err.status] ?? 'Bad Request';
  return (
    `HTTP/1.1 ${err.status} ${reason}\r\nContent-Type: application/json\r\n` +
    // The request's own id is unknown here (its headers did not parse): one is made up, as for any request without one.
    `X-Request-ID: ${randomUUID()}\r\nX-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

export function onClientError(err: Error & { code?: string }, socket: Pick<Socket, 'writable' | 'destroy' | 'end'>): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    socket.end(rawError('header_too_large', 'The request headers are too large.'));
  } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    // A client that stopped sending (headers or body) past the server's limits.
    socket.end(rawError('request_timeout', 'The request did not arrive in time.'));
  } else if (err.code === 'ECONNRESET') {
    socket.destroy();
  } else {
    socket.end(rawError('invalid_request', 'Malformed HTTP request.'));
  }
}

/** Answers a request the server refuses before the handler sees it, with the headers every response carries. */
function refuse(req: IncomingMessage, res: ServerResponse, err: GatewayError): void {
  baseHeaders(res, pickRequestId(req.headers['x-request-id']));
  sendError(res, err);
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | undefined;

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) {
      refuse(req, res, new GatewayError('invalid_request', 'An HTTP/1.1 request must carry a Host header.', { headers: { connection: 'close' } }));
      return;
    }
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
      if (inFlight === 0) idle?.();
    });
    opts.handler(req, res);
  };
  const server = http.createServer(
    // requireHostHeader: node:http would answer a bare 400 (no envelope, no base headers) itself.
    { maxHeaderSize: opts.maxHeaderBytes, keepAliveTimeout: 65_000, requestTimeout: 120_000, headersTimeout: 30_000, requireHostHeader: false },
    onRequest,
  );
  server.on('clientError', onClientError);
  // Expect: 100-continue. With a listener here node:http does not send `100 Continue` on its own:
  // readBody (pipeline/body.ts) sends it when the body is wanted, after authentication and the
  // size check, so a refused request is answered before its client sends the body.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    deferContinue(req, res);
    onRequest(req, res);
  });
  // Node answers an Expect it does not know with a bare 417; ours is in the envelope like any error.
  server.on('checkExpectation', (req, res) => {
    refuse(req, res, new GatewayError('expectation_failed', 'Only "Expect: 100-continue" is supported.'));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;

  /** Whether every request in flight ended within `ms`. */
  const quiet = (ms: number): Promise<boolean> =>
    inFlight === 0
      ? Promise.resolve(true)
      : new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(inFlight === 0), ms);
          timer.unref();
          idle = () => {
            clearTimeout(timer);
            resolve(true);
          };
        });

  return {
    port,
    get draining() {
      return draining;
    },
    async shutdown(graceMs, cut) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Requests in flight get the grace period; those still going are then cut with an answer
      // (a stream with its terminal error event) before their connections close.
      if (!(await quiet(graceMs)) && cut !== undefined) {
        cut();
        await quiet(CUT_ANSWER_MS);
      }
      server.closeAllConnections();
      await closed;
    },
  };
}
