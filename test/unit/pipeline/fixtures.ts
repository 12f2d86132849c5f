/**
 * Hand-built tenancy snapshot and request contexts for unit tests of single pipeline stages.
 * Nothing here starts a server or touches a store.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { generateApiKey, hashApiKey, keyPrefix } from '../../../src/crypto/keys.js';
import { GatewayError } from '../../../src/errors.js';
import type { Endpoint, RequestContext } from '../../../src/pipeline/context.js';
import { Cancellation } from '../../../src/providers/cancel.js';
import type { Deployment } from '../../../src/providers/types.js';
import { buildSnapshot, createRegistry, type Registry } from '../../../src/tenancy/snapshot.js';
import type { ApiKeyRecord, Principal, Tenant } from '../../../src/tenancy/types.js';

export const pepper = randomBytes(32);

export function makeTenant(slug: string, over: Partial<Tenant> = {}): Tenant {
  return {
    id: `00000000-0000-4000-8000-${Buffer.from(slug).toString('hex').padStart(12, '0').slice(-12)}`,
    slug,
    name: slug,
    status: 'active',
    domains: [],
    allowedModels: '*',
    regions: [],
    ...over,
  };
}

export interface IssuedKey {
  /** The secret the client presents. */
  key: string;
  record: ApiKeyRecord;
}

/** A key for a tenant; `key` may be given to declare a foreign-format key. */
export function makeKey(tenant: Tenant, over: Partial<ApiKeyRecord> & { key?: string } = {}): IssuedKey {
  const { key: given, ...rest } = over;
  const key = given ?? generateApiKey().key;
  const record: ApiKeyRecord = {
    id: `key-${randomBytes(4).toString('hex')}`,
    tenantId: tenant.id,
    teamId: null,
    prefix: keyPrefix(key),
    hash: hashApiKey(key, pepper),
    scopes: ['inference', 'models:read'],
    allowedModels: null,
    expiresAt: null,
    revoked: false,
    ...rest,
  };
  return { key, record };
}

export function makePrincipal(tenant: Tenant, over: Partial<Principal> = {}): Principal {
  return {
    kind: 'api_key',
    keyId: 'key-test',
    tenantId: tenant.id,
    teamId: null,
    scopes: ['inference', 'models:read'],
    allowedModels: null,
    ...over,
  };
}

export function makeDeployment(model: string, over: Partial<Deployment> = {}): Deployment {
  return {
    id: `${model}-${over.region ?? 'any'}-${randomBytes(3).toString('hex')}`,
    model,
    version: '1',
    kind: 'chat',
    provider: 'mock',
    upstreamModel: model,
    baseUrl: 'http://127.0.0.1:1',
    apiKey: '',
    region: 'us',
    capacity: 10,
    weight: 1,
    limitsFailMode: 'closed',
    timeoutMs: 1000,
    prices: { inputPerMTok: 0, outputPerMTok: 0, cachedInputPerMTok: 0, perRequest: 0 },
    ownedBy: 'test',
    created: 1_700_000_000,
    ...over,
  };
}

export function makeRegistry(tenants: Tenant[], keys: IssuedKey[] = [], deployments: Deployment[] = []): Registry {
  return createRegistry(buildSnapshot({ tenants, keys: keys.map((k) => k.record), deployments }));
}

export interface ContextInit {
  headers?: IncomingHttpHeaders;
  endpoint?: Endpoint;
  pathTenant?: string;
  req?: IncomingMessage;
  fields?: Partial<Pick<RequestContext, 'tenant' | 'principal' | 'credential' | 'model' | 'body' | 'claims'>>;
}

export function makeContext(init: ContextInit = {}): RequestContext {
  const headers = init.headers ?? {};
  // As in node:http, the context's headers are the request's own.
  const req = init.req ?? (Readable.from([]) as unknown as IncomingMessage);
  req.headers = headers;
  return {
    requestId: 'req_test',
    startedAt: process.hrtime.bigint(),
    method: 'POST',
    path: '/v1/chat/completions',
    headers,
    remoteAddress: '127.0.0.1',
    endpoint: init.endpoint ?? { op: 'chat' },
    pathTenant: init.pathTenant,
    signal: new Cancellation(),
    req,
    ...init.fields,
  };
}

/** A request whose body stream yields the given chunks. */
export function streamOf(chunks: readonly (string | Buffer)[]): IncomingMessage {
  return Readable.from(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))) as unknown as IncomingMessage;
}

/** The GatewayError a stage throws or rejects with; fails the test if it succeeds or throws something else. */
export async function failure(run: () => unknown): Promise<GatewayError> {
  try {
    await run();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError, but the stage succeeded');
}
