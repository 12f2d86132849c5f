/**
 * Stage 3: read and validate the JSON body of a model-calling request. Runs after authentication
 * so unauthenticated callers cannot make the gateway buffer or parse anything. The body is
 * checked only as far as the gateway needs it (object, model, stream); every other field passes
 * through to the provider untouched.
 */
import { GatewayError } from '../errors.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fromAnthropicRequest } from '../providers/anthropic/inbound/request.js';
import { dialectOf, type RequestContext, type Stage } from './context.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** application/json, or any application/*+json type, with or without parameters. */
export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const semi = value.indexOf(';');
  const type = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

/**
 * Bodies are read as they come, never decoded: a gzip (or other coded) body is bytes no JSON
 * parser reads, and one mislabelled as coded is not what it says. 415 names the coding and, as
 * RFC 9110 §12.5.3 asks, Accept-Encoding says what is accepted. Shared with the admin API.
 */
export function checkContentEncoding(value: string | undefined): void {
  if (value === undefined) return;
  const codings = value
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return;
  throw new GatewayError('unsupported_media_type', `Content-Encoding ${codings.join(', ')} is not supported; send the request body uncompressed.`, {
    headers: { 'accept-encoding': 'identity' },
  });
}

function tooLarge(maxBytes: number): GatewayError {
  return new GatewayError('payload_too_large', `The request body exceeds the limit of ${maxBytes} bytes.`, {
    headers: { connection: 'close' },
  });
}

/**
 * Requests whose client waits for `100 Continue` before it sends the body (`Expect:
 * 100-continue`). node:http would send that interim answer as soon as the headers arrived, before
 * the gateway had authenticated the request or checked its declared size, so an anonymous or
 * oversized upload was sent anyway, only to be refused. The server (server/http.ts,
 * 'checkContinue') leaves the answer to readBody instead, which sends it when it is about to read
 * the body: a request refused before that gets its final answer without one, and its client need
 * not send the body. Requests without the header never touch this map.
 */
const awaitingContinue = new WeakMap<IncomingMessage, ServerResponse>();

/** Holds back `100 Continue` for `req` until its body is read (server/http.ts). */
export function deferContinue(req: IncomingMessage, res: ServerResponse): void {
  awaitingContinue.set(req, res);
}

function sendContinue(req: IncomingMessage): void {
  const res = awaitingContinue.get(req);
  if (res === undefined) return; // HTTP/1.0 or an Expect node:http does not recognise: nothing awaits it
  awaitingContinue.delete(req);
  if (!res.headersSent && !res.destroyed) res.writeContinue();
}

/**
 * Reads a request body up to `maxBytes` (413 past it, declared or streamed). Shared with the admin
 * API. A client that waits for `100 Continue` gets it here, once the declared size is accepted.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(tooLarge(maxBytes));
  if (req.headers.expect !== undefined) sendContinue(req);
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        req.pause();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new GatewayError('invalid_request', 'The request body could not be read.', { cause: err }));
    };
    const onAborted = () => onError(new Error('client aborted'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

export function parseJsonObject(raw: Buffer): Record<string, unknown> {
  if (raw.length === 0) throw new GatewayError('invalid_json', 'The request body is empty; expected a JSON object.');
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new GatewayError('invalid_utf8', 'The request body is not valid UTF-8.');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof SyntaxError ? `: ${withoutExcerpt(err.message)}` : '';
    throw new GatewayError('invalid_json', `The request body is not valid JSON${detail}.`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new GatewayError('invalid_json', 'The request body must be a JSON object.');
  }
  if (nestedDeeper(value, MAX_DEPTH)) {
    throw new GatewayError('invalid_json', `The request body is nested more than ${MAX_DEPTH} levels deep.`);
  }
  return value as Record<string, unknown>;
}

/**
 * V8 quotes the body around an unexpected token (`Unexpected token 'M', ..."content": My passwo"...
 * is not valid JSON`, or all of a short body): prompt text, or on the admin API a secret, and
 * error messages are logged. What went wrong stays; the excerpt goes.
 */
function withoutExcerpt(message: string): string {
  return message.replace(/, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, '');
}

/**
 * JSON.parse takes any depth, but what reads the body later recurses (re-serialising it for the
 * upstream, counting tokens, the cache key, request-log content): ~5,000 levels, a 10 KB body,
 * overflowed the stack there and answered 500. No API's schema nests anywhere near this (OpenAI's
 * structured outputs allow 10 levels); the walk costs ~0.1 µs for a small chat body.
 */
const MAX_DEPTH = 128;

function nestedDeeper(v: object, left: number): boolean {
  if (left === 0) return true;
  if (Array.isArray(v)) {
    for (const x of v as unknown[]) if (typeof x === 'object' && x !== null && nestedDeeper(x, left - 1)) return true;
    return false;
  }
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (typeof x === 'object' && x !== null && nestedDeeper(x, left - 1)) return true;
  }
  return false;
}

export function parseBody(opts: { maxBytes: number }): Stage {
  return async function parseBodyStage(ctx: RequestContext): Promise<void> {
    if (!isJsonContentType(ctx.headers['content-type'])) {
      throw new GatewayError('unsupported_media_type', 'Content-Type must be application/json.');
    }
    checkContentEncoding(ctx.headers['content-encoding']);
    const endpoint = ctx.endpoint;
    const parsed = parseJsonObject(await readBody(ctx.req, opts.maxBytes));
    // Another API's request becomes the canonical body here, so every later stage is the same.
    const body = dialectOf(endpoint) === 'anthropic' ? fromAnthropicRequest(parsed) : parsed;
    const pathModel = 'modelFromPath' in endpoint ? endpoint.modelFromPath : undefined;
    const model = pathModel ?? body.model;
    if (model === undefined) throw new GatewayError('missing_model', 'You must provide a model parameter.', { param: 'model' });
    if (typeof model !== 'string' || model.length === 0 || model.length > 256) {
      throw new GatewayError('invalid_request', 'model must be a non-empty string.', { param: 'model' });
    }
    if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
      throw new GatewayError('invalid_request', 'stream must be a boolean.', { param: 'stream' });
    }
    ctx.body = body;
    ctx.model = model;
  };
}
