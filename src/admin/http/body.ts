/**
 * Reading an admin request body: JSON only, bounded, parsed once. Bodies are read after
 * authentication, so an anonymous caller cannot make the gateway buffer anything.
 */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../../errors.js';
import { checkContentEncoding, isJsonContentType, parseJsonObject, readBody } from '../../pipeline/body.js';

/** Admin documents are small; a policy is the largest (its JSON is capped at 64 KiB in the store). */
export const MAX_ADMIN_BODY_BYTES = 128 * 1024;

/**
 * The parsed JSON object of a request that takes a body; `undefined` for an empty body on a
 * route whose body is optional. Anything but a JSON object is refused.
 */
export async function readJsonBody(
  req: IncomingMessage,
  opts: { optional: boolean; maxBytes?: number },
): Promise<Record<string, unknown> | undefined> {
  checkContentEncoding(req.headers['content-encoding']);
  const raw = await readBody(req, opts.maxBytes ?? MAX_ADMIN_BODY_BYTES);
  if (raw.length === 0 && opts.optional) return undefined;
  if (!isJsonContentType(req.headers['content-type'])) {
    throw new GatewayError('unsupported_media_type', 'The request body must be JSON (Content-Type: application/json).');
  }
  return parseJsonObject(raw);
}

/** Drains the body of a request that must not have one, refusing a non-empty one. */
export async function refuseBody(req: IncomingMessage): Promise<void> {
  const raw = await readBody(req, 1024);
  if (raw.length > 0) throw new GatewayError('invalid_request', 'This operation takes no request body.');
}
