/**
 * `gatehouse audit verify` and `audit export-head`, minus the argument parsing (the CLI wires
 * them): printable reports and the process exit code.
 */
import type { AuditHeadSigner, AuditHeadVerifier } from '../crypto/audit-head-key.js';
import { PLATFORM_SCOPE_ID } from '../identity/roles.js';
import { findTenantByRef } from '../store/index.js';
import type { Store } from '../store/index.js';
import { appendAudit } from './append.js';
import { auditChainIds, signedHeads } from './head-export.js';
import { headLine, parseHeadLines } from './signed-head.js';
import type { AuditActor } from './types.js';
import { checkHeads } from './verify-heads.js';
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
        '  (keep signed heads outside the database, `gatehouse audit export-head`, and check against them with `--heads`)\n',
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

/** A chain as the operator knows it: the platform scope, or a tenant's slug and id. */
async function chainName(store: Pick<Store, 'platform'>, chainId: string): Promise<string> {
  if (chainId === PLATFORM_SCOPE_ID) return `the platform scope (${chainId})`;
  const t = await store.platform((tx) => findTenantByRef(tx, chainId));
  return t === null ? `tenant ${chainId} (not in the tenants table)` : `tenant ${t.slug} (${t.id})`;
}

/** `--tenant`: a slug, an id, or `platform` for the platform scope's chain. */
async function resolveChain(store: Pick<Store, 'platform'>, ref: string): Promise<string | null> {
  if (ref === 'platform' || ref === PLATFORM_SCOPE_ID) return PLATFORM_SCOPE_ID;
  return (await store.platform((tx) => findTenantByRef(tx, ref)))?.id ?? null;
}

export interface RunVerifyHeadsOptions {
  /** Only this chain's heads (slug, id or `platform`); default: every chain the file names. */
  tenantRef?: string;
}

/**
 * `gatehouse audit verify --heads FILE`: each chain the file names is verified on its own (as
 * `verify --tenant` does) and against every head in the file that a trusted key signed. Exit 1
 * when a chain is broken, a head's entry is gone or differs, or a head is forged or unreadable.
 */
export async function runAuditVerifyHeads(
  store: Pick<Store, 'withTenant' | 'platform'>,
  verifier: AuditHeadVerifier,
  headsText: string,
  opts: RunVerifyHeadsOptions = {},
): Promise<AuditVerifyReport> {
  const parsed = parseHeadLines(headsText);
  let heads = parsed.heads;
  let failed = parsed.problems.length > 0;
  let report = parsed.problems.map((p) => `heads file line ${p.line}: ${p.message}\n`).join('');
  if (opts.tenantRef !== undefined) {
    const id = await resolveChain(store, opts.tenantRef);
    if (id === null) return { exitCode: 2, report: `gatehouse audit verify: no tenant ${JSON.stringify(opts.tenantRef)}\n` };
    heads = heads.filter((h) => h.tenant_id === id);
  }
  if (heads.length === 0) {
    return { exitCode: 1, report: `${report}the heads file holds no head${opts.tenantRef === undefined ? '' : ` of ${opts.tenantRef}`}: nothing was checked against it\n` };
  }
  const checked = await checkHeads(store, verifier, heads);
  const chains = [...new Set(heads.map((h) => h.tenant_id))].sort();
  for (const id of chains) {
    const name = await chainName(store, id);
    const chain = await verifyAuditChain(store, id);
    const problems = checked.failures.filter((f) => f.tenantId === id);
    const vouched = checked.highest.get(id);
    if (chain.ok && problems.length === 0) {
      report += `audit chain of ${name}: OK, ${chain.entries} entries verified; ${heads.filter((h) => h.tenant_id === id).length} heads agree (up to entry ${vouched ?? 0})\n`;
      continue;
    }
    failed = true;
    const cut = problems.some((p) => p.reason === 'tail_cut' || p.reason === 'entry_missing');
    const rewritten = problems.some((p) => p.reason === 'hash_mismatch');
    const forged = problems.some((p) => p.reason === 'bad_signature' || p.reason === 'unknown_key');
    const verdicts = [
      ...(chain.ok ? [] : [`BROKEN at entry ${chain.firstBrokenSeq} (${chain.reason})`]),
      ...(cut ? ['CUT TAIL DETECTED'] : []),
      ...(rewritten ? ['REWRITTEN CHAIN DETECTED'] : []),
      ...(forged ? ['FORGED HEADS in the heads file'] : []),
    ];
    report += `audit chain of ${name}: ${verdicts.join('; ')}\n`;
    if (!chain.ok) report += `  ${chain.detail}\n`;
    for (const p of problems) report += `  ${p.line === null ? '' : `line ${p.line}: `}${p.detail}\n`;
  }
  return { exitCode: failed ? 1 : 0, report };
}

export interface RunExportHeadsOptions {
  /** One chain (slug, id or `platform`); undefined: every chain. */
  tenantRef?: string;
  now?: () => Date;
}

/** `gatehouse audit export-head`: the signed heads as JSON lines (the CLI appends them to --out). */
export async function runAuditExportHeads(
  store: Pick<Store, 'withTenant' | 'platform'>,
  signer: AuditHeadSigner,
  opts: RunExportHeadsOptions = {},
): Promise<{ exitCode: 0 | 2; lines: string; report: string }> {
  let ids: string[];
  if (opts.tenantRef === undefined) ids = await auditChainIds(store);
  else {
    const id = await resolveChain(store, opts.tenantRef);
    if (id === null) return { exitCode: 2, lines: '', report: `gatehouse audit export-head: no tenant ${JSON.stringify(opts.tenantRef)}\n` };
    ids = [id];
  }
  const heads = await signedHeads(store, signer, ids, opts.now);
  return {
    exitCode: 0,
    lines: heads.map(headLine).join(''),
    report: `${heads.length} signed heads (key ${signer.keyId})\n`,
  };
}
