/**
 * The audit entry envelope (DESIGN §12 "Audit": who, what, when, where from, outcome, target).
 * Versioned (DESIGN §11.11): the version names the field set and the canonical serialisation
 * that is hashed, so a later version can add fields while old rows keep verifying by their rules.
 */

/** The envelope version written by this code. */
export const AUDIT_ENTRY_VERSION = 1;

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * Who acted. Readers get `string` back (a newer version may write kinds this one does not know);
 * writers pick one of these.
 */
export type ActorKind = 'user' | 'api_key' | 'service_account' | 'jwt' | 'platform_admin' | 'system' | 'anonymous';

export interface AuditActor {
  kind: ActorKind;
  /** The principal's id (user id, key id, ...), never a credential. null: unknown (anonymous). */
  id: string | null;
}

export interface AuditTarget {
  /** What kind of thing was acted on: 'api_key', 'team', 'policy', 'tenant', 'audit_log', ... */
  kind: string;
  id: string | null;
}

/** What a caller appends; the log adds tenant, seq, id, time and the hashes. */
export interface AuditEvent {
  actor: AuditActor;
  /** Dotted lower-case name, e.g. 'key.create', 'auth.key_rejected', 'policy.decision'. */
  action: string;
  target?: AuditTarget | null;
  outcome: AuditOutcome;
  /** The client address as the gateway saw it (IPv4 or IPv6). */
  sourceIp?: string | null;
  requestId?: string | null;
  /** State before and after the change. Redacted before it is hashed and stored (redact.ts). */
  before?: unknown;
  after?: unknown;
}

/** Who is reading the audit log: reading is itself audited (DESIGN §12). */
export interface AuditReader {
  actor: AuditActor;
  sourceIp?: string | null;
  requestId?: string | null;
}

/** One entry of a tenant's chain. */
export interface AuditEntry {
  version: number;
  tenantId: string;
  /** 1, 2, 3, ... per tenant, without gaps. */
  seq: number;
  id: string;
  at: Date;
  actor: { kind: string; id: string | null };
  action: string;
  target: { kind: string; id: string | null } | null;
  outcome: string;
  sourceIp: string | null;
  requestId: string | null;
  before: JsonValue;
  after: JsonValue;
  /** The previous entry's hash (32 zero bytes before the first entry). */
  prevHash: Buffer;
  /** SHA-256(prevHash || canonical(entry)). */
  hash: Buffer;
}
