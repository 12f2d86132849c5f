/** Tenant scope: custom domains (a Host header naming the tenant). */
import { z } from 'zod';
import { domainsManageRepo } from '../../store/index.js';
import { decodeCursor, listBody, pageQuery } from '../http/cursor.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { createDomainBody, domainView, presentDomain } from '../schemas/domains.js';
import { addDomain, confirmDomain, proveDomain, removeDomain } from '../services/domains.js';
import { createOnce, read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const TAG = 'Domains';
const BASE = '/tenants/{tenant}/domains';

export const domainRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: BASE,
    operationId: 'listDomains',
    summary: 'List custom domains',
    tag: TAG,
    permission: 'domains.read',
    query: z.strictObject({ ...pageQuery }),
    response: { status: 200, description: 'A page of domains.', schema: listOf(domainView) },
    async handle(call) {
      const after = decodeCursor('domains', call.query.cursor);
      const page = await read(call.env, tenantOf(call), (tx) => domainsManageRepo.list(tx, { after, limit: call.query.limit }));
      return { status: 200, body: listBody('domains', page, presentDomain) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: BASE,
    operationId: 'createDomain',
    summary: 'Add a custom domain',
    tag: TAG,
    permission: 'domains.write',
    body: createDomainBody,
    idempotent: true,
    response: { status: 201, description: 'The domain.', schema: domainView },
    async handle(call) {
      const tenantId = tenantOf(call);
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) => {
        const d = await addDomain(tx, call.actor, call.body.domain);
        return { result: { status: 201, body: presentDomain(d), location: `/admin/v1/tenants/${tenantId}/domains/${d.domain}` } };
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${BASE}/{domain}`,
    operationId: 'getDomain',
    summary: 'Get a custom domain',
    tag: TAG,
    permission: 'domains.read',
    response: { status: 200, description: 'The domain.', schema: domainView },
    async handle(call) {
      const d = await read(call.env, tenantOf(call), (tx) => domainsManageRepo.get(tx, call.params.domain ?? ''));
      if (d === null) throw notFound('domain');
      return { status: 200, body: presentDomain(d) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${BASE}/{domain}/verify`,
    operationId: 'verifyDomain',
    summary: 'Verify a custom domain from its DNS TXT record',
    tag: TAG,
    permission: 'domains.write',
    response: { status: 200, description: 'The domain, verified (409 when the record is missing or another tenant proved the name first).', schema: domainView },
    async handle(call) {
      const tenantId = tenantOf(call);
      const name = call.params.domain ?? '';
      const d = await read(call.env, tenantId, (tx) => domainsManageRepo.get(tx, name));
      if (d === null) throw notFound('domain');
      if (d.verifiedAt !== null) return { status: 200, body: presentDomain(d) };
      await proveDomain(call.env.resolveTxt, d);
      const verified = await write(call.env, tenantId, (tx) => confirmDomain(tx, call.actor, name));
      return { status: 200, body: presentDomain(verified) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${BASE}/{domain}`,
    operationId: 'deleteDomain',
    summary: 'Remove a custom domain (immutable: no If-Match)',
    tag: TAG,
    permission: 'domains.write',
    response: { status: 204, description: 'Removed.' },
    async handle(call) {
      await write(call.env, tenantOf(call), (tx) => removeDomain(tx, call.actor, call.params.domain ?? ''));
      return { status: 204 };
    },
  }),
];
