/** Tenant scope: provider credentials (bring your own key) and webhooks. Secrets are write-only. */
import { z } from 'zod';
import { sealedManageRepo } from '../../store/index.js';
import { decodeCursor, listBody, pageQuery } from '../http/cursor.js';
import { etagOf } from '../http/etag.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { isUuidText } from '../schemas/ids.js';
import {
  createCredentialBody,
  createWebhookBody,
  credentialView,
  patchWebhookBody,
  presentCredential,
  presentWebhook,
  replaceSecretBody,
  webhookView,
} from '../schemas/secrets.js';
import { createCredential, createWebhook, deleteCredential, deleteWebhook, replaceCredentialSecret, updateWebhook } from '../services/secrets.js';
import { assertOutboundAllowed } from '../services/outbound.js';
import { createOnce, read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const CREDS = '/tenants/{tenant}/provider-credentials';
const HOOKS = '/tenants/{tenant}/webhooks';

export const secretRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: CREDS,
    operationId: 'listProviderCredentials',
    summary: 'List provider credentials (metadata; never the secret)',
    tag: 'Provider credentials',
    permission: 'provider_credentials.read',
    query: z.strictObject({ ...pageQuery }),
    response: { status: 200, description: 'A page of credentials, by name.', schema: listOf(credentialView) },
    async handle(call) {
      const after = decodeCursor('provider-credentials', call.query.cursor);
      const page = await read(call.env, tenantOf(call), (tx) => sealedManageRepo.credentials(tx, { after, limit: call.query.limit }));
      return { status: 200, body: listBody('provider-credentials', page, presentCredential) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: CREDS,
    operationId: 'createProviderCredential',
    summary: "Store a provider credential, encrypted with the tenant's key",
    tag: 'Provider credentials',
    permission: 'provider_credentials.write',
    body: createCredentialBody,
    idempotent: true,
    response: { status: 201, description: 'The credential (without its secret).', schema: credentialView },
    async handle(call) {
      const tenantId = tenantOf(call);
      await assertOutboundAllowed(call.env, call.body.base_url, 'base_url');
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) => {
        const c = await createCredential(tx, call.actor, call.env.sealer, call.body);
        return { result: { status: 201, body: presentCredential(c), etag: etagOf(c.stamp), location: `/admin/v1/tenants/${tenantId}/provider-credentials/${c.id}` } };
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${CREDS}/{provider_credential}`,
    operationId: 'getProviderCredential',
    summary: 'Get a provider credential (never the secret)',
    tag: 'Provider credentials',
    permission: 'provider_credentials.read',
    response: { status: 200, description: 'The credential.', schema: credentialView },
    async handle(call) {
      const c = await read(call.env, tenantOf(call), (tx) => sealedManageRepo.credential(tx, call.params.provider_credential ?? ''));
      if (c === null) throw notFound('provider credential');
      return { status: 200, body: presentCredential(c), etag: etagOf(c.stamp) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${CREDS}/{provider_credential}/secret`,
    operationId: 'replaceProviderCredentialSecret',
    summary: 'Replace the secret of a provider credential',
    tag: 'Provider credentials',
    permission: 'provider_credentials.write',
    body: replaceSecretBody,
    ifMatch: 'optional',
    response: { status: 200, description: 'The credential (without its secret).', schema: credentialView },
    async handle(call) {
      const c = await write(call.env, tenantOf(call), (tx) =>
        replaceCredentialSecret(tx, call.actor, call.env.sealer, call.params.provider_credential ?? '', call.body, call.ifMatch),
      );
      return { status: 200, body: presentCredential(c), etag: etagOf(c.stamp) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${CREDS}/{provider_credential}`,
    operationId: 'deleteProviderCredential',
    summary: 'Delete a provider credential',
    tag: 'Provider credentials',
    permission: 'provider_credentials.write',
    ifMatch: 'required',
    response: { status: 204, description: 'Deleted.' },
    async handle(call) {
      await write(call.env, tenantOf(call), (tx) => deleteCredential(tx, call.actor, call.params.provider_credential ?? '', call.ifMatch));
      return { status: 204 };
    },
  }),
  defineRoute({
    method: 'GET',
    path: HOOKS,
    operationId: 'listWebhooks',
    summary: 'List webhooks (never their signing secrets)',
    tag: 'Webhooks',
    permission: 'webhooks.read',
    query: z.strictObject({ ...pageQuery }),
    response: { status: 200, description: 'A page of webhooks.', schema: listOf(webhookView) },
    async handle(call) {
      const after = decodeCursor('webhooks', call.query.cursor, isUuidText);
      const page = await read(call.env, tenantOf(call), (tx) => sealedManageRepo.webhooks(tx, { after, limit: call.query.limit }));
      return { status: 200, body: listBody('webhooks', page, presentWebhook) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: HOOKS,
    operationId: 'createWebhook',
    summary: 'Create a webhook with a write-only signing secret',
    tag: 'Webhooks',
    permission: 'webhooks.write',
    body: createWebhookBody,
    idempotent: true,
    response: { status: 201, description: 'The webhook (without its secret).', schema: webhookView },
    async handle(call) {
      const tenantId = tenantOf(call);
      await assertOutboundAllowed(call.env, call.body.url, 'url');
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) => {
        const w = await createWebhook(tx, call.actor, call.env.sealer, call.body);
        return { result: { status: 201, body: presentWebhook(w), etag: etagOf(w.stamp), location: `/admin/v1/tenants/${tenantId}/webhooks/${w.id}` } };
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${HOOKS}/{webhook}`,
    operationId: 'getWebhook',
    summary: 'Get a webhook',
    tag: 'Webhooks',
    permission: 'webhooks.read',
    response: { status: 200, description: 'The webhook.', schema: webhookView },
    async handle(call) {
      const w = await read(call.env, tenantOf(call), (tx) => sealedManageRepo.webhook(tx, call.params.webhook ?? ''));
      if (w === null) throw notFound('webhook');
      return { status: 200, body: presentWebhook(w), etag: etagOf(w.stamp) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${HOOKS}/{webhook}`,
    operationId: 'updateWebhook',
    summary: 'Change a webhook (URL, events, enabled)',
    tag: 'Webhooks',
    permission: 'webhooks.write',
    body: patchWebhookBody,
    ifMatch: 'required',
    response: { status: 200, description: 'The changed webhook.', schema: webhookView },
    async handle(call) {
      await assertOutboundAllowed(call.env, call.body.url, 'url');
      const w = await write(call.env, tenantOf(call), (tx) => updateWebhook(tx, call.actor, call.params.webhook ?? '', call.body, call.ifMatch));
      return { status: 200, body: presentWebhook(w), etag: etagOf(w.stamp) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${HOOKS}/{webhook}`,
    operationId: 'deleteWebhook',
    summary: 'Delete a webhook',
    tag: 'Webhooks',
    permission: 'webhooks.write',
    ifMatch: 'required',
    response: { status: 204, description: 'Deleted.' },
    async handle(call) {
      await write(call.env, tenantOf(call), (tx) => deleteWebhook(tx, call.actor, call.params.webhook ?? '', call.ifMatch));
      return { status: 204 };
    },
  }),
];
