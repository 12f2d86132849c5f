/**
 * Audit rows and the chain head (0004_audit.ts). Only SQL lives here: hashing, redaction and
 * the append protocol are in src/audit/, which is the only intended caller. Every statement runs
 * in the caller's tenant transaction (DESIGN §11.11), under row-level security.
 */
import type { TenantTx } from '../types.js';
import { toBuffer } from './convert.js';

/** One stored audit row, as both drivers return it after conversion. */
export interface AuditRecord {
  tenantId: string;
  seq: number;
  id: string;
  at: Date;
  actorKind: string;
  actorId: string | null;
  action: string;
  targetKind: string | null;
  targetId: string | null;
  outcome: string;
  /** host(inet): PostgreSQL's form of the address (the form that is hashed). */
  sourceIp: string | null;
  requestId: string | null;
  /** Parsed JSON; null when absent. */
  before: unknown;
  after: unknown;
  prevHash: Buffer;
  hash: Buffer;
  version: number;
}

/** The checkpointed chain head: the last appended entry's seq and hash (seq 0: genesis). */
export interface AuditHead {
  seq: number;
  hash: Buffer;
  at: Date;
}

/** What the append needs from the locked head: it, the database clock, the normalised address. */
export interface LockedAuditHead {
  head: AuditHead;
  now: Date;
  sourceIp: string | null;
}

export interface AuditSearch {
  /** Inclusive. */
  from: Date | null;
  /** Exclusive. */
  to: Date | null;
  action: string | null;
  actionPrefix: string | null;
  actorKind: string | null;
  actorId: string | null;
  /** Keyset position: entries strictly after it in the given order. */
  afterSeq: number | null;
  /** Upper bound on seq (an export does not read past the head it started from). */
  maxSeq: number | null;
  order: 'asc' | 'desc';
  limit: number;
}

interface AuditRow {
  tenant_id: string;
  seq: string | number;
  id: string;
  at: Date;
  actor_kind: string;
  actor_id: string | null;
  action: string;
  target_kind: string | null;
  target_id: string | null;
  outcome: string;
  source_ip: string | null;
  request_id: string | null;
  before: unknown;
  after: unknown;
  prev_hash: Buffer;
  hash: Buffer;
  version: number;
}

interface HeadRow {
  seq: string | number;
  hash: Buffer;
  at: Date;
}

/** int8 arrives as a string (see pglite-driver.ts); seq is far below 2^53 in practice, checked. */
function toSeq(v: string | number): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`audit seq out of range: ${String(v)}`);
  return n;
}

const COLUMNS = `tenant_id, seq, id, at, actor_kind, actor_id, action, target_kind, target_id, outcome,
  host(source_ip) AS source_ip, request_id, before, after, prev_hash, hash, version`;

function toRecord(r: AuditRow): AuditRecord {
  return {
    tenantId: r.tenant_id,
    seq: toSeq(r.seq),
    id: r.id,
    at: r.at,
    actorKind: r.actor_kind,
    actorId: r.actor_id,
    action: r.action,
    targetKind: r.target_kind,
    targetId: r.target_id,
    outcome: r.outcome,
    sourceIp: r.source_ip,
    requestId: r.request_id,
    before: r.before,
    after: r.after,
    prevHash: toBuffer(r.prev_hash),
    hash: toBuffer(r.hash),
    version: r.version,
  };
}

function toHead(r: HeadRow): AuditHead {
  return { seq: toSeq(r.seq), hash: toBuffer(r.hash), at: r.at };
}

/** JSON goes in as text: a bare JSON string would otherwise be taken for jsonb text by one driver. */
function jsonParam(v: unknown): string | null {
  return v === null || v === undefined ? null : JSON.stringify(v);
}

// The filter shared by both orders; each clause is off when its parameter is NULL.
const SEARCH_WHERE = `tenant_id = $1
  AND ($2::timestamptz IS NULL OR at >= $2)
  AND ($3::timestamptz IS NULL OR at < $3)
  AND ($4::text IS NULL OR action = $4)
  AND ($5::text IS NULL OR starts_with(action, $5))
  AND ($6::text IS NULL OR actor_kind = $6)
  AND ($7::text IS NULL OR actor_id = $7)
  AND ($9::bigint IS NULL OR seq <= $9)`;
const SEARCH_ASC = `SELECT ${COLUMNS} FROM audit_entries WHERE ${SEARCH_WHERE}
  AND ($8::bigint IS NULL OR seq > $8) ORDER BY seq LIMIT $10`;
const SEARCH_DESC = `SELECT ${COLUMNS} FROM audit_entries WHERE ${SEARCH_WHERE}
  AND ($8::bigint IS NULL OR seq < $8) ORDER BY seq DESC LIMIT $10`;

