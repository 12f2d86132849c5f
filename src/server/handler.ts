/**
 * The HTTP edge: turns a node:http request into a RequestContext, runs the right pipeline and
 * streams the upstream answer back chunk by chunk. Errors from any stage are rendered here, once.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { MetricsAccess } from './metrics-access.js';
import { GatewayError, errorEnvelope, toGatewayError } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { Pipeline } from '../pipeline/compose.js';
import { dialectOf, type RequestContext, type RequestOutcome } from '../pipeline/context.js';
import type { Usage } from '../providers/types.js';
import { Cancellation } from '../providers/cancel.js';
import { UpstreamHttpError } from '../providers/upstream-errors.js';
import { failAnthropicStream, sendAnthropicError, toAnthropicUpstream } from './anthropic.js';
import { baseHeaders, responseHeaders, sendError, sendJson } from './respond.js';
import { matchRoute, WrongMethodError, type RouteMatch } from './router.js';

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export function pickRequestId(inbound: string | string[] | undefined): string {
  return typeof inbound === 'string' && REQUEST_ID.test(inbound) ? inbound : randomUUID();
}

export interface HandlerDeps {
  inference: Pipeline;
  models: Pipeline;
  /** Renders the model list/object once the models pipeline has authorized the caller. */
  renderModels(ctx: RequestContext): unknown;
  isReady(): boolean;
  isDraining(): boolean;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Whole-request deadline, upstream included. */
  requestTimeoutMs: number;
  /** The admin API below /admin/v1 (own routing, auth and roles); 404 when absent. */
  admin?: (req: IncomingMessage, res: ServerResponse, requestId: string, clientAddress: string) => void;
  /**
   * The client address from the socket's peer and the headers (trusted proxies, see
   * client-address.ts); the peer itself when absent. Decided once per request, here.
   */
  clientAddress?: (peer: string, headers: IncomingMessage['headers']) => string;
  /** Who may read /metrics (src/server/metrics-access.ts); everyone when absent (tests). */
  metricsAccess?: MetricsAccess;
}

function clientOf(deps: HandlerDeps, req: IncomingMessage): string {
  const peer = req.socket.remoteAddress ?? '';
  return deps.clientAddress === undefined ? peer : deps.clientAddress(peer, req.headers);
}

/**
 * One cancellation per request, fired when the client leaves before its response is complete or
 * when the request deadline passes (then with a 504 as the reason). One 'close' listener does the
 * bookkeeping: cheaper than a listener per concern.
 */
function watchRequest(deps: HandlerDeps, res: ServerResponse, onClose: (aborted: boolean) => void): Cancellation {
  const cancellation = new Cancellation();
  const deadline = setTimeout(() => {
    cancellation.abort(
      new GatewayError('upstream_timeout', `The request exceeded the gateway's deadline of ${deps.requestTimeoutMs} ms.`),
    );
  }, deps.requestTimeoutMs);
  res.once('close', () => {
    clearTimeout(deadline);
    const aborted = !res.writableFinished;
    if (aborted) cancellation.abort(new Error('client disconnected'));
    deps.metrics.countResponse(res.statusCode);
    onClose(aborted);
  });
  return cancellation;
}

function logFailure(deps: HandlerDeps, ctx: RequestContext | undefined, err: GatewayError): void {
  const fields = { reqId: ctx?.requestId, tenant: ctx?.tenant?.slug, ip: ctx?.remoteAddress, code: err.code, status: err.status };
  // An upstream's error text goes to the client, whose request it is about, never to the log: a
  // provider may quote the prompt in it ("could not process: ...").
  const upstream = err.code.startsWith('upstream_');
  const message = upstream ? `upstream failure (${err.code})` : err.message;
  if (err.status >= 500) deps.logger.error({ ...fields, err: upstream ? err.cause : (err.cause ?? err) }, message);
  else deps.logger.debug(fields, message);
}

/** Headers (`sent`) are out: an SSE stream gets a terminal error event, anything else is cut. */
function failMidStream(res: ServerResponse, err: GatewayError, sent: Record<string, string>): void {
  const type = sent['content-type'];
  if (type !== undefined && type.startsWith('text/event-stream') && !res.writableEnded && !res.destroyed) {
    res.end(`data: ${JSON.stringify(errorEnvelope(err))}\n\n`);
  } else {
    res.destroy();
  }
}

