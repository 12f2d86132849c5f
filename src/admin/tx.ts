/**
 * Transactions of the admin API: reads, writes (followed by the data-plane notification), and
 * idempotent creations (the Idempotency-Key record is claimed and completed in the creation's
 * own transaction: see src/store/repos/idempotency.ts).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { idempotencyRepo, type TenantTx } from '../store/index.js';
import { notifyChange, type AdminEnv } from './context.js';
import type { AdminResult, IdempotencyRequest } from './route.js';

/** How long a replay is possible (Stripe keeps 24 h; clients retry within minutes). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

export function read<T>(env: AdminEnv, tenantId: string, fn: (tx: TenantTx) => Promise<T>): Promise<T> {
  return env.store.withTenant(tenantId, fn);
}

export async function write<T>(env: AdminEnv, tenantId: string, fn: (tx: TenantTx) => Promise<T>): Promise<T> {
  const result = await env.store.withTenant(tenantId, fn);
  await notifyChange(env, tenantId);
  return result;
}

/** Key order does not change a JSON object's meaning, so it must not change its hash. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * What an Idempotency-Key record remembers of its request. Keyed by the server pepper: bodies
 * carry secrets (provider credentials, webhook secrets), and a plain digest stored beside them
 * would let anyone who reads the table test guesses of a low-entropy secret offline.
 */
export function requestHash(pepper: Buffer, method: string, path: string, body: unknown): Buffer {
  return createHmac('sha256', pepper).update(`idempotency\0${method}\n${path}\n${canonical(body ?? null)}`).digest();
}

/**
 * The id of a tenant created with an Idempotency-Key: derived from the principal and the key
 * under the server pepper, so a retry lands on the same tenant id and finds its idempotency
 * record in that tenant's scope, in the same transaction as the tenant row. Unpredictable to
 * anyone without the pepper, and a valid random-looking v4 UUID.
 */
export function idempotentTenantId(pepper: Buffer, principalId: string, key: string): string {
  const b = createHmac('sha256', pepper).update(`tenant-create\0${principalId}\0${key}`).digest().subarray(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export interface Creation {
  result: AdminResult;
  /** What a replay returns: the response without its one-time secret. Defaults to result.body. */
  replayBody?: unknown;
}

/**
 * Runs a creation in `scopeId`'s transaction, at most once per (principal, Idempotency-Key).
 * A replay returns the stored status, body and headers; the same key with a different request
 * is a 409. Replays never return secrets: they were stripped before the record was written.
 */
export async function createOnce(
  env: AdminEnv,
  scopeId: string,
  principalId: string,
  idempotency: IdempotencyRequest | null,
  fn: (tx: TenantTx) => Promise<Creation>,
): Promise<AdminResult> {
  const result = await env.store.withTenant(scopeId, async (tx): Promise<AdminResult> => {
    if (idempotency !== null) {
      const claim = await idempotencyRepo.claim(tx, {
        principal: principalId,
        key: idempotency.key,
        requestHash: idempotency.requestHash,
        ttlSeconds: IDEMPOTENCY_TTL_SECONDS,
      });
      if (!claim.claimed) {
        const stored = claim.existing;
        if (!timingSafeEqual(stored.requestHash, idempotency.requestHash)) {
          throw new GatewayError(
            'idempotency_key_reused',
            'This Idempotency-Key was already used for a different request; use a new key for a new request.',
            { param: 'Idempotency-Key' },
          );
        }
        return {
          status: stored.status,
          body: stored.response,
          etag: stored.headers.etag,
          location: stored.headers.location,
          replayed: true,
        };
      }
    }
    const created = await fn(tx);
    if (idempotency !== null) {
      const headers: Record<string, string> = {};
      if (created.result.etag !== undefined) headers.etag = created.result.etag;
      if (created.result.location !== undefined) headers.location = created.result.location;
      await idempotencyRepo.complete(tx, {
        principal: principalId,
        key: idempotency.key,
        status: created.result.status,
        response: created.replayBody ?? created.result.body ?? null,
        headers,
      });
    }
    return created.result;
  });
  if (result.replayed !== true) await notifyChange(env, scopeId);
  return result;
}
