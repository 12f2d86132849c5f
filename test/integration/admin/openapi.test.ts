/**
 * The OpenAPI document: served publicly, generated from the same route table and zod schemas
 * that validate requests, so it names every route with its permission, parameters and bodies.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildOpenApi } from '../../../src/admin/openapi.js';
import { ADMIN_ROUTES } from '../../../src/admin/index.js';
import { createTeamBody } from '../../../src/admin/schemas/teams.js';

const doc = buildOpenApi(ADMIN_ROUTES) as {
  openapi: string;
  paths: Record<string, Record<string, { operationId: string; security: unknown[]; parameters: { name: string; in: string; required: boolean }[]; requestBody?: { content: Record<string, { schema: Record<string, unknown> }> }; responses: Record<string, unknown>; 'x-gatehouse-permission'?: string }>>;
  components: { securitySchemes: Record<string, unknown> };
};

describe('OpenAPI 3.1 document', () => {
  it('is OpenAPI 3.1 with every route exactly once and unique operation ids', () => {
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([m, op]) => ({ key: `${m.toUpperCase()} ${path}`, op })));
    expect(ops.map((o) => o.key).sort()).toEqual(ADMIN_ROUTES.map((r) => `${r.method} /admin/v1${r.path}`).sort());
    const ids = ops.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('states permissions, security, path parameters and precondition headers', () => {
    for (const route of ADMIN_ROUTES) {
      const op = doc.paths[`/admin/v1${route.path}`]?.[route.method.toLowerCase()];
      expect(op).toBeDefined();
      if (op === undefined) continue;
      expect(op['x-gatehouse-permission']).toBe(route.permission ?? undefined);
      expect(op.security).toEqual(route.permission === null ? [] : [{ adminKey: [] }]);
      for (const p of route.params) expect(op.parameters).toContainEqual(expect.objectContaining({ name: p, in: 'path', required: true }));
      if (route.ifMatch === 'required') {
        expect(op.parameters).toContainEqual(expect.objectContaining({ name: 'If-Match', in: 'header', required: true }));
        expect(op.responses).toHaveProperty('428');
      }
      if (route.idempotent) expect(op.parameters).toContainEqual(expect.objectContaining({ name: 'Idempotency-Key', in: 'header' }));
      expect(op.responses).toHaveProperty(String(route.response.status));
    }
  });

  it('describes bodies with the validating schemas (strict objects, formats, patterns)', () => {
    const body = doc.paths['/admin/v1/tenants/{tenant}/teams']?.post?.requestBody?.content['application/json']?.schema;
    expect(body).toMatchObject({ type: 'object', additionalProperties: false, required: ['slug'] });
    expect(body).toEqual(expect.objectContaining({ properties: expect.objectContaining({ slug: expect.objectContaining({ pattern: expect.any(String) }) }) }));
    const fromZod = z.toJSONSchema(createTeamBody, { io: 'input' }) as Record<string, unknown>;
    delete fromZod.$schema;
    expect(body).toEqual(fromZod);
    const list = doc.paths['/admin/v1/tenants/{tenant}/api-keys']?.get?.parameters.map((p) => p.name);
    expect(list).toEqual(expect.arrayContaining(['tenant', 'limit', 'cursor', 'team_id', 'status', 'name']));
  });
});
