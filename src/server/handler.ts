/**
 * The HTTP edge: turns a node:http request into a RequestContext, runs the right pipeline and
 * streams the upstream answer back chunk by chunk. Errors from any stage are rendered here, once.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { type GatewayError, errorEnvelope, toGatewayError } from '../errors.js';
import type { Pipeline } from '../pipeline/compose.js';
import type { RequestContext } from '../pipeline/context.js';
import { Cancellation } from '../providers/cancel.js';
import { baseHeaders, sendError, sendJson, withContextHeaders } from './respond.js';
import { matchRoute, type RouteMatch } from './router.js';

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
}

/** A client that goes away before its response is complete cancels the upstream work. */
function cancelOnClientGone(res: ServerResponse): Cancellation {
  const cancellation = new Cancellation();
  res.once('close', () => {
    if (!res.writableFinished) cancellation.abort(new Error('client disconnected'));
  });
  return cancellation;
}

function logFailure(deps: HandlerDeps, ctx: RequestContext | undefined, err: GatewayError): void {
  const fields = { reqId: ctx?.requestId, tenant: ctx?.tenant?.slug, code: err.code, status: err.status };
  if (err.status >= 500) deps.logger.error({ ...fields, err: err.cause ?? err }, err.message);
  else deps.logger.debug(fields, err.message);
}

/** Headers are out: an SSE stream gets a terminal error event, anything else is cut. */
function failMidStream(res: ServerResponse, err: GatewayError): void {
  const type = res.getHeader('content-type');
  if (typeof type === 'string' && type.startsWith('text/event-stream') && !res.writableEnded && !res.destroyed) {
    res.end(`data: ${JSON.stringify(errorEnvelope(err))}\n\n`);
  } else {
    res.destroy();
  }
}

/**
 * Pipes the upstream body to the client chunk by chunk (`pipe` keeps backpressure). Not
 * stream.pipeline: on Node 20 it allocates an AbortController and a DOMException per call, ~10%
 * of the gateway's CPU per request in the benchmark profile. Client-side closes are handled by
 * the cancellation (the upstream call listens to it); upstream failures end the response here.
 */
function streamUpstream(deps: HandlerDeps, ctx: RequestContext, res: ServerResponse): void {
  const upstream = ctx.upstream;
  if (upstream === undefined) throw new Error('no upstream response');
  res.writeHead(upstream.status, withContextHeaders(upstream.headers, ctx));
  const body = upstream.body;
  body.once('error', (err: Error) => {
    body.unpipe(res);
    if (ctx.signal.aborted) return;
    const failure = toGatewayError(err);
    logFailure(deps, ctx, failure);
    failMidStream(res, failure);
  });
  // A client that leaves mid-stream fires ctx.signal; the upstream call then destroys `body`.
  body.pipe(res);
  void upstream.usage.then((usage) => {
    if (usage !== undefined) ctx.usage = usage;
  });
}

async function serveApi(deps: HandlerDeps, ctx: RequestContext, res: ServerResponse, isModels: boolean): Promise<void> {
  if (isModels) {
    await deps.models(ctx);
    const body = deps.renderModels(ctx);
    sendJson(res, 200, body, withContextHeaders({}, ctx));
    return;
  }
  await deps.inference(ctx);
  streamUpstream(deps, ctx, res);
}

export function createHandler(deps: HandlerDeps) {
  return function handle(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = process.hrtime.bigint();
    const requestId = pickRequestId(req.headers['x-request-id']);
    baseHeaders(res, requestId);
    if (deps.isDraining()) res.setHeader('connection', 'close');

    let match: RouteMatch;
    try {
      match = matchRoute(req.method ?? 'GET', req.url ?? '/');
    } catch (err) {
      sendError(res, toGatewayError(err));
      return;
    }
    if (match.kind === 'health') {
      const ok = match.probe === 'healthz' || (deps.isReady() && !deps.isDraining());
      sendJson(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable' });
      return;
    }

    const cancellation = cancelOnClientGone(res);
    const ctx: RequestContext = {
      requestId,
      startedAt,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress ?? '',
      endpoint: match.endpoint,
      pathTenant: match.pathTenant,
      signal: cancellation,
      req,
    };
    const isModels = match.endpoint.op === 'models.list' || match.endpoint.op === 'models.get';
    void serveApi(deps, ctx, res, isModels).catch((err: unknown) => {
      if (cancellation.aborted) return; // the client is gone; nobody to answer
      const failure = toGatewayError(err);
      logFailure(deps, ctx, failure);
      if (ctx.tenant !== undefined && !res.headersSent) res.setHeader('x-tenant-id', ctx.tenant.slug);
      sendError(res, failure);
    });
  };
}

