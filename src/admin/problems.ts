/**
 * The admin API's recurring failures, worded once. A missing resource gets the same message
 * whether it never existed, belongs to another tenant, or its id is malformed: the answer must
 * not tell them apart (DESIGN §12).
 */
import { GatewayError } from '../errors.js';
import { checkIfMatch, type IfMatch } from './http/etag.js';

export function notFound(kind: string): GatewayError {
  return new GatewayError('not_found', `No such ${kind}.`);
}

export function conflict(message: string, param?: string): GatewayError {
  return new GatewayError('conflict', message, param === undefined ? {} : { param });
}

export function invalid(message: string, param?: string): GatewayError {
  return new GatewayError('invalid_request', message, param === undefined ? {} : { param });
}

/**
 * Loads a row locked for update and checks the caller's If-Match against its version before any
 * change: the lock makes check-then-write atomic, so of two writers holding the same ETag
 * exactly one succeeds and the other gets 412.
 */
export async function lockedForChange<T extends { version: number | string }>(
  load: () => Promise<T | null>,
  kind: string,
  ifMatch: IfMatch | null,
  required: boolean,
): Promise<T> {
  const row = await load();
  if (row === null) throw notFound(kind);
  checkIfMatch(ifMatch, row.version, { required });
  return row;
}
