/**
 * A real gateway with the admin API enabled (bootstrap key set), and a small HTTP client for it.
 * Tests talk to it over HTTP only, like an operator would.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { expect } from 'vitest';
import { createPostgresTestDatabase } from '../../../src/store/testing.js';
import { startTestGateway, type TestGateway, type TestGatewayOptions } from '../../helpers/gateway.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';

export const BOOTSTRAP_KEY = 'boot-0123456789abcdef0123456789abcdef0123';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Parsed JSON (undefined for an empty or non-JSON body). */
  json: Record<string, unknown> & { error?: { message: string; type: string; code: string; param: string | null } };
}

export interface CallOptions {
  body?: unknown;
  /** Sent verbatim instead of JSON.stringify(body). */
  raw?: string | Buffer;
  headers?: Record<string, string>;
}

export type Client = (method: string, path: string, opts?: CallOptions) => Promise<Reply>;

export function client(gw: { url: string }, key: string | undefined): Client {
  return async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) };
    let body: string | Buffer | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    const res = await request(`${gw.url}/admin/v1${path}`, { method, headers: { ...headers, ...opts.headers }, body });
    const text = await res.body.text();
    let json: Reply['json'] = {};
    try {
      json = text === '' ? {} : (JSON.parse(text) as Reply['json']);
    } catch {
      json = {};
    }
    return { status: res.statusCode, headers: res.headers, text, json };
  };
}

export async function startAdminGateway(opts: TestGatewayOptions = {}): Promise<TestGateway> {
  return startTestGateway({ ...opts, env: { GATEHOUSE_ADMIN_KEY: BOOTSTRAP_KEY, ...opts.env } });
}

/** Asserts an error in the OpenAI envelope with exactly its four fields; returns it. */
export function envelope(r: Reply, status: number, code?: string): { message: string; type: string; code: string; param: string | null } {
  expect({ status: r.status, body: r.json }).toMatchObject({ status });
  const e = r.json.error;
  expect(e).toBeDefined();
  if (e === undefined) throw new Error('no error envelope');
  expect(Object.keys(e).sort()).toEqual(['code', 'message', 'param', 'type']);
  if (code !== undefined) expect(e.code).toBe(code);
  return e;
}

export function str(v: unknown): string {
  if (typeof v !== 'string') throw new Error(`expected a string, got ${JSON.stringify(v)}`);
  return v;
}

/** Creates a tenant (platform key) and a tenant_admin key for it. */
export async function makeTenant(platform: Client, slug: string): Promise<{ id: string; slug: string; admin: string }> {
  const t = await platform('POST', '/tenants', { body: { slug, name: `Tenant ${slug}`, template: 'standard' } });
  expect(t.status, t.text).toBe(201);
  const id = str(t.json.id);
  const k = await platform('POST', `/tenants/${id}/admin-keys`, { body: { name: 'owner', role: 'tenant_admin' } });
  expect(k.status, k.text).toBe(201);
  return { id, slug, admin: str(k.json.key) };
}

/** Issues a key of `role` in the tenant, using its tenant_admin key. */
export async function roleKey(admin: Client, tenantId: string, role: string): Promise<string> {
  const k = await admin('POST', `/tenants/${tenantId}/admin-keys`, { body: { name: role, role } });
  expect(k.status, k.text).toBe(201);
  return str(k.json.key);
}

/** One chat completion on the data plane; the status and error code it got. */
export async function chat(gw: { url: string }, key: string, headers: Record<string, string> = {}): Promise<{ status: number; code: string | undefined }> {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const text = await res.body.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { status: res.statusCode, code };
}

export function etag(r: Reply): string {
  const v = r.headers.etag;
  if (typeof v !== 'string') throw new Error(`no ETag on ${r.status} ${r.text}`);
  return v;
}

/** The stores an admin test runs against: embedded PGlite always, PostgreSQL when reachable. */
export interface AdminBackend {
  label: string;
  start(): Promise<{ gw: TestGateway; stop(): Promise<void> }>;
}

export async function adminBackends(): Promise<AdminBackend[]> {
  const out: AdminBackend[] = [
    {
      label: 'PGlite',
      async start() {
        const gw = await startAdminGateway();
        return { gw, stop: () => gw.stop() };
      },
    },
  ];
  if (await postgresAvailable()) {
    out.push({
      label: 'PostgreSQL',
      async start() {
        const db = await createPostgresTestDatabase(POSTGRES_URL);
        try {
          const gw = await startAdminGateway({ env: { DATABASE_URL: db.url, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64') } });
          return {
            gw,
            async stop() {
              await gw.stop();
              await db.drop();
            },
          };
        } catch (err) {
          await db.drop();
          throw err;
        }
      },
    });
  }
  return out;
}
