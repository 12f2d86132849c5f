/**
 * Reading a tenant's audit log: filtered, keyset-paginated queries and a JSON-lines export.
 * Both append an `audit.read` entry in the same transaction (DESIGN §12: reading the audit log
 * is itself audited), so they need to know who reads. The admin API checks the reader's role
 * (tenant_admin, tenant_auditor) before calling; a refused read is for it to record, with
 * outcome 'denied', through appendAudit.
 */
import { auditRepo } from '../store/index.js';
import type { AuditSearch, Store, TenantTx } from '../store/index.js';
import { appendAudit } from './append.js';
import { entryToJson, recordToEntry } from './entry.js';
import type { AuditEntry, AuditReader, JsonValue } from './types.js';

export interface AuditFilter {
  /** Entries at or after this time. */
  from?: Date | null;
  /** Entries strictly before this time. */
  to?: Date | null;
  /** An exact action ('key.create') or a prefix ending in '.*' ('key.*'). */
  action?: string | null;
  actor?: { kind?: string; id?: string } | null;
  /** Page size for queryAudit (1..1000, default 100); a cap on lines for exportAuditJsonl. */
  limit?: number | null;
  /** From the previous page's nextCursor. */
  cursor?: string | null;
  /** queryAudit only: newest first (default) or chain order. Exports are in chain order. */
  order?: 'asc' | 'desc';
}

export type AuditFilterProblem = 'invalid_time' | 'invalid_action' | 'invalid_actor' | 'invalid_limit' | 'invalid_cursor' | 'invalid_order';

export type CheckedAuditFilter =
  | { ok: true; search: Omit<AuditSearch, 'maxSeq' | 'limit'>; limit: number | null }
  | { ok: false; reason: AuditFilterProblem; message: string };

export type QueryAuditResult =
  | { ok: true; entries: AuditEntry[]; nextCursor: string | null }
  | { ok: false; reason: AuditFilterProblem; message: string };

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;
const EXPORT_PAGE = 500;

const ACTION = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;
const CURSOR = /^v1\.(asc|desc)\.([1-9][0-9]{0,15})$/;

