/** The OpenAPI document is served without credentials, as JSON, and matches the route table. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN_ROUTES } from '../../src/admin/index.js';
import type { TestGateway } from '../helpers/gateway.js';
import { client, startAdminGateway } from '../integration/admin/helpers.js';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startAdminGateway();
});
afterAll(async () => {
  await gw?.stop();
});

it('GET /admin/v1/openapi.json is public and lists every route', async () => {
  const r = await client(gw, undefined)('GET', '/openapi.json');
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('application/json');
  expect(r.headers['cache-control']).toBe('no-store');
  expect(r.json.openapi).toBe('3.1.0');
  const paths = r.json.paths as Record<string, Record<string, unknown>>;
  const listed = Object.entries(paths).flatMap(([p, ms]) => Object.keys(ms).map((m) => `${m.toUpperCase()} ${p}`));
  expect(listed.sort()).toEqual(ADMIN_ROUTES.map((x) => `${x.method} /admin/v1${x.path}`).sort());
});

it('a key that is not the bootstrap key is refused', async () => {
  const r = await client(gw, 'wrong-bootstrap-key-0123456789abcdef0123')('GET', '/whoami');
  expect(r.status).toBe(401);
});