function observeOverhead(deps: HandlerDeps, ctx: RequestContext): void {
  const { upstreamStartedAt, upstreamAnsweredAt } = ctx;
  if (upstreamStartedAt === undefined || upstreamAnsweredAt === undefined) return;
  const inside = upstreamStartedAt - ctx.startedAt + (process.hrtime.bigint() - upstreamAnsweredAt);
  deps.metrics.observeOverhead(Number(inside) / 1e9);
}

/**
 * Pipes the upstream body to the client chunk by chunk (`pipe` keeps backpressure). Not
 * stream.pipeline: on Node 20 it allocates an AbortController and a DOMException per call, ~10%
 * of the gateway's CPU per request in the benchmark profile. A client that leaves fires
 * ctx.signal, and the upstream call then destroys `body`; upstream failures end the response here.
 */
function streamUpstream(deps: HandlerDeps, ctx: RequestContext, res: ServerResponse): void {
  const upstream = ctx.upstream;
  if (upstream === undefined) throw new Error('no upstream response');
  const headers = responseHeaders(ctx, upstream.headers);
  res.writeHead(upstream.status, headers);
  observeOverhead(deps, ctx);
  const body = upstream.body;
  body.once('error', (err: Error) => {
    body.unpipe(res);
    if (res.destroyed) return; // the client is gone
    const failure = toGatewayError(err);
    ctx.failedWith = failure.status;
    logFailure(deps, ctx, failure);
    if (dialectOf(ctx.endpoint) === 'anthropic') failAnthropicStream(res, failure, headers);
    else failMidStream(res, failure, headers);
  });
  if (ctx.completion === undefined) {
    body.pipe(res);
    void upstream.usage.then((usage) => {
      if (usage !== undefined) ctx.usage = usage;
    });
    return;
  }
  // The last byte waits for the completion hook (the usage event reaching the spool). A chunked
  // body is complete for the client only with its terminator, which end() writes; a body of
  // declared length is complete with its last data byte, so its last chunk is held back and
  // goes out with end() (for a one-chunk JSON answer: headers and body in one write, after the
  // event is spooled).
  if (ctx.body?.stream === true) body.once('data', () => void (ctx.firstByteAt = process.hrtime.bigint()));
  const declared = declaredLength(headers['content-length']);
  let held: Buffer | undefined;
  if (declared === undefined) body.pipe(res, { end: false });
  else forwardHoldingLast(body, res, declared, (chunk) => void (held = chunk));
  body.once('end', () => {
    let settled = false;
    const go = (usage: Usage | undefined) => {
      if (settled) return;
      settled = true;
      if (usage !== undefined) ctx.usage = usage;
      endAfterCompletion(deps, ctx, res, usage, held);
    };
    upstream.usage.then(go, () => go(undefined));
    // Adapters settle usage before the body ends; one that does not must not hold the last byte.
    setImmediate(() => {
      if (!settled) setTimeout(() => go(undefined), USAGE_GRACE_MS).unref();
    });
  });
}

function declaredLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}

/** Like pipe (with backpressure), except that the chunk completing `length` bytes goes to `hold`. */
function forwardHoldingLast(body: Readable, res: ServerResponse, length: number, hold: (chunk: Buffer) => void): void {
  let seen = 0;
  body.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen >= length) {
      hold(chunk);
      return;
    }
    if (!res.write(chunk)) {
      body.pause();
      res.once('drain', () => body.resume());
    }
  });
}

/** The error in the client's dialect. */
function answerError(res: ServerResponse, ctx: RequestContext, failure: GatewayError): void {
  if (dialectOf(ctx.endpoint) === 'anthropic') sendAnthropicError(res, failure);
  else sendError(res, failure);
}

/** How long the last byte waits for usage an adapter reports after its body ended. */
const USAGE_GRACE_MS = 1_000;

