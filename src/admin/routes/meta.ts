/** The OpenAPI document and who-am-I. */
import { z } from 'zod';
import { ROLES } from '../../identity/roles.js';
import { PERMISSIONS, allows } from '../permissions.js';
import { definePublicRoute, defineRoute, type AdminRoute } from '../route.js';

export const whoamiView = z.object({
  object: z.literal('principal'),
  id: z.string(),
  kind: z.enum(['bootstrap', 'admin_key', 'cli']),
  role: z.enum(ROLES),
  tenant: z.object({ id: z.uuid(), slug: z.string() }).nullable(),
  permissions: z.array(z.enum(PERMISSIONS)),
});

/** The document is built from the route table after it is complete; see openapi.ts. */
export function metaRoutes(document: () => unknown): AdminRoute[] {
  return [
    definePublicRoute({
      method: 'GET',
      path: '/openapi.json',
      operationId: 'getOpenApi',
      summary: 'This API, as an OpenAPI 3.1 document (public)',
      tag: 'Meta',
      response: { status: 200, description: 'The OpenAPI document.' },
      async handle() {
        return { status: 200, body: document() };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/whoami',
      operationId: 'whoami',
      summary: 'The calling principal, its role and permissions',
      tag: 'Meta',
      permission: 'self.read',
      response: { status: 200, description: 'The principal.', schema: whoamiView },
      async handle(call) {
        const p = call.actor.principal;
        return {
          status: 200,
          body: {
            object: 'principal',
            id: p.id,
            kind: p.kind,
            role: p.role,
            tenant: p.scope === 'tenant' ? { id: p.tenantId, slug: p.tenantSlug } : null,
            permissions: PERMISSIONS.filter((perm) => allows(p.role, perm)),
          },
        };
      },
    }),
  ];
}
