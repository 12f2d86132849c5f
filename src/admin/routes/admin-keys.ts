/**
 * Admin API keys: the same four routes in the platform scope (/admin-keys: platform roles) and
 * in each tenant (/tenants/{tenant}/admin-keys: tenant roles).
 */
import { z } from 'zod';
import { PLATFORM_SCOPE_ID } from '../../identity/roles.js';
import { adminKeysRepo } from '../../store/index.js';
import type { AdminCall } from '../route.js';
import { decodeCursor, listBody, pageQuery } from '../http/cursor.js';
import { etagOf } from '../http/etag.js';
import type { Permission } from '../permissions.js';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { adminKeyQuery, adminKeyView, createPlatformAdminKeyBody, createTenantAdminKeyBody, presentAdminKey } from '../schemas/admin-keys.js';
import { isUuidText } from '../schemas/ids.js';
import { createAdminKey, revokeAdminKey, type AdminKeyInput } from '../services/admin-keys.js';
import { createOnce, read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

interface Scope {
  base: string;
  tag: string;
  idPrefix: string;
  read: Permission;
  write: Permission;
  scopeId(call: AdminCall<unknown, unknown>): string;
  location(scopeId: string, keyId: string): string;
}

function routesFor(s: Scope, body: z.ZodType<AdminKeyInput>): AdminRoute[] {
  return [
    defineRoute({
      method: 'GET',
      path: s.base,
      operationId: `list${s.idPrefix}AdminKeys`,
      summary: 'List admin keys (never their secrets)',
      tag: s.tag,
      permission: s.read,
      query: z.strictObject({ ...pageQuery, ...adminKeyQuery }),
      response: { status: 200, description: 'A page of admin keys.', schema: listOf(adminKeyView) },
      async handle(call) {
        const after = decodeCursor(`admin-keys`, call.query.cursor, isUuidText);
        const page = await read(call.env, s.scopeId(call), (tx) =>
          adminKeysRepo.list(tx, { after, limit: call.query.limit }, { role: call.query.role, active: call.query.active }),
        );
        const now = call.env.now();
        return { status: 200, body: listBody('admin-keys', page, (k) => presentAdminKey(k, now)) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: s.base,
      operationId: `create${s.idPrefix}AdminKey`,
      summary: 'Create an admin key; the response shows the secret once',
      tag: s.tag,
      permission: s.write,
      body,
      idempotent: true,
      response: { status: 201, description: 'The new admin key, with `key` set to the secret.', schema: adminKeyView },
      async handle(call) {
        const scopeId = s.scopeId(call);
        const now = call.env.now();
        return createOnce(call.env, scopeId, call.actor.principal.id, call.idempotency, async (tx) => {
          const { key, secret } = await createAdminKey(tx, call.actor, call.env.pepper, call.body, now);
          const view = presentAdminKey(key, now);
          return {
            result: { status: 201, body: { ...view, key: secret }, etag: etagOf(key.version), location: s.location(scopeId, key.id) },
            replayBody: { ...view, key: null },
          };
        });
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${s.base}/{admin_key}`,
      operationId: `get${s.idPrefix}AdminKey`,
      summary: 'Get an admin key (never its secret)',
      tag: s.tag,
      permission: s.read,
      response: { status: 200, description: 'The admin key.', schema: adminKeyView },
      async handle(call) {
        const k = await read(call.env, s.scopeId(call), (tx) => adminKeysRepo.get(tx, call.params.admin_key ?? ''));
        if (k === null) throw notFound('admin key');
        return { status: 200, body: presentAdminKey(k, call.env.now()), etag: etagOf(k.version) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${s.base}/{admin_key}/revoke`,
      operationId: `revoke${s.idPrefix}AdminKey`,
      summary: 'Revoke an admin key at once (idempotent)',
      tag: s.tag,
      permission: s.write,
      ifMatch: 'optional',
      response: { status: 200, description: 'The revoked admin key.', schema: adminKeyView },
      async handle(call) {
        const k = await write(call.env, s.scopeId(call), (tx) => revokeAdminKey(tx, call.actor, call.params.admin_key ?? '', call.ifMatch));
        return { status: 200, body: presentAdminKey(k, call.env.now()), etag: etagOf(k.version) };
      },
    }),
  ];
}

export const adminKeyRoutes: AdminRoute[] = [
  ...routesFor(
    {
      base: '/admin-keys',
      tag: 'Platform admin keys',
      idPrefix: 'Platform',
      read: 'platform_keys.read',
      write: 'platform_keys.write',
      scopeId: () => PLATFORM_SCOPE_ID,
      location: (_scope, id) => `/admin/v1/admin-keys/${id}`,
    },
    createPlatformAdminKeyBody,
  ),
  ...routesFor(
    {
      base: '/tenants/{tenant}/admin-keys',
      tag: 'Tenant admin keys',
      idPrefix: 'Tenant',
      read: 'admin_keys.read',
      write: 'admin_keys.write',
      scopeId: tenantOf,
      location: (scope, id) => `/admin/v1/tenants/${scope}/admin-keys/${id}`,
    },
    createTenantAdminKeyBody,
  ),
];