/** Opaque to clients; carries the order so a cursor cannot be replayed against the other one. */
export function encodeCursor(order: 'asc' | 'desc', seq: number): string {
  return Buffer.from(`v1.${order}.${seq}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string, order: 'asc' | 'desc'): number | null {
  const m = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (m === null || m[1] !== order) return null;
  const seq = Number(m[2]);
  return Number.isSafeInteger(seq) ? seq : null;
}

function badTime(d: Date | null | undefined): boolean {
  return d !== null && d !== undefined && !(d instanceof Date && Number.isFinite(d.getTime()));
}

/** Validates a filter from a client; bad input is an expected outcome (the API's 400). */
export function checkAuditFilter(f: AuditFilter, defaultLimit: number | null = DEFAULT_PAGE): CheckedAuditFilter {
  const order = f.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc') return { ok: false, reason: 'invalid_order', message: "order must be 'asc' or 'desc'" };
  if (badTime(f.from) || badTime(f.to)) return { ok: false, reason: 'invalid_time', message: 'from and to must be valid times' };
  let action: string | null = null;
  let actionPrefix: string | null = null;
  if (f.action !== undefined && f.action !== null) {
    const prefix = f.action.endsWith('.*');
    const name = prefix ? f.action.slice(0, -2) : f.action;
    if (!ACTION.test(name) || name.length > 128) {
      return { ok: false, reason: 'invalid_action', message: "action must be a dotted name, or a prefix ending in '.*'" };
    }
    if (prefix) actionPrefix = `${name}.`;
    else action = name;
  }
  const kind = f.actor?.kind ?? null;
  const id = f.actor?.id ?? null;
  if ((kind !== null && !/^[a-z][a-z0-9_]{0,31}$/.test(kind)) || (id !== null && (id.length < 1 || id.length > 256))) {
    return { ok: false, reason: 'invalid_actor', message: 'actor kind or id is malformed' };
  }
  const limit = f.limit ?? defaultLimit;
  if (limit !== null && (!Number.isInteger(limit) || limit < 1 || (defaultLimit !== null && limit > MAX_PAGE))) {
    return { ok: false, reason: 'invalid_limit', message: `limit must be an integer from 1 to ${MAX_PAGE}` };
  }
  let afterSeq: number | null = null;
  if (f.cursor !== undefined && f.cursor !== null) {
    afterSeq = decodeCursor(f.cursor, order);
    if (afterSeq === null) return { ok: false, reason: 'invalid_cursor', message: 'cursor is not one this query returned' };
  }
  return {
    ok: true,
    search: { from: f.from ?? null, to: f.to ?? null, action, actionPrefix, actorKind: kind, actorId: id, afterSeq, order },
    limit,
  };
}

/** What the audit.read entry says was read: the filter, never the entries. */
function describe(f: AuditFilter, via: 'query' | 'export', returned: number | null): JsonValue {
  return {
    via,
    filter: {
      from: f.from?.toISOString() ?? null,
      to: f.to?.toISOString() ?? null,
      action: f.action ?? null,
      actor_kind: f.actor?.kind ?? null,
      actor_id: f.actor?.id ?? null,
      limit: f.limit ?? null,
      cursor: f.cursor ?? null,
      order: via === 'export' ? 'asc' : (f.order ?? 'desc'),
    },
    returned,
  };
}

async function recordRead(tx: TenantTx, reader: AuditReader, after: JsonValue): Promise<void> {
  await appendAudit(tx, {
    actor: reader.actor,
    action: 'audit.read',
    target: { kind: 'audit_log', id: null },
    outcome: 'success',
    sourceIp: reader.sourceIp ?? null,
    requestId: reader.requestId ?? null,
    after,
  });
}

/**
 * One page of the transaction's tenant log, newest first unless `order: 'asc'`. Appends an
 * audit.read entry after reading, so the page never contains its own read entry.
 */
export async function queryAudit(tx: TenantTx, filter: AuditFilter, reader: AuditReader): Promise<QueryAuditResult> {
  const checked = checkAuditFilter(filter);
  if (!checked.ok) return checked;
  const limit = checked.limit ?? DEFAULT_PAGE;
  const rows = await auditRepo.search(tx, { ...checked.search, maxSeq: null, limit: limit + 1 });
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const nextCursor = rows.length > limit && last !== undefined ? encodeCursor(checked.search.order, last.seq) : null;
  await recordRead(tx, reader, describe(filter, 'query', page.length));
  return { ok: true, entries: page.map(recordToEntry), nextCursor };
}

export class AuditFilterError extends RangeError {
  override name = 'AuditFilterError';
  constructor(
    readonly reason: AuditFilterProblem,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The matching entries in chain order as JSON lines (each ending in '\n'), read page by page
 * inside the caller's transaction: iterate it before the transaction ends. The audit.read entry
 * is appended when iteration starts (a partial export still counts as a read), and the export
 * stops at the head it found then, so it never contains its own read entry. Validate the filter
 * with checkAuditFilter first to answer a bad one with a 400; here it throws AuditFilterError.
 */
export async function* exportAuditJsonl(tx: TenantTx, filter: AuditFilter, reader: AuditReader): AsyncGenerator<string, void, undefined> {
  const checked = checkAuditFilter({ ...filter, order: 'asc' }, null);
  if (!checked.ok) throw new AuditFilterError(checked.reason, checked.message);
  const head = await auditRepo.readHead(tx);
  await recordRead(tx, reader, describe(filter, 'export', null));
  if (head === null) return;
  let remaining = checked.limit ?? Number.POSITIVE_INFINITY;
  let afterSeq = checked.search.afterSeq;
  while (remaining > 0) {
    const size = Math.min(EXPORT_PAGE, remaining);
    const rows = await auditRepo.search(tx, { ...checked.search, afterSeq, maxSeq: head.seq, limit: size });
    for (const r of rows) yield `${JSON.stringify(entryToJson(recordToEntry(r)))}\n`;
    remaining -= rows.length;
    const last = rows[rows.length - 1];
    if (rows.length < size || last === undefined) return;
    afterSeq = last.seq;
  }
}

/**
 * The export for a reader that may be slow (an HTTP client): the read is recorded, and the head
 * it stops at fixed, in one short transaction; then every page is read in a transaction of its
 * own. Nothing is held while the caller waits for its client: no connection, and no lock on the
 * chain head (appending the read entry locks it until its transaction ends, so one long
 * transaction would stall every audited change of the tenant for as long as the download runs).
 * Entries never change and seq only grows, so the pages still form one consistent export, up to
 * the fixed head. Yields one chunk of JSON lines per page; throws AuditFilterError on a bad filter.
 */
export async function* streamAuditJsonl(
  store: Pick<Store, 'withTenant'>,
  tenantId: string,
  filter: AuditFilter,
  reader: AuditReader,
): AsyncGenerator<string, void, undefined> {
  const checked = checkAuditFilter({ ...filter, order: 'asc' }, null);
  if (!checked.ok) throw new AuditFilterError(checked.reason, checked.message);
  const head = await store.withTenant(tenantId, async (tx) => {
    const h = await auditRepo.readHead(tx);
    await recordRead(tx, reader, describe(filter, 'export', null));
    return h;
  });
  if (head === null) return;
  let remaining = checked.limit ?? Number.POSITIVE_INFINITY;
  let afterSeq = checked.search.afterSeq;
  while (remaining > 0) {
    const size = Math.min(EXPORT_PAGE, remaining);
    const rows = await store.withTenant(tenantId, (tx) => auditRepo.search(tx, { ...checked.search, afterSeq, maxSeq: head.seq, limit: size }));
    if (rows.length > 0) yield rows.map((r) => `${JSON.stringify(entryToJson(recordToEntry(r)))}\n`).join('');
    remaining -= rows.length;
    const last = rows[rows.length - 1];
    if (rows.length < size || last === undefined) return;
    afterSeq = last.seq;
  }
}
