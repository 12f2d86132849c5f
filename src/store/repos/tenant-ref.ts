/**
 * Resolving a tenant reference as an operator types it (CLI): a UUID-shaped reference is an id,
 * anything else a slug. Slugs shaped like UUIDs are refused by the configuration schema, so the
 * two never collide (see src/tenancy/snapshot.ts).
 */
import type { PlatformTx } from '../types.js';
import { isUuid } from './convert.js';

export interface TenantRef {
  id: string;
  slug: string;
}

export async function findTenantByRef(tx: PlatformTx, ref: string): Promise<TenantRef | null> {
  const { rows } = isUuid(ref)
    ? await tx.query<TenantRef>('SELECT id, slug FROM tenants WHERE id = $1', [ref.toLowerCase()])
    : await tx.query<TenantRef>('SELECT id, slug FROM tenants WHERE slug = $1', [ref]);
  return rows[0] ?? null;
}
