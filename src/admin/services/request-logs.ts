/**
 * Reading a tenant's stored request logs (src/logs/); each call runs in the caller's tenant
 * transaction. Lists carry metadata only; reading one entry opens its content with the tenant's
 * data key and appends a `request_log.read` audit entry in the same transaction, so content is
 * never shown without the read being recorded (DESIGN §12 "Audit").
 */
import { parseLogContent, type LogContent } from '../../logs/content.js';
import { DecryptError } from '../../crypto/tenant-crypto-errors.js';
import { requestLogsRepo, type FieldSealer, type RequestLogMeta, type RequestLogRecord, type TenantTx } from '../../store/index.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import { notFound } from '../problems.js';

export interface RequestLogDetail {
  meta: RequestLogMeta;
  /** null: no content was logged; 'unreadable': the data key that sealed it was destroyed. */
  content: LogContent | 'unreadable' | null;
}

async function open(tx: TenantTx, sealer: FieldSealer, entry: RequestLogRecord): Promise<LogContent | 'unreadable' | null> {
  if (entry.content === null) return null;
  try {
    const plain = await sealer.open(tx, { table: 'request_logs', recordId: entry.id, column: 'content' }, entry.content);
    return parseLogContent(plain);
  } catch (err) {
    // Crypto-shredded: the content is gone for good, which is an answer, not a failure. Any other
    // refusal (a master key not configured, an altered row) is the operator's to see: a 500.
    if (err instanceof DecryptError && err.reason === 'key_destroyed') return 'unreadable';
    throw err;
  }
}

/** One entry by row id or request id, with its content opened; the read is audited when it has content. */
export async function readRequestLog(tx: TenantTx, sealer: FieldSealer, actor: Actor, ref: string): Promise<RequestLogDetail> {
  const entry = await requestLogsRepo.get(tx, ref);
  if (entry === null) throw notFound('request log');
  const content = await open(tx, sealer, entry);
  if (entry.content !== null) {
    await audit(tx, actor, 'request_log.read', { kind: 'request_log', id: entry.id }, {
      after: { request_id: entry.requestId, content: content === 'unreadable' ? 'unreadable' : 'read' },
    });
  }
  const { content: _sealed, ...meta } = entry;
  return { meta, content };
}
