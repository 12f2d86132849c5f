/**
 * Purging a deleted tenant (DESIGN §13 "Tenant purge"): after the grace period its data keys are
 * destroyed (src/crypto/shredding.ts), which makes its ciphertexts unreadable; this step then
 * deletes the rows it left behind, in every table that has a tenant_id (read from the catalogue,
 * so a table added later is never forgotten), except the records kept on purpose:
 *
 * - audit_entries, audit_checkpoints: the tamper-evident trail, including the deletion itself.
 *   It holds no secrets (redacted on write); removing it is a retention decision of the operator.
 * - invoices: the legal record of what was billed (tax law keeps invoices for years).
 * - tenants: the row invoices and the trail refer to (invoices cascade from it), scrubbed down
 *   to id, slug, name and time zone; the slug stays taken.
 * - tenant_keyrings: when deletion was requested, keys were shredded and rows purged.
 *
 * A tenant with usage its invoices do not cover yet (the month of its deletion, before
 * `gatehouse billing close-period` has issued it) waits, unless `purgeUnbilled`: its rollups are
 * that invoice's only basis. Each tenant is one owner transaction that also appends the
 * `tenant.purge` entry to the platform scope's chain, so a purge never happens unrecorded.
 */
import { appendAudit, type AuditActor } from '../audit/index.js';
import { PLATFORM_SCOPE_ID } from '../identity/roles.js';
import { tenantPurgeRepo } from '../store/index.js';
import type { Store } from '../store/index.js';

/** Tables whose rows of a purged tenant stay, each with why; every other tenant table is emptied. */
export const KEPT_ON_PURGE: ReadonlyMap<string, string> = new Map([
  ['audit_entries', 'the audit trail is the record of what happened, the deletion included'],
  ['audit_checkpoints', "the kept chain's head"],
  ['invoices', 'the legal record of what was billed'],
  ['tenants', 'scrubbed to id, slug, name and time zone: invoices and the audit trail refer to it'],
  ['tenant_keyrings', 'when deletion was requested, keys were shredded and rows purged'],
]);

export interface PurgedTenant {
  tenantId: string;
  /** Rows deleted per table (tables with none included). */
  deleted: Record<string, number>;
}

export interface PurgeResult {
  purged: PurgedTenant[];
  /** Tenants left for a later run: their final invoice is not issued yet. */
  deferred: Array<{ tenantId: string; reason: 'unbilled_usage' }>;
}

export interface PurgeOptions {
  /** Purge tenants with usage no invoice covers (the operator does not bill, or billed elsewhere). */
  purgeUnbilled?: boolean;
  /** Who runs it, for the audit entry. */
  actor?: AuditActor;
  now?: Date;
}

const JOB: AuditActor = { kind: 'system', id: 'tenant-purge' };

/** Purges every tenant whose keys are shredded and whose rows are not purged yet. */
export async function purgeDueTenants(store: Pick<Store, 'admin' | 'platform'>, opts: PurgeOptions = {}): Promise<PurgeResult> {
  const due = await store.platform((tx) => tenantPurgeRepo.listDue(tx));
  const result: PurgeResult = { purged: [], deferred: [] };
  for (const tenantId of due) {
    const outcome = await store.admin(async (tx): Promise<PurgedTenant | 'unbilled' | null> => {
      await tenantPurgeRepo.enterTenant(tx, tenantId);
      if (!(await tenantPurgeRepo.lockDue(tx, tenantId))) return null; // purged by another replica meanwhile
      if (opts.purgeUnbilled !== true && (await tenantPurgeRepo.hasUnbilledUsage(tx, tenantId))) return 'unbilled';
      // Scrub first: triggers on tenants (plan history) write rows the deletions below then take.
      await tenantPurgeRepo.scrubTenant(tx, tenantId);
      const deleted: Record<string, number> = {};
      for (const table of await tenantPurgeRepo.tenantTables(tx)) {
        if (KEPT_ON_PURGE.has(table)) continue;
        deleted[table] = await tenantPurgeRepo.deleteRows(tx, table, tenantId);
      }
      await tenantPurgeRepo.markPurged(tx, tenantId, opts.now ?? new Date());
      const platform = await tenantPurgeRepo.asTenant(tx, PLATFORM_SCOPE_ID);
      await appendAudit(platform, {
        actor: opts.actor ?? JOB,
        action: 'tenant.purge',
        target: { kind: 'tenant', id: tenantId },
        outcome: 'success',
        after: { deleted, kept: [...KEPT_ON_PURGE.keys()], purge_unbilled: opts.purgeUnbilled === true },
      });
      return { tenantId, deleted };
    });
    if (outcome === 'unbilled') result.deferred.push({ tenantId, reason: 'unbilled_usage' });
    else if (outcome !== null) result.purged.push(outcome);
  }
  return result;
}
