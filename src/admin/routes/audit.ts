/**
 * Reading the audit log: a tenant's (tenant admins and auditors for their tenant, platform
 * auditors for any), and the platform scope's own (platform auditors). Reading is itself
 * audited, in the same transaction, by the audit module.
 */
import { z } from 'zod';
import { readSignedHead, signedHeadSchema } from '../../audit/index.js';
import { exportAuditStream, readAuditPage, type AdminAuditQuery } from '../audit-hook.js';
import { invalid } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { PLATFORM_SCOPE_ID } from '../../identity/roles.js';
import type { Permission } from '../permissions.js';
import { timestamp } from '../schemas/common.js';
import { read } from '../tx.js';
import { tenantOf } from './lists.js';

const TAG = 'Audit';
/** Streamed page by page (src/audit/query.ts), so the size is not the gateway's memory's concern. */
const EXPORT_MAX_LINES = 100_000_000;

const filter = {
  from: timestamp.optional().describe('Entries at or after this time.'),
  to: timestamp.optional().describe('Entries strictly before this time.'),
  action: z.string().max(130).optional().describe("An exact action ('api_key.create') or a prefix ending in '.*'."),
  actor_kind: z.string().max(32).optional(),
  actor_id: z.string().max(256).optional(),
  cursor: z.string().max(256).optional(),
};

const entryView = z
  .object({ seq: z.number(), id: z.string(), at: z.string(), action: z.string(), outcome: z.string() })
  .passthrough()
  .describe('One entry of the hash-chained log (see the audit module for every field).');

function toQuery(q: {
  from?: string | undefined;
  to?: string | undefined;
  action?: string | undefined;
  actor_kind?: string | undefined;
  actor_id?: string | undefined;
  cursor?: string | undefined;
  limit?: number | undefined;
  order?: 'asc' | 'desc' | undefined;
}): AdminAuditQuery {
  const actor = q.actor_kind !== undefined || q.actor_id !== undefined ? { kind: q.actor_kind, id: q.actor_id } : null;
  return {
    from: q.from === undefined ? null : new Date(q.from),
    to: q.to === undefined ? null : new Date(q.to),
    action: q.action ?? null,
    actor: actor === null ? null : Object.fromEntries(Object.entries(actor).filter(([, v]) => v !== undefined)),
    limit: q.limit ?? null,
    cursor: q.cursor ?? null,
    order: q.order ?? 'desc',
  };
}

interface AuditScope {
  base: string;
  idPrefix: string;
  permission: Permission;
  what: string;
  scopeId(call: Parameters<typeof tenantOf>[0]): string;
}

function routesFor(a: AuditScope): AdminRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: `${a.base}/audit`,
      operationId: `query${a.idPrefix}Audit`,
      summary: `Query the ${a.what} audit log (newest first by default)`,
      tag: TAG,
      permission: a.permission,
      query: z.strictObject({
        ...filter,
        limit: z.coerce.number().int().min(1).max(1000).optional(),
        order: z.enum(['asc', 'desc']).optional(),
      }),
      response: {
        status: 200,
        description: 'A page of entries.',
        schema: z.object({ object: z.literal('list'), data: z.array(entryView), next_cursor: z.string().nullable() }),
      },
      async handle(call) {
        const page = await read(call.env, a.scopeId(call), (tx) => readAuditPage(tx, toQuery(call.query), call.actor));
        if (!page.ok) throw invalid(page.message);
        return { status: 200, body: { object: 'list', data: page.entries, next_cursor: page.nextCursor } };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${a.base}/audit/head`,
      operationId: `get${a.idPrefix}AuditHead`,
      summary: `The ${a.what} audit chain's current head, signed with the gateway's audit head key`,
      tag: TAG,
      permission: a.permission,
      // Not audited as a read: a head carries no entry content, and an entry per read would move
      // the very head it reports (a tenant polling for copies would grow its own chain).
      response: {
        status: 200,
        description:
          'The signed head: keep it (one JSON line) outside the gateway; `gatehouse audit verify --heads FILE` then detects entries ' +
          'deleted after it or rewritten up to it. Verify the signature with the key `gatehouse audit public-key` prints.',
        schema: signedHeadSchema,
      },
      async handle(call) {
        const head = await read(call.env, a.scopeId(call), (tx) => readSignedHead(tx, call.env.auditHeadSigner, call.env.now()));
        return { status: 200, body: head };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${a.base}/audit.jsonl`,
      operationId: `export${a.idPrefix}Audit`,
      summary: `Export the ${a.what} audit log as JSON lines, in chain order`,
      tag: TAG,
      permission: a.permission,
      query: z.strictObject({ ...filter, limit: z.coerce.number().int().min(1).max(EXPORT_MAX_LINES).optional() }),
      response: { status: 200, description: 'One JSON entry per line.', contentType: 'application/x-ndjson' },
      async handle(call) {
        const out = exportAuditStream(call.env.store, a.scopeId(call), { ...toQuery(call.query), order: 'asc' }, call.actor);
        if (!out.ok) throw invalid(out.message);
        return { status: 200, stream: { contentType: 'application/x-ndjson', chunks: out.chunks } };
      },
    }),
  ];
}

export const auditRoutes: AdminRoute[] = [
  ...routesFor({ base: '/tenants/{tenant}', idPrefix: '', permission: 'audit.read', what: 'tenant', scopeId: tenantOf }),
  ...routesFor({ base: '/platform', idPrefix: 'Platform', permission: 'platform_audit.read', what: "platform scope's", scopeId: () => PLATFORM_SCOPE_ID }),
];
