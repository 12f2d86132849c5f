/** Fixtures for the audit contract suites. */
import { randomBytes } from 'node:crypto';
import { appendAudit } from '../../../src/audit/index.js';
import type { AuditEntry, AuditEvent, AuditReader } from '../../../src/audit/index.js';
import { upsertTenantBySlug } from '../../../src/store/index.js';
import type { AdminTx, Store } from '../../../src/store/index.js';

export const uniq = (): string => randomBytes(4).toString('hex');

/** A fresh tenant per test: each tampering test breaks its own chain. */
export async function newTenant(store: Store, label = 't'): Promise<string> {
  const { tenant } = await upsertTenantBySlug(store, { slug: `${label}-${uniq()}`, name: `Audit ${label}` });
  return tenant.id;
}

export function event(i: number, overrides: Partial<AuditEvent> = {}): AuditEvent {
  return {
    actor: { kind: 'user', id: `user-${i % 3}` },
    action: i % 2 === 0 ? 'test.create' : 'test.update',
    target: { kind: 'team', id: `team-${i}` },
    outcome: 'success',
    sourceIp: i % 4 === 0 ? '2001:DB8::1' : `192.0.2.${i % 250}`,
    requestId: `req-${i}`,
    before: i === 0 ? null : { name: `v${i - 1}`, n: i - 1 },
    after: { name: `v${i}`, n: i, nested: { list: [i, 'x', true, null], 'b-key-id': 'kid' } },
    ...overrides,
  };
}

/** n entries, one transaction each (as the admin API would write them). */
export async function appendMany(store: Store, tenantId: string, n: number, from = 0): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for (let i = from; i < from + n; i++) out.push(await store.withTenant(tenantId, (tx) => appendAudit(tx, event(i))));
  return out;
}

export const READER: AuditReader = { actor: { kind: 'user', id: 'auditor-1' }, sourceIp: '198.51.100.7', requestId: 'req-read' };

/**
 * Owner access to the tenant's rows: what someone with the migration credentials (or a
 * superuser) could do behind the gateway's back. The tenant is set too, so this works whether
 * or not the connecting user bypasses row-level security.
 */
export function asOwner<T>(store: Store, tenantId: string, fn: (tx: AdminTx) => Promise<T>): Promise<T> {
  return store.admin(async (tx) => {
    await tx.query("SELECT set_config('app.tenant_id', $1, true)", [tenantId]);
    return fn(tx);
  });
}

/** Runs `sql` as gatehouse_app with the tenant set, outside the statement guard (TRUNCATE). */
export function asApp<T>(store: Store, tenantId: string, fn: (tx: AdminTx) => Promise<T>): Promise<T> {
  return store.admin(async (tx) => {
    await tx.query("SELECT set_config('role', 'gatehouse_app', true), set_config('app.tenant_id', $1, true)", [tenantId]);
    return fn(tx);
  });
}
