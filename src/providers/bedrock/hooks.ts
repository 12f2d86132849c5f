/**
 * How Bedrock answers, for ../upstream-call.ts: success bodies are handed to this adapter's own
 * translators (so no usage scanner), and errors (`{"message"}` + x-amzn-errortype) map onto the
 * same GatewayErrors as the OpenAI adapter's: 429 and 5xx thrown (routing may retry or fall
 * back), 403 (our AWS credential) a 502, other 4xx passed to the client in the OpenAI envelope.
 */
import { Readable } from 'node:stream';
import { GatewayError } from '../../errors.js';
import type { UpstreamResponse, Usage } from '../types.js';
import type { CallHooks, IncomingHttpHeaders } from '../upstream-call.js';
import { clientErrorBody, header, rateLimited, serverError, transportError, UpstreamHttpError } from '../upstream-errors.js';
import { ERROR_STATUS } from './wire.js';

const NO_USAGE: Promise<Usage | undefined> = Promise.resolve(undefined);

export function bedrockHooks(secret: string): CallHooks {
  return {
    accept: (_status, headers) => ({ headers: passHeaders(headers), scanner: undefined }),
    reject: (status, headers, text) => reject(status, headers, text, secret),
    transportError,
  };
}

export function passHeaders(upstream: IncomingHttpHeaders): Record<string, string> {
  const headers: Record<string, string> = {};
  const id = header(upstream, 'x-amzn-requestid');
  if (id !== undefined) headers['x-upstream-request-id'] = id;
  return headers;
}

/** `ThrottlingException:http://internal.amazon.com/coral/...` → `ThrottlingException`. */
export function errorType(upstream: IncomingHttpHeaders): string | undefined {
  const raw = header(upstream, 'x-amzn-errortype');
  if (raw === undefined) return undefined;
  const name = raw.split(':')[0]?.trim();
  return name === undefined || name === '' ? undefined : name;
}

function reject(status: number, upstream: IncomingHttpHeaders, text: string, secret: string): UpstreamResponse | Error {
  const type = errorType(upstream);
  // The type is the more precise signal (quota errors come as 400 with a throttling meaning).
  const effective = type !== undefined && ERROR_STATUS[type] !== undefined && status < 500 ? (ERROR_STATUS[type] as number) : status;
  if (effective === 429) return rateLimited(upstream);
  if (effective === 408 || type === 'ModelTimeoutException') {
    return new GatewayError('upstream_timeout', 'The upstream model did not answer in time (Bedrock ModelTimeoutException).', {
      cause: new UpstreamHttpError(status),
    });
  }
  if (effective < 400 || effective >= 500 || effective === 401 || effective === 403 || effective === 424) {
    return serverError(status, text, secret, upstream);
  }
  const body = clientErrorBody(status, text, secret);
  const headers = passHeaders(upstream);
  headers['content-type'] = 'application/json';
  headers['content-length'] = String(body.length);
  return { status, headers, body: Readable.from([body], { objectMode: false }), usage: NO_USAGE };
}
