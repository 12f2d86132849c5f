/**
 * Maps method + path to an Endpoint. Every public route form is listed here once, so a test
 * can walk the table and check that each goes through the same pipeline (DESIGN §12).
 * The tenant-scoped form `/api/v1/tenants/{tenant}/v1/...` mirrors `/v1/...` so it can be
 * used as an SDK base URL.
 */
import type { Dialect, Endpoint } from '../pipeline/context.js';
import { GatewayError } from '../errors.js';

export type RouteMatch =
  | { kind: 'health'; probe: 'healthz' | 'readyz' }
  | { kind: 'metrics' }
  /** The admin API: handled by src/admin, which does its own routing below /admin/v1. */
  | { kind: 'admin' }
  | { kind: 'api'; endpoint: Endpoint; pathTenant: string | undefined };

/** Route forms relative to a /v1 base, for documentation and the router-walk test. */
export const V1_ROUTES = [
  { method: 'POST', path: '/chat/completions', op: 'chat' },
  { method: 'POST', path: '/completions', op: 'completions' },
  { method: 'POST', path: '/embeddings', op: 'embeddings' },
  /** Anthropic Messages: the chat operation, with the request and answer in Anthropic's format. */
  { method: 'POST', path: '/messages', op: 'chat', dialect: 'anthropic' },
  { method: 'GET', path: '/models', op: 'models.list' },
  { method: 'GET', path: '/models/{model}', op: 'models.get' },
] as const;

const TENANT_PREFIX = '/api/v1/tenants/';

function decodeSegment(segment: string, what: string): string {
  try {
    const value = decodeURIComponent(segment);
    if (value.length === 0 || value.length > 256) throw new Error('length');
    return value;
  } catch {
    throw new GatewayError('invalid_request', `Invalid ${what} in the request path.`);
  }
}

function notFound(method: string, path: string): GatewayError {
  return new GatewayError('not_found', `Unknown route: ${method} ${path}`);
}

/** A wrong method on a route of another API (Anthropic's /v1/messages) is answered in that API's format. */
export class WrongMethodError extends GatewayError {
  /** Undefined: OpenAI's, as every route without a dialect. */
  readonly dialect: Dialect | undefined;
  constructor(method: string, allowed: string, dialect?: Dialect) {
    super('method_not_allowed', `Method ${method} is not allowed here; use ${allowed}.`, { headers: { allow: allowed } });
    this.dialect = dialect;
  }
}

function wrongMethod(method: string, allowed: string, dialect?: Dialect): GatewayError {
  return new WrongMethodError(method, allowed, dialect);
}

/**
 * Whether `method` may use a route of `routeMethod`: HEAD goes wherever GET does and is answered
 * as GET would be, without the body (Node's ServerResponse drops it; status and headers, content
 * length included, stay).
 */
function allows(routeMethod: string, method: string): boolean {
  return method === routeMethod || (routeMethod === 'GET' && method === 'HEAD');
}

/** The Allow header of a route answered on `routeMethod`. */
function allowed(routeMethod: string): string {
  return routeMethod === 'GET' ? 'GET, HEAD' : routeMethod;
}

/** Matches a path relative to a /v1 base. */
function matchV1(method: string, rest: string, fullPath: string): Endpoint {
  for (const route of V1_ROUTES) {
    if (route.op === 'models.get') continue;
    if (rest === route.path) {
      if (!allows(route.method, method)) throw wrongMethod(method, allowed(route.method), 'dialect' in route ? route.dialect : undefined);
      return 'dialect' in route ? { op: route.op, dialect: route.dialect } : { op: route.op };
    }
  }
  if (rest.startsWith('/models/')) {
    if (!allows('GET', method)) throw wrongMethod(method, allowed('GET'));
    // Model ids may contain '/' (e.g. "meta-llama/Llama-3-8B"): take the whole remainder.
    return { op: 'models.get', model: decodeSegment(rest.slice('/models/'.length), 'model id') };
  }
  throw notFound(method, fullPath);
}

export function matchRoute(method: string, rawUrl: string): RouteMatch {
  const q = rawUrl.indexOf('?');
  const path = q === -1 ? rawUrl : rawUrl.slice(0, q);

  if (path === '/healthz' || path === '/readyz') {
    if (!allows('GET', method)) throw wrongMethod(method, allowed('GET'));
    return { kind: 'health', probe: path === '/healthz' ? 'healthz' : 'readyz' };
  }
  if (path === '/admin/v1' || path.startsWith('/admin/v1/')) return { kind: 'admin' };
  if (path === '/metrics') {
    if (!allows('GET', method)) throw wrongMethod(method, allowed('GET'));
    return { kind: 'metrics' };
  }
  if (path.startsWith('/v1/')) {
    return { kind: 'api', endpoint: matchV1(method, path.slice(3), path), pathTenant: undefined };
  }
  if (path.startsWith(TENANT_PREFIX)) {
    const rest = path.slice(TENANT_PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) throw notFound(method, path);
    const pathTenant = decodeSegment(rest.slice(0, slash), 'tenant');
    const tail = rest.slice(slash);
    if (tail.startsWith('/v1/')) {
      return { kind: 'api', endpoint: matchV1(method, tail.slice(3), path), pathTenant };
    }
    const predict = /^\/models\/(.+)\/predict$/.exec(tail);
    if (predict?.[1] !== undefined) {
      if (method !== 'POST') throw wrongMethod(method, 'POST');
      return {
        kind: 'api',
        endpoint: { op: 'predict', modelFromPath: decodeSegment(predict[1], 'model') },
        pathTenant,
      };
    }
  }
  throw notFound(method, path);
}
