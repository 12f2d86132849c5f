/**
 * The OpenAPI 3.1 document, generated from the route table and its zod schemas (z.toJSONSchema,
 * JSON Schema 2020-12, which OpenAPI 3.1 uses as is). Nothing here is written by hand per route,
 * so the document cannot drift from what the API validates.
 */
import { z } from 'zod';
import { ADMIN_BASE } from './router.js';
import type { AdminRoute } from './route.js';

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

const ERROR_REF = { $ref: '#/components/schemas/Error' };
const errorResponse = (description: string): Json => ({ description, content: { 'application/json': { schema: ERROR_REF } } });

function parameters(route: AdminRoute): Json[] {
  const out: Json[] = route.params.map((name) => ({
    name,
    in: 'path',
    required: true,
    schema: { type: 'string' },
    description: name === 'tenant' ? 'Tenant id (UUID) or slug.' : undefined,
  }));
  const query = jsonSchema(route.querySchema, 'input');
  const props = (query.properties ?? {}) as Record<string, Json>;
  const required = new Set((query.required ?? []) as string[]);
  for (const [name, schema] of Object.entries(props)) {
    const { description, ...rest } = schema;
    out.push({ name, in: 'query', required: required.has(name), schema: rest, ...(description === undefined ? {} : { description }) });
  }
  if (route.ifMatch !== undefined) {
    out.push({
      name: 'If-Match',
      in: 'header',
      required: route.ifMatch === 'required',
      schema: { type: 'string' },
      description: 'The ETag from a GET of the resource; 412 if it changed since, 428 if required and missing.',
    });
  }
  if (route.idempotent) {
    out.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      schema: { type: 'string', minLength: 1, maxLength: 255 },
      description: 'Retries with the same key and body replay the first response (for 24 h; secrets are not replayed); another body is a 409.',
    });
  }
  return out;
}

function responses(route: AdminRoute): Json {
  const r = route.response;
  const ok: Json = { description: r.description };
  if (r.schema !== undefined) ok.content = { [r.contentType ?? 'application/json']: { schema: jsonSchema(r.schema, 'output') } };
  else if (r.contentType !== undefined) ok.content = { [r.contentType]: { schema: { type: 'string' } } };
  const out: Json = { [String(r.status)]: ok };
  if (route.method === 'GET' || route.method === 'PATCH') ok.headers = { ETag: { schema: { type: 'string' }, description: 'Present on single resources.' } };
  out['400'] = errorResponse('Invalid input.');
  if (route.permission !== null) {
    out['401'] = errorResponse('Missing or invalid admin key.');
    out['403'] = errorResponse('The role does not allow this.');
  }
  if (route.params.length > 0) out['404'] = errorResponse('No such resource (or not yours: the answer is the same).');
  if (route.method !== 'GET') out['409'] = errorResponse('Conflict with an existing resource or its state.');
  if (route.ifMatch !== undefined) out['412'] = errorResponse('If-Match does not match the current ETag.');
  if (route.ifMatch === 'required') out['428'] = errorResponse('If-Match is required.');
  if (route.bodySchema !== undefined) {
    out['413'] = errorResponse('Body too large.');
    out['415'] = errorResponse('Body is not JSON.');
  }
  return out;
}

export function buildOpenApi(routes: readonly AdminRoute[]): Json {
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const op: Json = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.tag],
      security: route.permission === null ? [] : [{ adminKey: [] }],
      parameters: parameters(route),
      responses: responses(route),
    };
    if (route.permission !== null) op['x-gatehouse-permission'] = route.permission;
    if (route.bodySchema !== undefined) {
      op.requestBody = { required: !route.bodyOptional, content: { 'application/json': { schema: jsonSchema(route.bodySchema, 'input') } } };
    }
    (paths[`${ADMIN_BASE}${route.path}`] ??= {})[route.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse admin API',
      version: '1',
      description:
        'Tenants, plans and limits, teams, users, keys, policies and domains. Authenticate with `Authorization: Bearer <admin key>`. ' +
        'Lists take `limit` and `cursor` (from `next_cursor`). Changes to mutable resources need `If-Match`. ' +
        'Errors use the OpenAI envelope.',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: { adminKey: { type: 'http', scheme: 'bearer', description: 'GATEHOUSE_ADMIN_KEY or an admin key (gha_...).' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['message', 'type', 'code', 'param'],
              properties: {
                message: { type: 'string' },
                type: { type: 'string' },
                code: { type: 'string' },
                param: { type: ['string', 'null'] },
              },
            },
          },
        },
      },
    },
  };
}
