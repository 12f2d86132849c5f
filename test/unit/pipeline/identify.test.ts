import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { extractCredential, identify } from '../../../src/pipeline/identify.js';
import type { RequestContext } from '../../../src/pipeline/context.js';
import { failure, makeContext, makeRegistry, makeTenant, type ContextInit } from './fixtures.js';

const acme = makeTenant('acme', { domains: ['api.acme.example'] });
const globex = makeTenant('globex', { domains: ['ai.globex.example'] });
// Names a naive Host parser might produce from an IPv6 literal; no real tenant has them.
const trap = makeTenant('trap', { domains: ['::1', '[', '[::1]'] });
const registry = makeRegistry([acme, globex, trap]);
const stage = identify(registry);

function run(init: ContextInit): RequestContext {
  const ctx = makeContext(init);
  stage(ctx);
  return ctx;
}

function claims(init: ContextInit) {
  return run(init).claims;
}

describe('identify: tenant claims', () => {
  it('claims nothing when the request names no tenant', () => {
    expect(claims({})).toEqual([]);
  });

  it('resolves the path tenant by slug and by id', () => {
    expect(claims({ pathTenant: 'acme' })).toEqual([{ source: 'path', value: 'acme', tenantId: acme.id }]);
    expect(claims({ pathTenant: globex.id })).toEqual([{ source: 'path', value: globex.id, tenantId: globex.id }]);
  });

  it('resolves X-Tenant-ID by slug and by id, trimming spaces', () => {
    expect(claims({ headers: { 'x-tenant-id': 'globex' } })).toEqual([
      { source: 'header', value: 'globex', tenantId: globex.id },
    ]);
    expect(claims({ headers: { 'x-tenant-id': ` ${acme.id} ` } })?.[0]?.tenantId).toBe(acme.id);
  });

  it('does not resolve a repeated X-Tenant-ID header to any tenant, even when the values agree', () => {
    const headers = { 'x-tenant-id': ['acme', 'acme'] } as unknown as IncomingHttpHeaders;
    expect(claims({ headers })).toEqual([{ source: 'header', value: 'acme,acme', tenantId: undefined }]);
    expect(claims({ headers: { 'x-tenant-id': 'acme, globex' } })?.[0]?.tenantId).toBeUndefined();
  });

  it('matches a custom domain regardless of port and case', () => {
    expect(claims({ headers: { host: 'API.Acme.Example:8443' } })).toEqual([
      { source: 'host', value: 'api.acme.example', tenantId: acme.id },
    ]);
    expect(claims({ headers: { host: 'ai.globex.example' } })?.[0]?.tenantId).toBe(globex.id);
  });

  it('records unknown path and header tenants with tenantId undefined', () => {
    expect(claims({ pathTenant: 'nope', headers: { 'x-tenant-id': 'missing' } })).toEqual([
      { source: 'path', value: 'nope', tenantId: undefined },
      { source: 'header', value: 'missing', tenantId: undefined },
    ]);
  });

  it('lets a Host that is no tenant domain, or an IPv6 literal, claim nothing', () => {
    expect(claims({ headers: { host: 'localhost:8080' } })).toEqual([]);
    expect(claims({ headers: { host: 'gateway.example.com' } })).toEqual([]);
    expect(claims({ headers: { host: '[::1]:8080' } })).toEqual([]);
    expect(claims({ headers: { host: '[::1]' } })).toEqual([]);
  });

  it('collects every source, in path, header, host order', () => {
    const got = claims({ pathTenant: 'acme', headers: { 'x-tenant-id': 'globex', host: 'api.acme.example' } });
    expect(got?.map((c) => [c.source, c.tenantId])).toEqual([
      ['path', acme.id],
      ['header', globex.id],
      ['host', acme.id],
    ]);
  });
});

describe('identify: credential', () => {
  const credential = (headers: IncomingHttpHeaders) => extractCredential(makeContext({ headers }));

  it('reads a Bearer token with any case of the scheme and surrounding spaces', () => {
    expect(credential({ authorization: 'Bearer ghk_abc' })).toBe('ghk_abc');
    expect(credential({ authorization: 'bearer ghk_abc' })).toBe('ghk_abc');
    expect(credential({ authorization: 'BEARER   ghk_abc  ' })).toBe('ghk_abc');
  });

  it('reads api-key and x-api-key when there is no Authorization header', () => {
    expect(credential({ 'api-key': 'azure-style' })).toBe('azure-style');
    expect(credential({ 'x-api-key': 'anthropic-style' })).toBe('anthropic-style');
    expect(credential({ authorization: 'Bearer wins', 'x-api-key': 'loses' })).toBe('wins');
  });

  it('leaves the credential undefined when none is sent', () => {
    expect(credential({})).toBeUndefined();
    expect(credential({ 'x-api-key': '' })).toBeUndefined();
  });

  it.each(['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', 'Bearer two tokens', 'Token ghk_abc', ''])(
    'rejects a malformed Authorization header %j with invalid_api_key 401',
    async (authorization) => {
      const err = await failure(() => credential({ authorization }));
      expect(err.code).toBe('invalid_api_key');
      expect(err.status).toBe(401);
    },
  );

  it('sets ctx.credential as a stage, and rejects a malformed header from the stage too', async () => {
    expect(run({ headers: { authorization: 'Bearer k1' } }).credential).toBe('k1');
    const err = await failure(() => stage(makeContext({ headers: { authorization: 'Basic x' } })));
    expect(err.code).toBe('invalid_api_key');
  });
});
