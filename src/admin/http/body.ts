/**
 * Reading an admin request body: JSON only, bounded, parsed once. Bodies are read after
 * authentication, so an anonymous caller cannot make the gateway buffer anything.
 */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../../errors.js';
import { parseJsonObject } from '../../pipeline/body.js';

/** Admin documents are small; a policy is the largest (its JSON is capped at 64 KiB in the store). */
export const MAX_ADMIN_BODY_BYTES = 128 * 1024;

function tooLarge(maxBytes: number): GatewayError {
  // Connection: close, since the rest of an oversized body is not read.
  return new GatewayError('payload_too_large', `The request body exceeds the limit of ${maxBytes} bytes.`, {
    headers: { connection: 'close' },
  });
}

function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

function readRaw(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) return Promise.reject(tooLarge(maxBytes));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
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
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new GatewayError('invalid_request', 'The request body could not be read.', { cause: err }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * The parsed JSON object of a request that takes a body; `undefined` for an empty body on a
 * route whose body is optional. Anything but a JSON object is refused.
 */
export async function readJsonBody(
  req: IncomingMessage,
  opts: { optional: boolean; maxBytes?: number },
): Promise<Record<string, unknown> | undefined> {
  const raw = await readRaw(req, opts.maxBytes ?? MAX_ADMIN_BODY_BYTES);
  if (raw.length === 0 && opts.optional) return undefined;
  if (!isJson(req.headers['content-type'])) {
    throw new GatewayError('unsupported_media_type', 'The request body must be JSON (Content-Type: application/json).');
  }
  return parseJsonObject(raw);
}

/** Drains the body of a request that must not have one, refusing a non-empty one. */
export async function refuseBody(req: IncomingMessage): Promise<void> {
  const raw = await readRaw(req, 1024);
  if (raw.length > 0) throw new GatewayError('invalid_request', 'This operation takes no request body.');
}
