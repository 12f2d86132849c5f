/**
 * `gatehouse audit verify --tenant <slug|id>`, minus the argument parsing (the CLI wires it):
 * a printable report and the process exit code.
 */
import { findTenantByRef } from '../store/index.js';
import type { Store } from '../store/index.js';
import { appendAudit } from './append.js';
import type { AuditActor } from './types.js';
import { verifyAuditChain } from './verify.js';

export interface AuditVerifyReport {
  /** 0: the chain verified; 1: it is broken; 2: no such tenant. */
  exitCode: 0 | 1 | 2;
  /** Lines for stdout (exit 0) or stderr, ending in '\n'. */
  report: string;
}

export interface RunAuditVerifyOptions {
  /**
   * Append an `audit.verify` entry with the result, as this actor (e.g. { kind: 'platform_admin',
   * id: 'cli' }). Off by default: verifying reads only hashes and returns no content, and an
   * operator checking a chain they suspect should not have to write to it.
   */
  recordAs?: AuditActor;
}

export async function runAuditVerify(
  store: Pick<Store, 'withTenant' | 'platform'>,
  tenantRef: string,
  opts: RunAuditVerifyOptions = {},
): Promise<AuditVerifyReport> {
  const tenant = await store.platform((tx) => findTenantByRef(tx, tenantRef));
  if (tenant === null) return { exitCode: 2, report: `gatehouse audit verify: no tenant ${JSON.stringify(tenantRef)}\n` };
  const name = `tenant ${tenant.slug} (${tenant.id})`;
  const result = await verifyAuditChain(store, tenant.id);
  if (opts.recordAs !== undefined) {
    const actor = opts.recordAs;
    await store.withTenant(tenant.id, (tx) =>
      appendAudit(tx, {
        actor,
        action: 'audit.verify',
        target: { kind: 'audit_log', id: null },
        outcome: result.ok ? 'success' : 'failure',
        after: result.ok
          ? { ok: true, entries: result.entries }
          : { ok: false, first_broken_seq: result.firstBrokenSeq, reason: result.reason },
      }),
    );
  }
  if (result.ok) {
    return {
      exitCode: 0,
      report:
        `audit chain of ${name}: OK, ${result.entries} entries verified\n` +
        `  head: seq ${result.head.seq} hash ${result.head.hash}\n` +
        '  (keep this head hash outside the database: a later run showing a different hash at this seq means the chain was rewritten)\n',
    };
  }
  return {
    exitCode: 1,
    report:
      `audit chain of ${name}: BROKEN at entry ${result.firstBrokenSeq} (${result.reason})\n` +
      `  ${result.detail}\n` +
      `  entries 1..${result.verified} verified before it\n`,
  };
}
