/** Tenant scope: identity providers whose JWTs authenticate on the data plane and sign in here. */
import { z } from 'zod';
import { notFound } from '../problems.js';
import { defineRoute, type AdminRoute } from '../route.js';
import { createJwtIssuerBody, jwtIssuerView, presentJwtIssuer } from '../schemas/jwt-issuers.js';
import { findIssuer, listIssuers, registerIssuer, removeIssuer } from '../services/jwt-issuers.js';
import { assertOutboundAllowed } from '../services/outbound.js';
import { createOnce, read, write } from '../tx.js';
import { listOf, tenantOf } from './lists.js';

const TAG = 'Identity providers';
const BASE = '/tenants/{tenant}/jwt-issuers';

export const jwtIssuerRoutes: AdminRoute[] = [
  defineRoute({
    method: 'GET',
    path: BASE,
    operationId: 'listJwtIssuers',
    summary: 'List identity providers',
    tag: TAG,
    permission: 'jwt_issuers.read',
    query: z.strictObject({}),
    response: { status: 200, description: 'Every registration (at most 20, one page).', schema: listOf(jwtIssuerView) },
    async handle(call) {
      const all = await read(call.env, tenantOf(call), (tx) => listIssuers(tx));
      return { status: 200, body: { object: 'list', data: all.map(presentJwtIssuer), next_cursor: null } };
    },
  }),
  defineRoute({
    method: 'POST',
    path: BASE,
    operationId: 'createJwtIssuer',
    summary: 'Register an identity provider',
    tag: TAG,
    permission: 'jwt_issuers.write',
    body: createJwtIssuerBody,
    idempotent: true,
    response: { status: 201, description: 'The registration.', schema: jwtIssuerView },
    async handle(call) {
      const tenantId = tenantOf(call);
      // The gateway fetches it whenever a token names this issuer: a tenant-set address.
      await assertOutboundAllowed(call.env, call.body.jwks_url, 'jwks_url');
      return createOnce(call.env, tenantId, call.actor.principal.id, call.idempotency, async (tx) => {
        const view = presentJwtIssuer(await registerIssuer(tx, call.actor, call.body));
        return { result: { status: 201, body: view, location: `/admin/v1/tenants/${tenantId}/jwt-issuers/${view.id}` } };
      });
    },
  }),
  defineRoute({
    method: 'GET',
    path: `${BASE}/{jwt_issuer}`,
    operationId: 'getJwtIssuer',
    summary: 'Get an identity provider',
    tag: TAG,
    permission: 'jwt_issuers.read',
    response: { status: 200, description: 'The registration.', schema: jwtIssuerView },
    async handle(call) {
      const found = await read(call.env, tenantOf(call), (tx) => findIssuer(tx, call.params.jwt_issuer ?? ''));
      if (found === undefined) throw notFound('jwt issuer');
      return { status: 200, body: presentJwtIssuer(found) };
    },
  }),
  defineRoute({
    method: 'DELETE',
    path: `${BASE}/{jwt_issuer}`,
    operationId: 'deleteJwtIssuer',
    summary: 'Remove an identity provider (immutable: no If-Match)',
    tag: TAG,
    permission: 'jwt_issuers.write',
    response: { status: 204, description: 'Removed; its tokens are refused from now on, on every replica.' },
    async handle(call) {
      await write(call.env, tenantOf(call), (tx) => removeIssuer(tx, call.actor, call.params.jwt_issuer ?? ''));
      return { status: 204 };
    },
  }),
];
