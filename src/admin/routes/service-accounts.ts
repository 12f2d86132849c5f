/** Tenant scope: service accounts. */
import { z } from 'zod';
import { serviceAccountsRepo } from '../../store/index.js';
import { decodeCursor, listBody, pageQuery } from '../http/cursor.js';
import { etagOf } from '../http/etag.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import {
  createServiceAccountBody,
  patchServiceAccountBody,
  presentServiceAccount,
  serviceAccountView,
} from '../schemas/service-accounts.js';
import { createServiceAccount, deleteServiceAccount, updateServiceAccount } from '../services/service-accounts.js';
import { createOnce, read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const TAG = 'Service accounts';
const BASE = '/tenants/{tenant}/service-accounts';

export const serviceAccountRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: BASE,
    operationId: 'listServiceAccounts',
    summary: 'List service accounts',
    tag: TAG,
    permission: 'service_accounts.read',
    query: z.strictObject({ ...pageQuery }),
    response: { status: 200, description: 'A page of service accounts, by name.', schema: listOf(serviceAccountView) },
    async handle(call) {
      const after = decodeCursor('service-accounts', call.query.cursor);
      const page = await read(call.env, tenantOf(call), (tx) => serviceAccountsRepo.list(tx, { after, limit: call.query.limit }));
      return { status: 200, body: listBody('service-accounts', page, presentServiceAccount) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: BASE,
    operationId: 'createServiceAccount',
    summary: 'Create a service account',
    tag: TAG,
    permission: 'service_accounts.write',
    body: createServiceAccountBody,
    idempotent: true,
    response: { status: 201, description: 'The new service account.', schema: serviceAccountView },
    async handle(call) {
      const tenantId = tenantOf(call);
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) => {
        const s = await createServiceAccount(tx, call.actor, call.body);
        return {
          result: { status: 201, body: presentServiceAccount(s), etag: etagOf(s.version), location: `/admin/v1/tenants/${tenantId}/service-accounts/${s.id}` },
        };
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${BASE}/{service_account}`,
    operationId: 'getServiceAccount',
    summary: 'Get a service account',
    tag: TAG,
    permission: 'service_accounts.read',
    response: { status: 200, description: 'The service account.', schema: serviceAccountView },
    async handle(call) {
      const s = await read(call.env, tenantOf(call), (tx) => serviceAccountsRepo.get(tx, call.params.service_account ?? ''));
      if (s === null) throw notFound('service account');
      return { status: 200, body: presentServiceAccount(s), etag: etagOf(s.version) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${BASE}/{service_account}`,
    operationId: 'updateServiceAccount',
    summary: 'Change or disable a service account',
    tag: TAG,
    permission: 'service_accounts.write',
    body: patchServiceAccountBody,
    ifMatch: 'required',
    response: { status: 200, description: 'The changed service account.', schema: serviceAccountView },
    async handle(call) {
      const s = await write(call.env, tenantOf(call), (tx) =>
        updateServiceAccount(tx, call.actor, call.params.service_account ?? '', call.body, call.ifMatch),
      );
      return { status: 200, body: presentServiceAccount(s), etag: etagOf(s.version) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${BASE}/{service_account}`,
    operationId: 'deleteServiceAccount',
    summary: 'Delete a service account (its admin keys go with it; its API keys are revoked)',
    tag: TAG,
    permission: 'service_accounts.write',
    ifMatch: 'required',
    response: { status: 204, description: 'Deleted.' },
    async handle(call) {
      await write(call.env, tenantOf(call), (tx) => deleteServiceAccount(tx, call.actor, call.params.service_account ?? '', call.ifMatch));
      return { status: 204 };
    },
  }),
];
