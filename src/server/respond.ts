/**
 * Writing responses: the security and identity headers every response carries, JSON bodies and
 * the one error envelope. Nothing else in the server writes status lines.
 */
import type { ServerResponse } from 'node:http';
import { errorEnvelope, type GatewayError } from '../errors.js';
import type { RequestContext } from '../pipeline/context.js';

/** Headers on every response, error or not. */
export function baseHeaders(res: ServerResponse, requestId: string): void {
  res.setHeader('x-request-id', requestId);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('x-frame-options', 'DENY');
}

export function processingMs(startedAt: bigint): string {
  return (Number(process.hrtime.bigint() - startedAt) / 1e6).toFixed(3);
}

/** Tenant and model headers, once the pipeline has decided them. */
export function contextHeaders(res: ServerResponse, ctx: RequestContext): void {
  if (ctx.tenant !== undefined) res.setHeader('x-tenant-id', ctx.tenant.slug);
  const d = ctx.deployment;
  if (d !== undefined) {
    res.setHeader('x-gatehouse-model', d.model);
    res.setHeader('x-gatehouse-model-version', d.version);
    res.setHeader('x-gatehouse-region', d.region);
  }
  res.setHeader('x-gatehouse-processing-ms', processingMs(ctx.startedAt));
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
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