function outcomeOf(ctx: RequestContext, status: number, clientAborted: boolean, usage: Usage | undefined): RequestOutcome {
  const { upstreamStartedAt, upstreamAnsweredAt } = ctx;
  const upstreamMs =
    upstreamStartedAt !== undefined && upstreamAnsweredAt !== undefined ? Number(upstreamAnsweredAt - upstreamStartedAt) / 1e6 : undefined;
  const upstreamStatus = ctx.upstream?.status ?? ctx.upstreamErrorStatus;
  return { status: ctx.failedWith ?? status, usage: usage ?? ctx.usage, clientAborted, upstreamMs, upstreamStatus };
}

/** Runs the completion hook if it has not run yet; what it returns (or throws) is the caller's. */
function runCompletion(ctx: RequestContext, outcome: RequestOutcome): void | Promise<void> {
  const completion = ctx.completion;
  if (completion === undefined) return;
  ctx.completion = undefined;
  return completion(outcome, ctx);
}

/** Completion first, then the last byte; a completion that fails cuts the response instead. */
function endAfterCompletion(deps: HandlerDeps, ctx: RequestContext, res: ServerResponse, usage: Usage | undefined, last?: Buffer): void {
  if (res.destroyed || res.writableEnded) return; // cut or closed meanwhile: the close path ran it
  const cut = (err: unknown) => {
    deps.logger.error({ reqId: ctx.requestId, err }, 'request completion failed; response cut');
    res.destroy();
  };
  let pending: void | Promise<void>;
  try {
    pending = runCompletion(ctx, outcomeOf(ctx, res.statusCode, false, usage));
  } catch (err) {
    cut(err);
    return;
  }
  if (pending === undefined) res.end(last);
  else pending.then(() => void res.end(last), cut);
}

/**
 * Runs the finishers once the response is over and the usage is known (a stream's usage arrives
 * with its last chunk, which may be after the socket closed). A finisher that throws is logged
 * and does not stop the others: each one releases something.
 */
function finish(deps: HandlerDeps, ctx: RequestContext, status: number, clientAborted: boolean): Promise<void> {
  const run = (usage: Usage | undefined): Promise<void> | undefined => {
    const outcome = outcomeOf(ctx, status, clientAborted, usage);
    // A response that never completed (the client left, a stream failed) still gets its completion.
    let completed: Promise<void> | undefined;
    try {
      const pending = runCompletion(ctx, outcome);
      if (pending !== undefined) completed = pending.catch((err: unknown) => deps.logger.error({ reqId: ctx.requestId, err }, 'request completion failed'));
    } catch (err) {
      deps.logger.error({ reqId: ctx.requestId, err }, 'request completion failed');
    }
    for (const finisher of ctx.finishers ?? []) {
      try {
        finisher(outcome, ctx);
      } catch (err) {
        deps.logger.error({ reqId: ctx.requestId, err }, 'request finisher failed');
      }
    }
    return completed;
  };
  const upstream = ctx.upstream;
  if (upstream === undefined) return Promise.resolve(run(undefined));
  return upstream.usage.then(run, () => run(undefined));
}

