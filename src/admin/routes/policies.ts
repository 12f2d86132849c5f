/** Tenant scope: declarative policies. */
import { z } from 'zod';
import { policiesRepo } from '../../store/index.js';
import { decodeCursor, listBody, pageQuery } from '../http/cursor.js';
import { etagOf } from '../http/etag.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { createPolicyBody, patchPolicyBody, policyQuery, policyView, presentPolicy } from '../schemas/policies.js';
import { createPolicy, deletePolicy, updatePolicy } from '../services/policies.js';
import { createOnce, read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const TAG = 'Policies';
const BASE = '/tenants/{tenant}/policies';

export const policyRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: BASE,
    operationId: 'listPolicies',
    summary: 'List policies',
    tag: TAG,
    permission: 'policies.read',
    query: z.strictObject({ ...pageQuery, ...policyQuery }),
    response: { status: 200, description: 'A page of policies, by name.', schema: listOf(policyView) },
    async handle(call) {
      const after = decodeCursor('policies', call.query.cursor);
      const page = await read(call.env, tenantOf(call), (tx) =>
        policiesRepo.list(tx, { after, limit: call.query.limit }, { enabled: call.query.enabled }),
      );
      return { status: 200, body: listBody('policies', page, presentPolicy) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: BASE,
    operationId: 'createPolicy',
    summary: 'Create a policy',
    tag: TAG,
    permission: 'policies.write',
    body: createPolicyBody,
    idempotent: true,
    response: { status: 201, description: 'The new policy.', schema: policyView },
    async handle(call) {
      const tenantId = tenantOf(call);
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) => {
        const p = await createPolicy(tx, call.actor, { ...call.body, description: call.body.description ?? '' });
        return { result: { status: 201, body: presentPolicy(p), etag: etagOf(p.version), location: `/admin/v1/tenants/${tenantId}/policies/${p.id}` } };
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${BASE}/{policy}`,
    operationId: 'getPolicy',
    summary: 'Get a policy',
    tag: TAG,
    permission: 'policies.read',
    response: { status: 200, description: 'The policy.', schema: policyView },
    async handle(call) {
      const p = await read(call.env, tenantOf(call), (tx) => policiesRepo.get(tx, call.params.policy ?? ''));
      if (p === null) throw notFound('policy');
      return { status: 200, body: presentPolicy(p), etag: etagOf(p.version) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${BASE}/{policy}`,
    operationId: 'updatePolicy',
    summary: 'Change a policy (the document is replaced whole)',
    tag: TAG,
    permission: 'policies.write',
    body: patchPolicyBody,
    ifMatch: 'required',
    response: { status: 200, description: 'The changed policy.', schema: policyView },
    async handle(call) {
      const p = await write(call.env, tenantOf(call), (tx) => updatePolicy(tx, call.actor, call.params.policy ?? '', call.body, call.ifMatch));
      return { status: 200, body: presentPolicy(p), etag: etagOf(p.version) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${BASE}/{policy}`,
    operationId: 'deletePolicy',
    summary: 'Delete a policy',
    tag: TAG,
    permission: 'policies.write',
    ifMatch: 'required',
    response: { status: 204, description: 'Deleted.' },
    async handle(call) {
      await write(call.env, tenantOf(call), (tx) => deletePolicy(tx, call.actor, call.params.policy ?? '', call.ifMatch));
      return { status: 204 };
    },
  }),
];
