/** Tenant scope: data-plane API keys. */
import { z } from 'zod';
import { apiKeysManageRepo } from '../../store/index.js';
import type { Role } from '../../identity/roles.js';
import { decodeCursor, listBody, pageQuery } from '../http/cursor.js';
import { etagOf } from '../http/etag.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminResult, type AdminRoute } from '../route.js';
import { isUuidText } from '../schemas/ids.js';
import { apiKeyQuery, apiKeyView, createApiKeyBody, patchApiKeyBody, presentApiKey, rotateApiKeyBody } from '../schemas/api-keys.js';
import { createApiKey, revokeApiKey, rotateApiKey, updateApiKey, type IssuedKey } from '../services/api-keys.js';
import type { Creation } from '../tx.js';
import { createOnce, read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const TAG = 'API keys';
const BASE = '/tenants/{tenant}/api-keys';

/** The creation response shows the secret; the stored replay body has `key: null`. */
function issuedResult(tenantId: string, issued: IssuedKey, role: Role, now: Date): Creation {
  const view = presentApiKey(issued.key, role, now);
  const result: AdminResult = {
    status: 201,
    body: { ...view, key: issued.secret },
    etag: etagOf(issued.key.version),
    location: `/admin/v1/tenants/${tenantId}/api-keys/${issued.key.id}`,
  };
  return { result, replayBody: { ...view, key: null } };
}

export const apiKeyRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: BASE,
    operationId: 'listApiKeys',
    summary: 'List API keys (metadata; fields depend on the role)',
    tag: TAG,
    permission: 'api_keys.read',
    query: z.strictObject({ ...pageQuery, ...apiKeyQuery }),
    response: { status: 200, description: 'A page of keys.', schema: listOf(apiKeyView) },
    async handle(call) {
      const after = decodeCursor('api-keys', call.query.cursor, isUuidText);
      const page = await read(call.env, tenantOf(call), (tx) =>
        apiKeysManageRepo.list(tx, { after, limit: call.query.limit }, { teamId: call.query.team_id, status: call.query.status, name: call.query.name }),
      );
      const now = call.env.now();
      return { status: 200, body: listBody('api-keys', page, (k) => presentApiKey(k, call.actor.principal.role, now)) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: BASE,
    operationId: 'createApiKey',
    summary: 'Create an API key; the response shows the secret once',
    tag: TAG,
    permission: 'api_keys.write',
    body: createApiKeyBody,
    idempotent: true,
    response: { status: 201, description: 'The new key, with `key` set to the secret.', schema: apiKeyView },
    async handle(call) {
      const tenantId = tenantOf(call);
      const now = call.env.now();
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) =>
        issuedResult(tenantId, await createApiKey(tx, call.actor, call.env.pepper, call.body, now), call.actor.principal.role, now),
      );
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${BASE}/{api_key}`,
    operationId: 'getApiKey',
    summary: 'Get an API key (never its secret)',
    tag: TAG,
    permission: 'api_keys.read',
    response: { status: 200, description: 'The key.', schema: apiKeyView },
    async handle(call) {
      const k = await read(call.env, tenantOf(call), (tx) => apiKeysManageRepo.get(tx, call.params.api_key ?? ''));
      if (k === null) throw notFound('API key');
      return { status: 200, body: presentApiKey(k, call.actor.principal.role, call.env.now()), etag: etagOf(k.version) };
    },
  }),
  defineRoute({
    method: 'PATCH',
    path: `${BASE}/{api_key}`,
    operationId: 'updateApiKey',
    summary: 'Change an API key (name, team, scopes, models, expiry)',
    tag: TAG,
    permission: 'api_keys.write',
    body: patchApiKeyBody,
    ifMatch: 'required',
    response: { status: 200, description: 'The changed key.', schema: apiKeyView },
    async handle(call) {
      const now = call.env.now();
      const k = await write(call.env, tenantOf(call), (tx) => updateApiKey(tx, call.actor, call.params.api_key ?? '', call.body, call.ifMatch, now));
      return { status: 200, body: presentApiKey(k, call.actor.principal.role, now), etag: etagOf(k.version) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${BASE}/{api_key}/rotate`,
    operationId: 'rotateApiKey',
    summary: 'Rotate: a new key now (secret shown once); the old one expires after the grace period',
    tag: TAG,
    permission: 'api_keys.write',
    body: rotateApiKeyBody,
    bodyOptional: true,
    ifMatch: 'optional',
    idempotent: true,
    response: { status: 201, description: 'The replacement key, with `key` set to the secret.', schema: apiKeyView },
    async handle(call) {
      const tenantId = tenantOf(call);
      const now = call.env.now();
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) => {
        const rotated = await rotateApiKey(tx, call.actor, call.env.pepper, call.params.api_key ?? '', call.body.grace_period_seconds, call.ifMatch, now);
        return issuedResult(tenantId, rotated, call.actor.principal.role, now);
      });
    },
  }),
  defineRoute({
    method: 'POST',
    path: `${BASE}/{api_key}/revoke`,
    operationId: 'revokeApiKey',
    summary: 'Revoke an API key at once (idempotent)',
    tag: TAG,
    permission: 'api_keys.write',
    ifMatch: 'optional',
    response: { status: 200, description: 'The revoked key.', schema: apiKeyView },
    async handle(call) {
      const k = await write(call.env, tenantOf(call), (tx) => revokeApiKey(tx, call.actor, call.params.api_key ?? '', call.ifMatch));
      return { status: 200, body: presentApiKey(k, call.actor.principal.role, call.env.now()), etag: etagOf(k.version) };
    },
  }),
];
