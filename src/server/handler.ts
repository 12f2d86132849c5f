/**
 * The HTTP edge: turns a node:http request into a RequestContext, runs the right pipeline and
 * streams the upstream answer back chunk by chunk. Errors from any stage are rendered here, once.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline as pipeStreams } from 'node:stream';
import type { Logger } from 'pino';
import { type GatewayError, errorEnvelope, toGatewayError } from '../errors.js';
import type { Pipeline } from '../pipeline/compose.js';
import type { RequestContext } from '../pipeline/context.js';
import { baseHeaders, contextHeaders, sendError, sendJson } from './respond.js';
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

function abortOnClientGone(req: IncomingMessage, res: ServerResponse): AbortController {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(new Error('client disconnected'));
  });
  return controller;
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

function streamUpstream(deps: HandlerDeps, ctx: RequestContext, res: ServerResponse): void {
  const upstream = ctx.upstream;
  if (upstream === undefined) throw new Error('no upstream response');
  contextHeaders(res, ctx);
  res.writeHead(upstream.status, upstream.headers);
  pipeStreams(upstream.body, res, (err) => {
    if (err === undefined || err === null || ctx.signal.aborted) return;
    const failure = toGatewayError(err);
    logFailure(deps, ctx, failure);
    failMidStream(res, failure);
  });
  void upstream.usage.then((usage) => {
    if (usage !== undefined) ctx.usage = usage;
  });
}

async function serveApi(deps: HandlerDeps, ctx: RequestContext, res: ServerResponse, isModels: boolean): Promise<void> {
  if (isModels) {
    await deps.models(ctx);
    const body = deps.renderModels(ctx);
    contextHeaders(res, ctx);
    sendJson(res, 200, body);
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

    const controller = abortOnClientGone(req, res);
    const ctx: RequestContext = {
      requestId,
      startedAt,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress ?? '',
      endpoint: match.endpoint,
      pathTenant: match.pathTenant,
      signal: controller.signal,
      req,
    };
    const isModels = match.endpoint.op === 'models.list' || match.endpoint.op === 'models.get';
    void serveApi(deps, ctx, res, isModels).catch((err: unknown) => {
      if (controller.signal.aborted) return; // the client is gone; nobody to answer
      const failure = toGatewayError(err);
      logFailure(deps, ctx, failure);
      if (ctx.tenant !== undefined && !res.headersSent) res.setHeader('x-tenant-id', ctx.tenant.slug);
      sendError(res, failure);
    });
  };
}