export const auditRepo = {
  /**
   * Locks this tenant's head row until the transaction ends: concurrent appenders queue here,
   * so each sees the head the previous one wrote (READ COMMITTED re-reads the locked row).
   * Also returns the database clock (one clock for every replica) and the source address in
   * the text form PostgreSQL will return later, which is what gets hashed. Null: no head yet.
   */
  async lockHead(tx: TenantTx, sourceIp: string | null): Promise<LockedAuditHead | null> {
    const { rows } = await tx.query<HeadRow & { now: Date; source_ip: string | null }>(
      `SELECT seq, hash, at, date_trunc('milliseconds', clock_timestamp()) AS now, host($2::inet) AS source_ip
       FROM audit_checkpoints WHERE tenant_id = $1 FOR UPDATE`,
      [tx.tenantId, sourceIp],
    );
    const r = rows[0];
    return r === undefined ? null : { head: toHead(r), now: r.now, sourceIp: r.source_ip };
  },

  /** Creates the genesis head (seq 0, zero hash) unless a head exists; a concurrent creator wins. */
  async createGenesis(tx: TenantTx): Promise<void> {
    await tx.query(
      `INSERT INTO audit_checkpoints (tenant_id, seq, hash) VALUES ($1, 0, $2)
       ON CONFLICT (tenant_id) DO NOTHING`,
      [tx.tenantId, Buffer.alloc(32)],
    );
  },

  async hasEntries(tx: TenantTx): Promise<boolean> {
    const { rows } = await tx.query('SELECT 1 FROM audit_entries WHERE tenant_id = $1 LIMIT 1', [tx.tenantId]);
    return rows.length > 0;
  },

  async insert(tx: TenantTx, r: AuditRecord): Promise<void> {
    await tx.query(
      `INSERT INTO audit_entries (tenant_id, seq, id, at, actor_kind, actor_id, action, target_kind, target_id,
         outcome, source_ip, request_id, before, after, prev_hash, hash, version)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::inet, $12, $13::text::jsonb, $14::text::jsonb, $15, $16, $17)`,
      [
        r.tenantId,
        r.seq,
        r.id,
        r.at,
        r.actorKind,
        r.actorId,
        r.action,
        r.targetKind,
        r.targetId,
        r.outcome,
        r.sourceIp,
        r.requestId,
        jsonParam(r.before),
        jsonParam(r.after),
        r.prevHash,
        r.hash,
        r.version,
      ],
    );
  },

  /** Moves the head forward (the trigger refuses anything else). */
  async advanceHead(tx: TenantTx, head: AuditHead): Promise<void> {
    await tx.query('UPDATE audit_checkpoints SET seq = $2, hash = $3, at = $4 WHERE tenant_id = $1', [
      tx.tenantId,
      head.seq,
      head.hash,
      head.at,
    ]);
  },

  async readHead(tx: TenantTx): Promise<AuditHead | null> {
    const { rows } = await tx.query<HeadRow>('SELECT seq, hash, at FROM audit_checkpoints WHERE tenant_id = $1', [
      tx.tenantId,
    ]);
    return rows[0] === undefined ? null : toHead(rows[0]);
  },

  /** Entries with afterSeq < seq <= uptoSeq in chain order, at most `limit`. */
  async readChain(tx: TenantTx, afterSeq: number, uptoSeq: number, limit: number): Promise<AuditRecord[]> {
    const { rows } = await tx.query<AuditRow>(
      `SELECT ${COLUMNS} FROM audit_entries WHERE tenant_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4`,
      [tx.tenantId, afterSeq, uptoSeq, limit],
    );
    return rows.map(toRecord);
  },

  /** The highest seq present; null when there are no entries. */
  async maxSeq(tx: TenantTx): Promise<number | null> {
    const { rows } = await tx.query<{ m: string | number | null }>(
      'SELECT max(seq) AS m FROM audit_entries WHERE tenant_id = $1',
      [tx.tenantId],
    );
    const m = rows[0]?.m ?? null;
    return m === null ? null : toSeq(m);
  },

  /** The stored hash of each of `seqs` that exists (checking exported heads against the chain). */
  async hashesAt(tx: TenantTx, seqs: readonly number[]): Promise<Map<number, Buffer>> {
    const { rows } = await tx.query<{ seq: string | number; hash: Buffer }>(
      'SELECT seq, hash FROM audit_entries WHERE tenant_id = $1 AND seq = ANY ($2::bigint[])',
      [tx.tenantId, [...seqs]],
    );
    return new Map(rows.map((r) => [toSeq(r.seq), toBuffer(r.hash)]));
  },

  async search(tx: TenantTx, q: AuditSearch): Promise<AuditRecord[]> {
    const { rows } = await tx.query<AuditRow>(q.order === 'asc' ? SEARCH_ASC : SEARCH_DESC, [
      tx.tenantId,
      q.from,
      q.to,
      q.action,
      q.actionPrefix,
      q.actorKind,
      q.actorId,
      q.afterSeq,
      q.maxSeq,
      q.limit,
    ]);
    return rows.map(toRecord);
  },
};
