/**
 * Opaque pagination cursors. The cursor names the list it belongs to, so a cursor from one list
 * cannot be replayed against another to probe its sort keys; it carries nothing the caller has
 * not already seen (the last sort value of their previous page).
 */
import { z } from 'zod';
import { GatewayError } from '../../errors.js';
import type { Page } from '../../store/index.js';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

/** Query parameters every list accepts. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT).describe(`Page size, 1 to ${MAX_LIMIT}.`),
  cursor: z.string().min(1).max(1024).optional().describe('The next_cursor of the previous page.'),
};

const CURSOR = z.strictObject({ l: z.string(), a: z.string().max(512) });

export function encodeCursor(list: string, after: string): string {
  return Buffer.from(JSON.stringify({ l: list, a: after }), 'utf8').toString('base64url');
}

export function decodeCursor(list: string, cursor: string | undefined, check?: (after: string) => boolean): string | null {
  if (cursor === undefined) return null;
  const bad = () => new GatewayError('invalid_request', 'The cursor is invalid; use next_cursor from the previous page.', { param: 'cursor' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  const result = CURSOR.safeParse(parsed);
  if (!result.success || result.data.l !== list || (check !== undefined && !check(result.data.a))) throw bad();
  return result.data.a;
}

export interface ListBody<T> {
  object: 'list';
  data: T[];
  next_cursor: string | null;
}

export function listBody<R, T>(list: string, page: Page<R>, present: (r: R) => T): ListBody<T> {
  return { object: 'list', data: page.items.map(present), next_cursor: page.next === null ? null : encodeCursor(list, page.next) };
}
