/**
 * Where the admin API meets the audit log (src/audit): every change appends its entry in the
 * transaction that makes the change (DESIGN §11.11), and reads of the log go through the audit
 * module, which records each read in the same transaction (DESIGN §12).
 *
 * Platform-scope changes (platform admin keys) append to the platform scope's own chain,
 * PLATFORM_SCOPE_ID: audit rows are tenant-keyed but have no foreign key to tenants.
 */
import { appendAudit, checkAuditFilter, entryToJson, queryAudit, streamAuditJsonl, type AuditActor, type AuditQueue, type AuditReader } from '../audit/index.js';
import type { AdminAuthFailure } from '../identity/admin-auth.js';
import type { AdminPrincipal } from '../identity/admin-principal.js';
import { PLATFORM_SCOPE_ID } from '../identity/roles.js';
import type { Store, TenantTx } from '../store/index.js';
import type { Actor } from './context.js';

export function auditActor(p: AdminPrincipal): AuditActor {
  if (p.kind === 'cli') return { kind: 'system', id: p.id };
  if (p.kind === 'jwt') return { kind: 'jwt', id: p.id };
  if (p.kind === 'bootstrap' || p.role === 'platform_admin') return { kind: 'platform_admin', id: p.id };
  return { kind: 'api_key', id: p.id };
}

function reader(actor: Actor): AuditReader {
  return { actor: auditActor(actor.principal), sourceIp: actor.sourceIp, requestId: actor.requestId };
}

/** Appends `action` on `target` by `actor` with a before/after that the audit log redacts. */
export async function audit(
  tx: TenantTx,
  actor: Actor,
  action: string,
  target: { kind: string; id: string | null },
  change: { before?: unknown; after?: unknown } = {},
): Promise<void> {
  await appendAudit(tx, {
    actor: auditActor(actor.principal),
    action,
    target,
    outcome: 'success',
    sourceIp: actor.sourceIp,
    requestId: actor.requestId,
    ...change,
  });
}

/** A refused admin login: the authenticator's finding, or the login limiter's refusal. */
export type AdminLoginRefusal = AdminAuthFailure | { reason: 'rate_limited'; scopeId: null; keyId: null; prefix: string | null };

/**
 * Queues the audit entry of a refused admin login (off the response path, throttled per key or
 * address and reason): in the scope of the key it claimed to be, else in the platform scope.
 */
export function auditAdminLoginFailure(
  queue: Pick<AuditQueue, 'enqueue'>,
  refusal: AdminLoginRefusal,
  sourceIp: string | null,
  requestId: string,
): void {
  const { keyId } = refusal;
  const jwt = refusal.reason.startsWith('jwt_') || (keyId === null && refusal.reason === 'tenant_deleting');
  // A key's scope counts once the key was found; a token's once its signature held (admin-jwt.ts).
  const scopeId = keyId === null && !jwt ? PLATFORM_SCOPE_ID : (refusal.scopeId ?? PLATFORM_SCOPE_ID);
  queue.enqueue(
    scopeId,
    {
      actor: keyId === null ? { kind: 'anonymous', id: null } : { kind: 'api_key', id: `admin_key:${keyId}` },
      action: jwt ? 'admin_jwt.auth_failed' : 'admin_key.auth_failed',
      target: keyId === null ? null : { kind: 'admin_key', id: keyId },
      outcome: refusal.reason === 'rate_limited' ? 'denied' : 'failure',
      sourceIp: sourceIp === '' ? null : sourceIp,
      requestId,
      after: { reason: refusal.reason, ...(refusal.prefix === null ? {} : { key_prefix: refusal.prefix }) },
    },
    `admin\0${keyId ?? `ip:${sourceIp ?? ''}`}\0${refusal.reason}`,
  );
}

/** A validated audit-log query from the admin API (the audit module's AuditFilter). */
export interface AdminAuditQuery {
  from: Date | null;
  to: Date | null;
  action: string | null;
  actor: { kind?: string; id?: string } | null;
  limit: number | null;
  cursor: string | null;
  order: 'asc' | 'desc';
}

export type AdminAuditPage = { ok: true; entries: unknown[]; nextCursor: string | null } | { ok: false; message: string };

/** One page of the transaction's tenant log; the read itself is audited in the same transaction. */
export async function readAuditPage(tx: TenantTx, query: AdminAuditQuery, actor: Actor): Promise<AdminAuditPage> {
  const page = await queryAudit(tx, query, reader(actor));
  if (!page.ok) return { ok: false, message: page.message };
  return { ok: true, entries: page.entries.map(entryToJson), nextCursor: page.nextCursor };
}

/**
 * The JSON-lines export of a tenant's log, streamed page by page (src/audit/query.ts): the
 * filter is checked before anything is read, so a bad one is still a 400.
 */
export function exportAuditStream(
  store: Pick<Store, 'withTenant'>,
  tenantId: string,
  query: AdminAuditQuery,
  actor: Actor,
): { ok: true; chunks: AsyncIterable<string> } | { ok: false; message: string } {
  const checked = checkAuditFilter({ ...query, order: 'asc' }, null);
  if (!checked.ok) return { ok: false, message: checked.message };
  return { ok: true, chunks: streamAuditJsonl(store, tenantId, { ...query, order: 'asc' }, reader(actor)) };
}
