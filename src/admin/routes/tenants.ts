/** Platform scope: tenants and the fleet overview. */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { plansRepo, tenantsManageRepo, type ManagedTenant, type TenantTx } from '../../store/index.js';
import type { AdminCall, AdminResult, AdminRoute } from '../route.js';
import { defineRoute } from '../route.js';
import { decodeCursor, listBody, pageQuery } from '../http/cursor.js';
import { etagOf } from '../http/etag.js';
import { notFound } from '../problems.js';
import { createTenantBody, fleetView, patchTenantBody, presentTenant, presentTenantSummary, tenantStatus, tenantView } from '../schemas/tenants.js';
import { emptyBody } from '../schemas/common.js';
import { createTenant, deleteTenant, planNameOf, setTenantStatus, updateTenant } from '../services/tenants.js';
import { createOnce, idempotentTenantId, read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const TAG = 'Tenants';

/** Read in the transaction that produced `t`, so the plan named is the one it is on. */
async function tenantResult(tx: TenantTx, call: AdminCall<unknown, unknown>, t: ManagedTenant, status = 200): Promise<AdminResult> {
  return { status, body: presentTenant(t, await planNameOf(tx, t), call.actor.principal.role), etag: etagOf(t.version) };
}

export const tenantRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: '/tenants',
    operationId: 'listTenants',
    summary: 'List tenants (metadata only)',
    tag: TAG,
    permission: 'tenants.list',
    query: z.strictObject({ ...pageQuery, status: tenantStatus.optional() }),
    response: { status: 200, description: 'A page of tenants.', schema: listOf(tenantView) },
    async handle(call) {
      const after = decodeCursor('tenants', call.query.cursor);
      const { page, plans } = await call.env.store.platform(async (tx) => ({
        page: await tenantsManageRepo.list(tx, { after, limit: call.query.limit }, { status: call.query.status }),
        plans: new Map((await plansRepo.listAll(tx)).map((p) => [p.id, p.name])),
      }));
      return { status: 200, body: listBody('tenants', page, (t) => presentTenantSummary(t, t.planId === null ? null : (plans.get(t.planId) ?? null))) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/tenants',
    operationId: 'createTenant',
    summary: 'Create a tenant on a plan (tier)',
    tag: TAG,
    permission: 'tenants.create',
    body: createTenantBody,
    idempotent: true,
    response: { status: 201, description: 'The new tenant.', schema: tenantView },
    async handle(call) {
      const principalId = call.actor.principal.id;
      const id = call.idempotency === null ? randomUUID() : idempotentTenantId(call.env.pepper, principalId, call.idempotency.key);
      return createOnce(call.env, id, principalId, call.idempotency, async (tx) => {
        const t = await createTenant(tx, call.actor, call.body);
        return { result: { ...(await tenantResult(tx, call, t, 201)), location: `/admin/v1/tenants/${t.id}` } };
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/tenants/{tenant}',
    operationId: 'getTenant',
    summary: 'Get a tenant',
    tag: TAG,
    permission: 'tenants.read',
    response: { status: 200, description: 'The tenant.', schema: tenantView },
    async handle(call) {
      return read(call.env, tenantOf(call), async (tx) => {
        const t = await tenantsManageRepo.get(tx);
        if (t === null) throw notFound('tenant');
        return tenantResult(tx, call, t);
      });
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: '/tenants/{tenant}',
    operationId: 'updateTenant',
    summary: 'Change a tenant (tenant admins: time zone, budget action, response cache and request logs; platform admins: also name, plan, regions, models)',
    tag: TAG,
    permission: 'tenants.settings',
    body: patchTenantBody,
    ifMatch: 'required',
    response: { status: 200, description: 'The changed tenant.', schema: tenantView },
    async handle(call) {
      return write(call.env, tenantOf(call), async (tx) => tenantResult(tx, call, await updateTenant(tx, call.actor, call.body, call.ifMatch)));
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: '/tenants/{tenant}',
    operationId: 'deleteTenant',
    summary: 'Mark a tenant for deletion (suspended now, purged after the grace period)',
    tag: TAG,
    permission: 'tenants.lifecycle',
    ifMatch: 'required',
    response: { status: 202, description: 'The tenant, now `deleting`.', schema: tenantView },
    async handle(call) {
      return write(call.env, tenantOf(call), async (tx) => tenantResult(tx, call, await deleteTenant(tx, call.actor, call.ifMatch), 202));
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/tenants/{tenant}/suspend',
    operationId: 'suspendTenant',
    summary: 'Suspend a tenant: the data plane refuses its requests at once',
    tag: TAG,
    permission: 'tenants.lifecycle',
    body: emptyBody,
    bodyOptional: true,
    ifMatch: 'optional',
    response: { status: 200, description: 'The tenant.', schema: tenantView },
    async handle(call) {
      return write(call.env, tenantOf(call), async (tx) => tenantResult(tx, call, await setTenantStatus(tx, call.actor, 'suspended', call.ifMatch)));
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/tenants/{tenant}/resume',
    operationId: 'resumeTenant',
    summary: 'Resume a suspended tenant',
    tag: TAG,
    permission: 'tenants.lifecycle',
    body: emptyBody,
    bodyOptional: true,
    ifMatch: 'optional',
    response: { status: 200, description: 'The tenant.', schema: tenantView },
    async handle(call) {
      return write(call.env, tenantOf(call), async (tx) => tenantResult(tx, call, await setTenantStatus(tx, call.actor, 'active', call.ifMatch)));
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/fleet',
    operationId: 'getFleet',
    summary: 'Fleet overview: counts only, never content or secrets',
    tag: TAG,
    permission: 'fleet.read',
    response: { status: 200, description: 'Counts across every tenant.', schema: fleetView },
    async handle(call) {
      const c = await call.env.store.platform((tx) => tenantsManageRepo.fleetCounts(tx));
      return { status: 200, body: { object: 'fleet', tenants: c.tenants, teams: c.teams, domains: c.domains, api_keys: c.apiKeys } };
    },
  }),
];
