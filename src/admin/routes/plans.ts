/**
 * Platform scope: the plan catalogue. A change to a plan reaches every tenant on it: this
 * gateway's snapshot reloads before the response (notifyPlansChange), other replicas follow the
 * catalogue's change notification.
 */
import { z } from 'zod';
import { PLATFORM_SCOPE_ID } from '../../identity/roles.js';
import { plansRepo, type PlanRecord } from '../../store/index.js';
import { notifyPlansChange, type AdminEnv } from '../context.js';
import { decodeCursor, listBody, pageQuery } from '../http/cursor.js';
import { etagOf } from '../http/etag.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute, type AdminResult } from '../route.js';
import { createPlanBody, patchPlanBody, planView, presentPlan } from '../schemas/plans.js';
import { createPlan, deletePlan, findPlan, updatePlan } from '../services/plans.js';
import { createOnce } from '../tx.js';
import { listOf } from './lists.js';

const TAG = 'Plans';
const BASE = '/plans';

/** Tenants on each plan, through the platform role (the count crosses tenants). */
function tenantCounts(env: AdminEnv): Promise<Map<string, number>> {
  return env.store.platform((tx) => plansRepo.tenantCounts(tx));
}

function planResult(p: PlanRecord, tenants: number, status = 200): AdminResult {
  return { status, body: presentPlan(p, tenants), etag: etagOf(p.version) };
}

export const planRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: BASE,
    operationId: 'listPlans',
    summary: 'List plans',
    tag: TAG,
    permission: 'plans.read',
    query: z.strictObject({ ...pageQuery }),
    response: { status: 200, description: 'A page of plans, by name.', schema: listOf(planView) },
    async handle(call) {
      const after = decodeCursor('plans', call.query.cursor);
      const { page, counts } = await call.env.store.platform(async (tx) => ({
        page: await plansRepo.list(tx, { after, limit: call.query.limit }),
        counts: await plansRepo.tenantCounts(tx),
      }));
      return { status: 200, body: listBody('plans', page, (p) => presentPlan(p, counts.get(p.id) ?? 0)) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: BASE,
    operationId: 'createPlan',
    summary: 'Create a plan',
    tag: TAG,
    permission: 'plans.write',
    body: createPlanBody,
    idempotent: true,
    response: { status: 201, description: 'The new plan.', schema: planView },
    async handle(call) {
      const result = await createOnce(call.env, PLATFORM_SCOPE_ID, call.actor.principal.id, call.idempotency, async (tx) => {
        const p = await createPlan(tx, call.actor, call.body);
        return { result: { ...planResult(p, 0, 201), location: `/admin/v1/plans/${p.id}` } };
      });
      if (result.replayed !== true) await notifyPlansChange(call.env);
      return result;
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${BASE}/{plan}`,
    operationId: 'getPlan',
    summary: 'Get a plan (by id or name)',
    tag: TAG,
    permission: 'plans.read',
    response: { status: 200, description: 'The plan.', schema: planView },
    async handle(call) {
      const found = await call.env.store.platform(async (tx) => {
        const p = await findPlan(tx, call.params.plan ?? '');
        return p === null ? null : { p, counts: await plansRepo.tenantCounts(tx) };
      });
      if (found === null) throw notFound('plan');
      return planResult(found.p, found.counts.get(found.p.id) ?? 0);
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${BASE}/{plan}`,
    operationId: 'updatePlan',
    summary: 'Change a plan: every tenant on it gets the change at once',
    tag: TAG,
    permission: 'plans.write',
    body: patchPlanBody,
    ifMatch: 'required',
    response: { status: 200, description: 'The changed plan.', schema: planView },
    async handle(call) {
      const p = await call.env.store.withTenant(PLATFORM_SCOPE_ID, (tx) => updatePlan(tx, call.actor, call.params.plan ?? '', call.body, call.ifMatch));
      await notifyPlansChange(call.env);
      return planResult(p, (await tenantCounts(call.env)).get(p.id) ?? 0);
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${BASE}/{plan}`,
    operationId: 'deletePlan',
    summary: 'Delete a plan no tenant is on',
    tag: TAG,
    permission: 'plans.write',
    ifMatch: 'required',
    response: { status: 204, description: 'Deleted.' },
    async handle(call) {
      const counts = await tenantCounts(call.env);
      await call.env.store.withTenant(PLATFORM_SCOPE_ID, (tx) =>
        deletePlan(tx, call.actor, call.params.plan ?? '', call.ifMatch, (id) => counts.get(id) ?? 0),
      );
      await notifyPlansChange(call.env);
      return { status: 204 };
    },
  }),
];
