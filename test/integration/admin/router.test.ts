/** The admin router: every template reaches its own route, templates never shadow each other. */
import { describe, expect, it } from 'vitest';
import { ADMIN_ROUTES } from '../../../src/admin/index.js';
import { createAdminRouter } from '../../../src/admin/router.js';
import { GatewayError } from '../../../src/errors.js';

const router = createAdminRouter(ADMIN_ROUTES);

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof GatewayError ? err.code : 'thrown';
  }
}

describe('admin router', () => {
  it.each(ADMIN_ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))('%s reaches exactly its own route', (_l, route) => {
    const path = route.path.replace(/\{([a-z_]+)\}/g, (_m, name: string) => `sample-${name}`);
    const hit = router.match(route.method, path);
    expect(hit.route).toBe(route);
    expect(Object.keys(hit.params).sort()).toEqual([...route.params].sort());
  });

  it('no template shadows another: a literal segment never matches a parameter of a twin', () => {
    for (const r of ADMIN_ROUTES) {
      for (const other of ADMIN_ROUTES) {
        if (r === other || r.method !== other.method) continue;
        const a = r.path.split('/');
        const b = other.path.split('/');
        if (a.length !== b.length) continue;
        const overlap = a.every((seg, i) => seg === b[i] || seg.startsWith('{') || (b[i] ?? '').startsWith('{'));
        expect({ r: `${r.method} ${r.path}`, overlap }).toEqual({ r: `${r.method} ${r.path}`, overlap: false });
      }
    }
  });

  it('answers 404 for unknown paths, 405 with Allow for known paths, 400 for broken encoding', () => {
    expect(code(() => router.match('GET', '/tenants/x/nothing'))).toBe('not_found');
    expect(code(() => router.match('GET', '/tenants/x/teams/'))).toBe('not_found');
    expect(code(() => router.match('GET', '//tenants'))).toBe('not_found');
    expect(code(() => router.match('PUT', '/tenants/x'))).toBe('method_not_allowed');
    expect(code(() => router.match('GET', '/tenants/%E0%A4%A/teams'))).toBe('invalid_request');
    expect(code(() => router.match('GET', '/tenants/a%2Fb'))).toBe('invalid_request');
  });

  it('refuses a table with a duplicate route', () => {
    const first = ADMIN_ROUTES[0];
    if (first === undefined) throw new Error('no routes');
    expect(() => createAdminRouter([first, first])).toThrow(/duplicate admin route/);
  });
});
