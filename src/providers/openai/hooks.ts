/**
 * How the OpenAI wire format answers: which headers reach the client, where usage is, and what
 * each non-2xx status means (see ../upstream-errors.ts). Built once per deployment, since redaction needs
 * its credential; nothing here runs per chunk.
 */
import { Readable } from 'node:stream';
import type { CallHooks, IncomingHttpHeaders } from '../upstream-call.js';
import type { UpstreamResponse, Usage } from '../types.js';
import { JsonUsageScanner, SseUsageScanner, type UsageScanner } from '../usage.js';
import { clientErrorBody, header, rateLimited, serverError, transportError } from '../upstream-errors.js';

const NO_USAGE: Promise<Usage | undefined> = Promise.resolve(undefined);

export function openAIHooks(secret: string): CallHooks {
  return {
    accept: (_status, headers) => accept(headers),
    reject: (status, headers, text) => reject(status, headers, text, secret),
    transportError,
  };
}

function accept(upstream: IncomingHttpHeaders): { headers: Record<string, string>; scanner: UsageScanner | undefined } {
  const contentType = header(upstream, 'content-type') ?? 'application/json';
  const headers = passHeaders(upstream, contentType);
  if (contentType.startsWith('text/event-stream')) return { headers, scanner: new SseUsageScanner() };
  // Non-stream bodies pass unchanged, so their length holds and the client avoids chunking.
  const length = header(upstream, 'content-length');
  if (length !== undefined) headers['content-length'] = length;
  return { headers, scanner: contentType.includes('json') ? new JsonUsageScanner() : undefined };
}

/** The headers worth passing back; never set-cookie, hop-by-hop, or the upstream's own limits. */
function passHeaders(upstream: IncomingHttpHeaders, contentType: string): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': contentType };
  const id = header(upstream, 'x-request-id') ?? header(upstream, 'apim-request-id');
  if (id !== undefined) headers['x-upstream-request-id'] = id;
  const ms = header(upstream, 'openai-processing-ms');
  if (ms !== undefined) headers['openai-processing-ms'] = ms;
  return headers;
}

/**
 * 429 and 5xx (and redirects, never followed) are thrown; other 4xx reach the client in the
 * envelope. Upstream 401/403 judge the gateway's provider credential, not the client's key: passed
 * through, they would make the client's SDK report its own key as bad, so they are a 502.
 */
function reject(status: number, upstream: IncomingHttpHeaders, text: string, secret: string): UpstreamResponse | Error {
  if (status === 429) return rateLimited(upstream);
  if (status < 400 || status >= 500 || status === 401 || status === 403) return serverError(status, text, secret, upstream);
  const body = clientErrorBody(status, text, secret);
  const headers = passHeaders(upstream, 'application/json');
  headers['content-length'] = String(body.length);
  return { status, headers, body: Readable.from([body], { objectMode: false }), usage: NO_USAGE };
}
