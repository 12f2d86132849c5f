/**
 * Writing responses: the security and identity headers every response carries, JSON bodies and
 * the one error envelope. Nothing else in the server writes status lines.
 */
import type { ServerResponse } from 'node:http';
import { errorEnvelope, type GatewayError } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';

/** Headers on every response, error or not, set on `res` (answers that do not go through responseHeaders). */
export function baseHeaders(res: ServerResponse, requestId: string): void {
  res.setHeader('x-request-id', requestId);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('x-frame-options', 'DENY');
}

export function processingMs(startedAt: bigint): string {
  return (Number(process.hrtime.bigint() - startedAt) / 1e6).toFixed(3);
}

/**
 * Every header of a model call's answer in one object for one writeHead(): the base headers, then
 * `from` (the upstream's), then the tenant and model headers the pipeline decided. Nothing is set
 * on the response before, so node:http takes its one-pass path instead of a setHeader (name and
 * value checks, a lower-cased copy, an entry) per header: ~5 KB of garbage per answer less.
 */
export function responseHeaders(ctx: RequestContext, from?: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = { 'x-request-id': ctx.requestId, 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY' };
  if (from !== undefined) for (const name in from) headers[name] = from[name] as string;
  return withContextHeaders(headers, ctx);
}

/** Adds the tenant and model headers, once the pipeline has decided them, to `headers`. */
function withContextHeaders(headers: Record<string, string>, ctx: RequestContext): Record<string, string> {
  if (ctx.tenant !== undefined) headers['x-tenant-id'] = ctx.tenant.slug;
  const d = ctx.deployment;
  if (d !== undefined) {
    headers['x-gatehouse-model'] = d.model;
    headers['x-gatehouse-model-version'] = d.version;
    headers['x-gatehouse-region'] = d.region;
  }
  headers['x-gatehouse-processing-ms'] = processingMs(ctx.startedAt);
  const extra = ctx.extraHeaders;
  if (extra !== undefined) for (const name in extra) headers[name] = extra[name] as string;
  return headers;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(Buffer.byteLength(payload));
  res.writeHead(status, headers);
  res.end(payload);
}

export function sendError(res: ServerResponse, err: GatewayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
  sendJson(res, err.status, errorEnvelope(err));
}
