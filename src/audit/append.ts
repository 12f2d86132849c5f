/**
 * Appending to a tenant's chain, inside the caller's transaction (DESIGN §11.11): the entry
 * commits or rolls back with the change it describes, so there is never a change without its
 * entry, nor an entry for a change that did not happen.
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { auditRepo } from '../store/index.js';
import type { AuditRecord, TenantTx } from '../store/index.js';
import { entryHash } from './canonical.js';
import { recordToEntry } from './entry.js';
import { redactText, redactValue } from './redact.js';
import { AUDIT_ENTRY_VERSION, AUDIT_OUTCOMES } from './types.js';
import type { AuditEntry, AuditEvent, JsonValue } from './types.js';

/** The chain's stored state is inconsistent in a way only tampering produces; appending stops. */
export class AuditIntegrityError extends Error {
  override name = 'AuditIntegrityError';
}

const ACTION = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const KIND = /^[a-z][a-z0-9_]{0,31}$/;
const OUTCOMES: ReadonlySet<string> = new Set(AUDIT_OUTCOMES);

/** Text columns: masked like any value (an id must never carry a credential), then bounded. */
function text(field: string, v: string | null | undefined, max: number): string | null {
  if (v === null || v === undefined) return null;
  const t = redactText(v);
  if (t.length < 1 || t.length > max) throw new RangeError(`audit ${field}: 1 to ${max} characters`);
  return t;
}

/** An address as the socket gives it; '[::1]' and zone ids ('fe80::1%eth0') are tolerated. */
function address(v: string | null | undefined): string | null {
  if (v === null || v === undefined || v === '') return null;
  const bare = v.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  if (isIP(bare) === 0) throw new RangeError('audit sourceIp: not an IP address');
  return bare;
}

interface Prepared {
  actorKind: string;
  actorId: string | null;
  action: string;
  targetKind: string | null;
  targetId: string | null;
  outcome: string;
  sourceIp: string | null;
  requestId: string | null;
  before: JsonValue;
  after: JsonValue;
}

/**
 * Checks and redacts the event before any SQL runs: a malformed event is a caller bug, and
 * failing here leaves the caller's transaction usable.
 */
function prepare(e: AuditEvent): Prepared {
  if (!ACTION.test(e.action) || e.action.length > 128) throw new RangeError(`audit action: not a dotted name: ${e.action}`);
  if (!KIND.test(e.actor.kind)) throw new RangeError(`audit actor kind: ${e.actor.kind}`);
  if (!OUTCOMES.has(e.outcome)) throw new RangeError(`audit outcome: ${String(e.outcome)}`);
  const target = e.target ?? null;
  if (target !== null && !KIND.test(target.kind)) throw new RangeError(`audit target kind: ${target.kind}`);
  return {
    actorKind: e.actor.kind,
    actorId: text('actor id', e.actor.id, 256),
    action: e.action,
    targetKind: target?.kind ?? null,
    targetId: target === null ? null : text('target id', target.id, 256),
    outcome: e.outcome,
    sourceIp: address(e.sourceIp),
    requestId: text('request id', e.requestId, 128),
    before: redactValue(e.before),
    after: redactValue(e.after),
  };
}

/**
 * Appends one entry to the transaction's tenant chain and moves the checkpoint to it.
 *
 * Concurrency: the tenant's checkpoint row is locked (FOR UPDATE) until the caller's transaction
 * ends, so appends of one tenant queue and each one extends the head the previous one committed:
 * seq stays gapless and the chain never forks. A rolled-back append releases the lock without
 * having moved the head, so it leaves no gap either. Appends of different tenants do not
 * contend. Keep the transaction short after appending: other appenders of the tenant wait.
 */
export async function appendAudit(tx: TenantTx, event: AuditEvent): Promise<AuditEntry> {
  const p = prepare(event);
  let locked = await auditRepo.lockHead(tx, p.sourceIp);
  if (locked === null) {
    await auditRepo.createGenesis(tx);
    locked = await auditRepo.lockHead(tx, p.sourceIp);
    if (locked === null) throw new AuditIntegrityError('the audit checkpoint could not be created');
  }
  // A genesis head beside existing entries means the checkpoint row was deleted (only the owner
  // can): appending would start a second chain at seq 1 and hide the cut. Refuse, loudly.
  if (locked.head.seq === 0 && (await auditRepo.hasEntries(tx))) {
    throw new AuditIntegrityError(
      `the audit checkpoint of tenant ${tx.tenantId} is missing although entries exist; run \`gatehouse audit verify\``,
    );
  }
  const unhashed: Omit<AuditRecord, 'hash'> = {
    tenantId: tx.tenantId,
    seq: locked.head.seq + 1,
    id: randomUUID(),
    at: locked.now,
    ...p,
    sourceIp: locked.sourceIp, // PostgreSQL's text form: what a reader gets back and re-hashes
    prevHash: locked.head.hash,
    version: AUDIT_ENTRY_VERSION,
  };
  const hash = entryHash(unhashed);
  if (hash === undefined) throw new Error(`audit envelope version ${AUDIT_ENTRY_VERSION} has no canonical form`);
  const record: AuditRecord = { ...unhashed, hash };
  await auditRepo.insert(tx, record);
  await auditRepo.advanceHead(tx, { seq: record.seq, hash, at: record.at });
  return recordToEntry(record);
}