/** Promises a shutdown waits for: the completions (usage events) of responses that were cut. */
function pendingSet() {
  let count = 0;
  let waiters: (() => void)[] = [];
  const done = (): void => {
    if (--count > 0) return;
    const ready = waiters;
    waiters = [];
    for (const w of ready) w();
  };
  return {
    add(p: Promise<unknown>): void {
      count++;
      p.then(done, done);
    },
    idle(): Promise<void> {
      return count === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

export interface Handler {
  (req: IncomingMessage, res: ServerResponse): void;
  /**
   * Cuts every model request still in flight (shutdown, at the end of its grace period): a
   * stream ends with a terminal `shutting_down` error event, a request still waiting for its
   * upstream answers 503 `shutting_down`.
   */
  cutAll(): void;
  /** Resolves once the completions (usage events) of cut and abandoned responses have run. */
  settled(): Promise<void>;
}

async function serveApi(deps: HandlerDeps, ctx: RequestContext, res: ServerResponse, isModels: boolean): Promise<void> {
  if (isModels) {
    await deps.models(ctx);
    const body = deps.renderModels(ctx);
    sendJson(res, 200, body, responseHeaders(ctx));
    return;
  }
  await deps.inference(ctx);
  if (dialectOf(ctx.endpoint) === 'anthropic' && ctx.upstream !== undefined) {
    ctx.upstream = toAnthropicUpstream(ctx.upstream, ctx.model ?? '', ctx.requestId);
  }
  streamUpstream(deps, ctx, res);
}

async function serveMetrics(deps: HandlerDeps, res: ServerResponse): Promise<void> {
  const text = await deps.metrics.registry.metrics();
  res.writeHead(200, { 'content-type': deps.metrics.registry.contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function createHandler(deps: HandlerDeps): Handler {
  const live = new Set<Cancellation>();
  const completions = pendingSet();
  const handle = function handle(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = process.hrtime.bigint();
    const requestId = pickRequestId(req.headers['x-request-id']);
    if (deps.isDraining()) res.setHeader('connection', 'close');

    let match: RouteMatch;
    try {
      match = matchRoute(req.method ?? 'GET', req.url ?? '/');
    } catch (err) {
      baseHeaders(res, requestId);
      if (err instanceof WrongMethodError && err.dialect === 'anthropic') sendAnthropicError(res, err);
      else sendError(res, toGatewayError(err));
      return;
    }
    // Model calls write every header at once (responseHeaders), or these on their error path.
    if (match.kind !== 'api') baseHeaders(res, requestId);
    if (match.kind === 'health') {
      const ok = match.probe === 'healthz' || (deps.isReady() && !deps.isDraining());
      sendJson(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable' });
      return;
    }
    if (match.kind === 'admin') {
      if (deps.admin === undefined) sendError(res, new GatewayError('not_found', 'The admin API is not enabled.'));
      else deps.admin(req, res, requestId, clientOf(deps, req));
      return;
    }
    if (match.kind === 'metrics') {
      const refused = deps.metricsAccess?.(req);
      if (refused !== undefined) {
        sendError(res, refused);
        return;
      }
      serveMetrics(deps, res).catch((err: unknown) => sendError(res, toGatewayError(err)));
      return;
    }

    let ctx: RequestContext | undefined;
    const cancellation = watchRequest(deps, res, (aborted) => {
      live.delete(cancellation);
      if (ctx === undefined) return;
      ctx.closed = { status: res.statusCode, clientAborted: aborted };
      if (ctx.completion !== undefined) completions.add(finish(deps, ctx, res.statusCode, aborted));
      else if (ctx.finishers !== undefined) void finish(deps, ctx, res.statusCode, aborted);
    });
    live.add(cancellation);
    ctx = {
      requestId,
      startedAt,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      remoteAddress: clientOf(deps, req),
      endpoint: match.endpoint,
      pathTenant: match.pathTenant,
      signal: cancellation,
      req,
    };
    const isModels = match.endpoint.op === 'models.list' || match.endpoint.op === 'models.get';
    const context = ctx;
    serveApi(deps, context, res, isModels).catch((err: unknown) => {
      if (res.destroyed) return; // the client is gone; nobody to answer
      const failure = toGatewayError(err);
      if (failure.cause instanceof UpstreamHttpError) context.upstreamErrorStatus = failure.cause.status;
      logFailure(deps, context, failure);
      if (!res.headersSent) {
        baseHeaders(res, context.requestId);
        if (context.tenant !== undefined) res.setHeader('x-tenant-id', context.tenant.slug);
        const extra = context.extraHeaders;
        if (extra !== undefined) for (const name in extra) res.setHeader(name, extra[name] as string);
        // A refusal is metered too, before its answer goes out. Failing to record it does not
        // withhold the error: nothing was used.
        let pending: void | Promise<void> = undefined;
        try {
          pending = runCompletion(context, outcomeOf(context, failure.status, false, undefined));
        } catch (e) {
          deps.logger.error({ reqId: context.requestId, err: e }, 'request completion failed');
        }
        if (pending !== undefined) {
          pending.then(
            () => answerError(res, context, failure),
            (e: unknown) => {
              deps.logger.error({ reqId: context.requestId, err: e }, 'request completion failed');
              answerError(res, context, failure);
            },
          );
          return;
        }
      }
      answerError(res, context, failure);
    });
  };
  const shuttingDown = (): GatewayError =>
    new GatewayError('shutting_down', 'The gateway is shutting down and its grace period for requests in flight has ended.');
  return Object.assign(handle, {
    cutAll(): void {
      for (const c of [...live]) c.abort(shuttingDown());
    },
    settled: () => completions.idle(),
  });
}
