/**
 * Tenant scope: limits. The effective view (plan rules and the tenant's own, as enforced) and
 * the tenant's own rules, which override plan rules of the same id or add rules of their own.
 * Rule ids are names the tenant chooses (or the plan's rule ids), so they are the path segment.
 */
import { MAX_RULES } from '../../limits/rules-schema.js';
import { limitRulesRepo } from '../../store/index.js';
import { etagOf } from '../http/etag.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { limitsView, patchRuleBody, presentRule, ruleBody, ruleView } from '../schemas/limits.js';
import { createRule, deleteRule, effectiveLimits, updateRule } from '../services/limits.js';
import { createOnce, read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const TAG = 'Limits';
const BASE = '/tenants/{tenant}/limits';

export const limitRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: BASE,
    operationId: 'getLimits',
    summary: 'Get the tenant\'s effective limits: its plan\'s rules and its own',
    tag: TAG,
    permission: 'limits.read',
    response: { status: 200, description: 'The effective limits.', schema: limitsView },
    async handle(call) {
      const e = await read(call.env, tenantOf(call), (tx) => effectiveLimits(tx));
      return {
        status: 200,
        body: { object: 'limits', plan: e.plan, time_zone: e.timeZone, budget_action: e.budgetAction, rules: e.rules },
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${BASE}/rules`,
    operationId: 'listLimitRules',
    summary: 'List the tenant\'s own limit rules (overrides and additions)',
    tag: TAG,
    permission: 'limits.read',
    response: {
      status: 200,
      description: `Every rule of the tenant, by id (at most ${MAX_RULES}: one page).`,
      schema: listOf(ruleView),
    },
    async handle(call) {
      const rules = await read(call.env, tenantOf(call), (tx) => limitRulesRepo.list(tx));
      return { status: 200, body: { object: 'list', data: rules.map(presentRule), next_cursor: null } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${BASE}/rules`,
    operationId: 'createLimitRule',
    summary: 'Add a limit rule, or override the plan rule of the same id (tenant admins: within the plan)',
    tag: TAG,
    permission: 'limits.write',
    body: ruleBody,
    idempotent: true,
    response: { status: 201, description: 'The new rule.', schema: ruleView },
    async handle(call) {
      const tenantId = tenantOf(call);
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) => {
        const r = await createRule(tx, call.actor, call.body);
        return {
          result: {
            status: 201,
            body: presentRule(r),
            etag: etagOf(r.version),
            location: `/admin/v1/tenants/${tenantId}/limits/rules/${encodeURIComponent(r.id)}`,
          },
        };
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${BASE}/rules/{rule}`,
    operationId: 'getLimitRule',
    summary: 'Get one of the tenant\'s limit rules',
    tag: TAG,
    permission: 'limits.read',
    response: { status: 200, description: 'The rule.', schema: ruleView },
    async handle(call) {
      const r = await read(call.env, tenantOf(call), (tx) => limitRulesRepo.get(tx, call.params.rule ?? ''));
      if (r === null) throw notFound('limit rule');
      return { status: 200, body: presentRule(r), etag: etagOf(r.version) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${BASE}/rules/{rule}`,
    operationId: 'updateLimitRule',
    summary: 'Change a limit rule (tenant admins: within the plan)',
    tag: TAG,
    permission: 'limits.write',
    body: patchRuleBody,
    ifMatch: 'required',
    response: { status: 200, description: 'The changed rule.', schema: ruleView },
    async handle(call) {
      const r = await write(call.env, tenantOf(call), (tx) => updateRule(tx, call.actor, call.params.rule ?? '', call.body, call.ifMatch));
      return { status: 200, body: presentRule(r), etag: etagOf(r.version) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${BASE}/rules/{rule}`,
    operationId: 'deleteLimitRule',
    summary: 'Delete a limit rule; an override gives way to the plan\'s rule again',
    tag: TAG,
    permission: 'limits.write',
    ifMatch: 'required',
    response: { status: 204, description: 'Deleted.' },
    async handle(call) {
      await write(call.env, tenantOf(call), (tx) => deleteRule(tx, call.actor, call.params.rule ?? '', call.ifMatch));
      return { status: 204 };
    },
  }),
];
