/** Conversions between stored rows, the public entry and its JSON-lines form. */
import type { AuditRecord } from '../store/index.js';
import type { AuditEntry, JsonValue } from './types.js';

/** jsonb comes back parsed, so it is JSON by construction; this only narrows the type. */
function asJson(v: unknown): JsonValue {
  return v === undefined ? null : (v as JsonValue);
}

export function recordToEntry(r: AuditRecord): AuditEntry {
  return {
    version: r.version,
    tenantId: r.tenantId,
    seq: r.seq,
    id: r.id,
    at: r.at,
    actor: { kind: r.actorKind, id: r.actorId },
    action: r.action,
    target: r.targetKind === null ? null : { kind: r.targetKind, id: r.targetId },
    outcome: r.outcome,
    sourceIp: r.sourceIp,
    requestId: r.requestId,
    before: asJson(r.before),
    after: asJson(r.after),
    prevHash: r.prevHash,
    hash: r.hash,
  };
}

/**
 * The export form: the stored column names, hashes in hex. It carries everything hashed, so an
 * unfiltered export can be re-verified offline with the rules in canonical.ts.
 */
export function entryToJson(e: AuditEntry): { [key: string]: JsonValue } {
  return {
    version: e.version,
    tenant_id: e.tenantId,
    seq: e.seq,
    id: e.id,
    at: e.at.toISOString(),
    actor_kind: e.actor.kind,
    actor_id: e.actor.id,
    action: e.action,
    target_kind: e.target?.kind ?? null,
    target_id: e.target?.id ?? null,
    outcome: e.outcome,
    source_ip: e.sourceIp,
    request_id: e.requestId,
    before: e.before,
    after: e.after,
    prev_hash: e.prevHash.toString('hex'),
    hash: e.hash.toString('hex'),
  };
}
