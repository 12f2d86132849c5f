/**
 * Matching a path below /admin/v1 against the route table. Templates are compared segment by
 * segment; a {param} matches one non-empty segment, percent-decoded. No trailing slashes, no
 * empty segments: one resource has one URL.
 */
import { GatewayError } from '../errors.js';
import type { AdminRoute } from './route.js';

export const ADMIN_BASE = '/admin/v1';

export interface RouteHit {
  route: AdminRoute;
  params: Record<string, string>;
}

interface Compiled {
  route: AdminRoute;
  segments: readonly ({ literal: string } | { param: string })[];
}

function compile(route: AdminRoute): Compiled {
  const segments = route.path
    .split('/')
    .slice(1)
    .map((s) => {
      const m = /^\{([a-z_]+)\}$/.exec(s);
      return m?.[1] !== undefined ? { param: m[1] } : { literal: s };
    });
  return { route, segments };
}

function decode(segment: string): string {
  let value: string;
  try {
    value = decodeURIComponent(segment);
  } catch {
    throw new GatewayError('invalid_request', 'The request path is not valid percent-encoding.');
  }
  if (value.length === 0 || value.length > 256 || value.includes('/')) {
    throw new GatewayError('invalid_request', 'The request path has an invalid segment.');
  }
  return value;
}

export interface AdminRouter {
  /** The route for `method` at `path` (relative to /admin/v1); throws 404 or 405. */
  match(method: string, path: string): RouteHit;
}

export function createAdminRouter(routes: readonly AdminRoute[]): AdminRouter {
  const compiled = routes.map(compile);
  const seen = new Set<string>();
  for (const r of routes) {
    const key = `${r.method} ${r.path}`;
    if (seen.has(key)) throw new Error(`duplicate admin route ${key}`);
    seen.add(key);
  }
  return {
    match(method, path) {
      const parts = path.split('/').slice(1);
      const allowed = new Set<string>();
      let found: RouteHit | undefined;
      for (const c of compiled) {
        if (c.segments.length !== parts.length) continue;
        const params: Record<string, string> = {};
        let ok = true;
        for (let i = 0; i < parts.length && ok; i++) {
          const seg = c.segments[i];
          const part = parts[i] ?? '';
          if (seg === undefined) ok = false;
          else if ('literal' in seg) ok = seg.literal === part;
          else if (part === '') ok = false;
          else params[seg.param] = part;
        }
        if (!ok) continue;
        allowed.add(c.route.method);
        // First in table order; no two templates in the table overlap (a test checks).
        if (c.route.method === method && found === undefined) found = { route: c.route, params };
      }
      if (found !== undefined) {
        for (const [k, v] of Object.entries(found.params)) found.params[k] = decode(v);
        return found;
      }
      if (allowed.size > 0) {
        const allow = [...allowed].sort().join(', ');
        throw new GatewayError('method_not_allowed', `Method ${method} is not allowed here; use ${allow}.`, { headers: { allow } });
      }
      throw new GatewayError('not_found', `Unknown admin route: ${method} ${ADMIN_BASE}${path}`);
    },
  };
}
