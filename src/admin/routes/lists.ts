/** Shared pieces of list and scoped routes. */
import { z } from 'zod';
import type { AdminCall } from '../route.js';
import { notFound } from '../problems.js';

export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ object: z.literal('list'), data: z.array(item), next_cursor: z.string().nullable() });
}

/** The tenant a /tenants/{tenant}/... route acts in (resolved and checked by the handler). */
export function tenantOf(call: AdminCall<unknown, unknown>): string {
  if (call.tenant === null) throw notFound('tenant');
  return call.tenant.id;
}
