/**
 * What an Anthropic error answer means to the client, mapped like the OpenAI adapter's
 * (../upstream-errors.ts): 429 is thrown with the upstream's Retry-After, 529 overloaded is a
 * 503 (retryable, another deployment may serve), 401/403 judge the gateway's credential and are
 * a 502, 5xx are a 502, and other 4xx (400, 404, 413) reach the client in the OpenAI envelope.
 */
import { Readable } from 'node:stream';
import type { ErrorEnvelope } from '../../errors.js';
import type { UpstreamResponse, Usage } from '../types.js';
import type { IncomingHttpHeaders } from '../upstream-call.js';
import { header, overloaded, rateLimited, redact, serverError } from '../upstream-errors.js';

const NO_USAGE: Promise<Usage | undefined> = Promise.resolve(undefined);

export function rejectAnthropic(status: number, headers: IncomingHttpHeaders, text: string, secret: string): UpstreamResponse | Error {
  if (status === 429) return rateLimited(headers);
  if (status === 529) return overloaded(status, headers);
  if (status < 400 || status >= 500 || status === 401 || status === 403) return serverError(status, text, secret, headers);
  const body = Buffer.from(JSON.stringify(clientEnvelope(status, text, secret)));
  const out: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(body.length) };
  const id = header(headers, 'request-id');
  if (id !== undefined) out['x-upstream-request-id'] = id;
  return { status, headers: out, body: Readable.from([body], { objectMode: false }), usage: NO_USAGE };
}

function clientEnvelope(status: number, text: string, secret: string): ErrorEnvelope {
  let message = `The upstream provider answered HTTP ${status}.`;
  let kind: string | undefined;
  try {
    const parsed = JSON.parse(text) as { error?: { type?: unknown; message?: unknown } };
    if (typeof parsed.error?.message === 'string') message = parsed.error.message;
    if (typeof parsed.error?.type === 'string') kind = parsed.error.type;
  } catch {
    if (text.trim() !== '') message = text.trim();
  }
  const detail = kind === undefined ? '' : ` (${kind})`;
  return {
    error: {
      message: redact(message + detail, secret).slice(0, 1000),
      type: 'invalid_request_error',
      code: `upstream_http_${status}`,
      param: null,
    },
  };
}
