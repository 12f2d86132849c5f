/**
 * Tenant scope: the tenant's stored request logs (src/logs/). Tenant admins and auditors only:
 * entries describe the tenant's traffic (and, when it logs content, carry its prompts), which the
 * platform roles never see. Reading an entry's content is audited.
 */
import { decodeCursor, encodeCursor } from '../http/cursor.js';
import { defineRoute, type AdminRoute } from '../route.js';
import {
  presentRequestLog,
  presentRequestLogDetail,
  requestLogDetailView,
  requestLogsQuery,
  requestLogView,
  statusRange,
} from '../schemas/request-logs.js';
import { readRequestLog } from '../services/request-logs.js';
import { read } from '../tx.js';
import { listOf, tenantOf } from './lists.js';
import { requestLogsRepo } from '../../store/index.js';

const TAG = 'Request logs';
const T = '/tenants/{tenant}';
const LIST = 'request_logs';
const CURSOR_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\|[0-9a-f-]{36}$/;

export const requestLogRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: `${T}/logs`,
    operationId: 'listRequestLogs',
    summary: "List the tenant's stored request logs, newest first (metadata only)",
    tag: TAG,
    permission: 'request_logs.read',
    query: requestLogsQuery,
    response: { status: 200, description: 'A page of entries.', schema: listOf(requestLogView) },
    async handle(call) {
      const q = call.query;
      const after = decodeCursor(LIST, q.cursor, (a) => CURSOR_RE.test(a));
      const [at, id] = after === null ? [null, null] : (after.split('|') as [string, string]);
      const rows = await read(call.env, tenantOf(call), (tx) =>
        requestLogsRepo.list(tx, {
          from: q.from === undefined ? null : new Date(q.from),
          to: q.to === undefined ? null : new Date(q.to),
          keyId: q.key_id ?? null,
          model: q.model ?? null,
          status: statusRange(q.status),
          before: at === null || id === null ? null : { occurredAt: new Date(at), id },
          limit: q.limit + 1,
        }),
      );
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      const next = rows.length > q.limit && last !== undefined ? encodeCursor(LIST, `${last.occurredAt.toISOString()}|${last.id}`) : null;
      return { status: 200, body: { object: 'list', data: page.map(presentRequestLog), next_cursor: next } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${T}/logs/{request_id}`,
    operationId: 'getRequestLog',
    summary: 'One stored request log entry with its content, decrypted (the read is audited)',
    tag: TAG,
    permission: 'request_logs.content',
    response: {
      status: 200,
      description: 'The entry by its id, or the newest entry with that request id (X-Request-ID).',
      schema: requestLogDetailView,
    },
    async handle(call) {
      const ref = call.params.request_id ?? '';
      const detail = await read(call.env, tenantOf(call), (tx) => readRequestLog(tx, call.env.sealer, call.actor, ref));
      return { status: 200, body: presentRequestLogDetail(detail.meta, detail.content) };
    },
  }),
];
