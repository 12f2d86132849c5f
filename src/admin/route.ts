/**
 * One admin route: method, path template, the permission it needs, zod schemas for query and
 * body (the same schemas validate requests and generate the OpenAPI document), and a typed
 * handler. defineRoute erases the schema types behind `invoke`, so the route table is a plain
 * array the router, the OpenAPI generator and the tests can walk.
 */
import { z } from 'zod';
import { GatewayError } from '../errors.js';
import type { Actor, AdminEnv, TenantScope } from './context.js';
import type { IfMatch } from './http/etag.js';
import type { Permission } from './permissions.js';

export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface AdminResult {
  status: number;
  /** JSON body; absent for 204. */
  body?: unknown;
  /**
   * A body written as it is produced (the JSON-lines export), with backpressure; its first chunk
   * is produced before the status line, so a failure that early is still an error response.
   */
  stream?: { contentType: string; chunks: AsyncIterable<string> };
  etag?: string;
  location?: string;
  /** True when an Idempotency-Key replayed a stored response. */
  replayed?: boolean;
}

export interface IdempotencyRequest {
  key: string;
  /** SHA-256 over method, path and the canonical JSON body. */
  requestHash: Buffer;
}

export interface AdminCall<Q, B> {
  params: Readonly<Record<string, string>>;
  query: Q;
  body: B;
  actor: Actor;
  /** Set on routes under /tenants/{tenant}. */
  tenant: TenantScope | null;
  ifMatch: IfMatch | null;
  idempotency: IdempotencyRequest | null;
  env: AdminEnv;
  /** The Accept header (routes with a CSV form read it). */
  accept?: string | undefined;
}

export interface RawCall extends Omit<AdminCall<unknown, unknown>, 'query' | 'body' | 'actor'> {
  /** null only for public routes, which never see it. */
  actor: Actor | null;
  rawQuery: Readonly<Record<string, string>>;
  rawBody: Record<string, unknown> | undefined;
}

export interface ResponseSpec {
  status: number;
  description: string;
  schema?: z.ZodType;
  /** Defaults to application/json. */
  contentType?: string;
}

interface RouteSpec<QS extends z.ZodType, BS extends z.ZodType> {
  method: HttpMethod;
  /** Relative to /admin/v1, with {param} segments. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  permission: Permission;
  query?: QS;
  body?: BS;
  /** The body may be empty (action endpoints with optional options). */
  bodyOptional?: boolean;
  response: ResponseSpec;
  /** PATCH/DELETE of mutable resources: required; actions on them: optional. */
  ifMatch?: 'required' | 'optional';
  /** POST creations accept Idempotency-Key. */
  idempotent?: boolean;
  handle(call: AdminCall<z.output<QS>, z.output<BS>>): Promise<AdminResult>;
}

export interface AdminRoute {
  readonly method: HttpMethod;
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  readonly permission: Permission | null;
  readonly querySchema: z.ZodType;
  readonly bodySchema: z.ZodType | undefined;
  readonly bodyOptional: boolean;
  readonly response: ResponseSpec;
  readonly ifMatch: 'required' | 'optional' | undefined;
  readonly idempotent: boolean;
  /** Names of the {params} in the path, in order. */
  readonly params: readonly string[];
  invoke(call: RawCall): Promise<AdminResult>;
}

/** The first few zod issues as one client-safe message, and the first offending field. */
export function validationError(error: z.ZodError, where: 'body' | 'query'): GatewayError {
  const issues = error.issues.slice(0, 5).map((i) => {
    const path = i.path.map(String).join('.');
    return path === '' ? i.message : `${path}: ${i.message}`;
  });
  const first = error.issues[0]?.path.map(String).join('.') ?? '';
  const more = error.issues.length > 5 ? ` (and ${error.issues.length - 5} more)` : '';
  return new GatewayError('invalid_request', `Invalid ${where}: ${issues.join('; ')}${more}.`, {
    param: first === '' ? null : first,
  });
}

export function defineRoute<QS extends z.ZodType = z.ZodObject<Record<string, never>>, BS extends z.ZodType = z.ZodUndefined>(
  spec: RouteSpec<QS, BS>,
): AdminRoute {
  const querySchema: z.ZodType = spec.query ?? z.strictObject({});
  const params = [...spec.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1] ?? '');
  return {
    method: spec.method,
    path: spec.path,
    operationId: spec.operationId,
    summary: spec.summary,
    tag: spec.tag,
    permission: spec.permission,
    querySchema,
    bodySchema: spec.body,
    bodyOptional: spec.bodyOptional ?? false,
    response: spec.response,
    ifMatch: spec.ifMatch,
    idempotent: spec.idempotent ?? false,
    params,
    async invoke(call) {
      const actor = call.actor;
      if (actor === null) throw new Error(`admin route ${spec.method} ${spec.path} invoked without a principal`);
      const q = querySchema.safeParse(call.rawQuery);
      if (!q.success) throw validationError(q.error, 'query');
      let body: unknown = undefined;
      if (spec.body !== undefined) {
        const b = spec.body.safeParse(call.rawBody ?? {});
        if (!b.success) throw validationError(b.error, 'body');
        body = b.data;
      }
      // The schemas above produced exactly these types; the casts only restore what erasure hid.
      return spec.handle({ ...call, actor, query: q.data as z.output<QS>, body: body as z.output<BS> });
    },
  };
}

/** A route anyone may call (no principal, no input): the OpenAPI document. */
export function definePublicRoute(spec: {
  method: 'GET';
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  response: ResponseSpec;
  handle(): Promise<AdminResult>;
}): AdminRoute {
  return {
    method: spec.method,
    path: spec.path,
    operationId: spec.operationId,
    summary: spec.summary,
    tag: spec.tag,
    permission: null,
    querySchema: z.strictObject({}),
    bodySchema: undefined,
    bodyOptional: false,
    response: spec.response,
    ifMatch: undefined,
    idempotent: false,
    params: [],
    invoke: () => spec.handle(),
  };
}
