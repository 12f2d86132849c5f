/**
 * Tenant scope: dedicated deployments (the tenant's own upstreams, with its own provider
 * credentials) and model aliases. Base URLs are checked against the outbound address rules
 * before the transaction (DNS), then again at every connection (src/routing/ssrf.ts).
 */
import { z } from 'zod';
import { modelAliasesRepo, tenantDeploymentsRepo } from '../../store/index.js';
import { decodeCursor, listBody, pageQuery } from '../http/cursor.js';
import { etagOf } from '../http/etag.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { isUuidText } from '../schemas/ids.js';
import {
  aliasView,
  createDeploymentBody,
  deploymentView,
  patchDeploymentBody,
  presentAlias,
  presentDeployment,
  putAliasBody,
} from '../schemas/tenant-deployments.js';
import { assertOutboundAllowed } from '../services/outbound.js';
import { createDeployment, deleteAlias, deleteDeployment, putAlias, updateDeployment } from '../services/tenant-deployments.js';
import { createOnce, read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const DEPLOYMENTS = '/tenants/{tenant}/deployments';
const ALIASES = '/tenants/{tenant}/aliases';

export const tenantDeploymentRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: DEPLOYMENTS,
    operationId: 'listDeployments',
    summary: "List the tenant's dedicated deployments",
    tag: 'Deployments',
    permission: 'deployments.read',
    query: z.strictObject({ ...pageQuery }),
    response: { status: 200, description: 'A page of deployments, by id.', schema: listOf(deploymentView) },
    async handle(call) {
      const after = decodeCursor('deployments', call.query.cursor, isUuidText);
      const page = await read(call.env, tenantOf(call), (tx) => tenantDeploymentsRepo.page(tx, { after, limit: call.query.limit }));
      return { status: 200, body: listBody('deployments', page, presentDeployment) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: DEPLOYMENTS,
    operationId: 'createDeployment',
    summary: 'Create a dedicated deployment (served to this tenant only)',
    tag: 'Deployments',
    permission: 'deployments.write',
    body: createDeploymentBody,
    idempotent: true,
    response: { status: 201, description: 'The deployment.', schema: deploymentView },
    async handle(call) {
      const tenantId = tenantOf(call);
      await assertOutboundAllowed(call.env, call.body.base_url, 'base_url');
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) => {
        const d = await createDeployment(tx, call.actor, call.body);
        return { result: { status: 201, body: presentDeployment(d), etag: etagOf(d.stamp), location: `/admin/v1/tenants/${tenantId}/deployments/${d.id}` } };
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${DEPLOYMENTS}/{deployment}`,
    operationId: 'getDeployment',
    summary: 'Get a dedicated deployment',
    tag: 'Deployments',
    permission: 'deployments.read',
    response: { status: 200, description: 'The deployment.', schema: deploymentView },
    async handle(call) {
      const d = await read(call.env, tenantOf(call), (tx) => tenantDeploymentsRepo.get(tx, call.params.deployment ?? ''));
      if (d === null) throw notFound('deployment');
      return { status: 200, body: presentDeployment(d), etag: etagOf(d.stamp) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${DEPLOYMENTS}/{deployment}`,
    operationId: 'updateDeployment',
    summary: 'Change a dedicated deployment',
    tag: 'Deployments',
    permission: 'deployments.write',
    body: patchDeploymentBody,
    ifMatch: 'required',
    response: { status: 200, description: 'The changed deployment.', schema: deploymentView },
    async handle(call) {
      await assertOutboundAllowed(call.env, call.body.base_url, 'base_url');
      const d = await write(call.env, tenantOf(call), (tx) => updateDeployment(tx, call.actor, call.params.deployment ?? '', call.body, call.ifMatch));
      return { status: 200, body: presentDeployment(d), etag: etagOf(d.stamp) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${DEPLOYMENTS}/{deployment}`,
    operationId: 'deleteDeployment',
    summary: 'Delete a dedicated deployment',
    tag: 'Deployments',
    permission: 'deployments.write',
    ifMatch: 'required',
    response: { status: 204, description: 'Deleted.' },
    async handle(call) {
      await write(call.env, tenantOf(call), (tx) => deleteDeployment(tx, call.actor, call.params.deployment ?? '', call.ifMatch));
      return { status: 204 };
    },
  }),
  defineRoute({
    method: 'GET',
    path: ALIASES,
    operationId: 'listModelAliases',
    summary: "List the tenant's model aliases",
    tag: 'Deployments',
    permission: 'deployments.read',
    response: { status: 200, description: 'Every alias, by name (at most a few hundred).', schema: listOf(aliasView) },
    async handle(call) {
      const aliases = await read(call.env, tenantOf(call), (tx) => modelAliasesRepo.list(tx));
      return { status: 200, body: { object: 'list', data: aliases.map(presentAlias), next_cursor: null } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: ALIASES,
    operationId: 'putModelAlias',
    summary: 'Create or repoint a model alias (alias → model)',
    tag: 'Deployments',
    permission: 'deployments.write',
    body: putAliasBody,
    response: { status: 201, description: 'The alias (201 when created, 200 when repointed).', schema: aliasView },
    async handle(call) {
      const r = await write(call.env, tenantOf(call), (tx) => putAlias(tx, call.actor, call.body.alias, call.body.model));
      return { status: r.created ? 201 : 200, body: presentAlias(r.alias), etag: etagOf(r.alias.stamp) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${ALIASES}/{alias}`,
    operationId: 'deleteModelAlias',
    summary: 'Delete a model alias',
    tag: 'Deployments',
    permission: 'deployments.write',
    response: { status: 204, description: 'Deleted.' },
    async handle(call) {
      await write(call.env, tenantOf(call), (tx) => deleteAlias(tx, call.actor, call.params.alias ?? ''));
      return { status: 204 };
    },
  }),
];
