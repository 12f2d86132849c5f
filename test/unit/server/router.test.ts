import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { V1_ROUTES, matchRoute } from '../../../src/server/router.js';

function fails(method: string, url: string): GatewayError {
  try {
    matchRoute(method, url);
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error(`${method} ${url} matched`);
}

describe('router', () => {
  it('maps every /v1 route and its tenant-scoped twin to the same endpoint', () => {
    for (const r of V1_ROUTES) {
      const path = r.path.replace('{model}', 'gpt-4o-mini');
      const plain = matchRoute(r.method, `/v1${path}`);
      const scoped = matchRoute(r.method, `/api/v1/tenants/acme/v1${path}?x=1`);
      expect(plain).toMatchObject({ kind: 'api', endpoint: { op: r.op }, pathTenant: undefined });
      expect(scoped).toMatchObject({ kind: 'api', endpoint: { op: r.op }, pathTenant: 'acme' });
    }
  });

  it('keeps slashes inside model ids', () => {
    expect(matchRoute('GET', '/v1/models/meta-llama/Llama-3-8B')).toMatchObject({
      endpoint: { op: 'models.get', model: 'meta-llama/Llama-3-8B' },
    });
  });

  it('parses the predict form with an encoded model name', () => {
    expect(matchRoute('POST', '/api/v1/tenants/t1/models/org%2Fmodel/predict')).toMatchObject({
      endpoint: { op: 'predict', modelFromPath: 'org/model' },
      pathTenant: 't1',
    });
  });

  it('answers 404 for unknown paths and 405 with Allow for wrong methods', () => {
    expect(fails('GET', '/v2/chat').status).toBe(404);
    expect(fails('GET', '/api/v1/tenants/acme').status).toBe(404);
    const wrong = fails('GET', '/v1/chat/completions');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('POST');
    expect(fails('DELETE', '/v1/models/x').status).toBe(405);
  });

  it('rejects malformed percent-encoding in path segments with 400', () => {
    expect(fails('GET', '/v1/models/%E0%A4%A').status).toBe(400);
    expect(fails('POST', '/api/v1/tenants/%ZZ/v1/chat/completions').status).toBe(400);
  });

  it('takes HEAD wherever GET goes (models, both forms; metrics) and names both in Allow', () => {
    for (const url of ['/v1/models', '/v1/models/org/m', '/api/v1/tenants/acme/v1/models', '/api/v1/tenants/acme/v1/models/m']) {
      expect(matchRoute('HEAD', url)).toEqual(matchRoute('GET', url));
    }
    expect(matchRoute('HEAD', '/metrics')).toEqual({ kind: 'metrics' });
    const wrong = fails('DELETE', '/v1/models/x');
    expect(wrong.headers.allow).toBe('GET, HEAD');
    expect(fails('POST', '/api/v1/tenants/acme/v1/models').headers.allow).toBe('GET, HEAD');
    // Not on POST routes.
    expect(fails('HEAD', '/v1/chat/completions').headers.allow).toBe('POST');
    expect(fails('HEAD', '/api/v1/tenants/t1/models/m/predict').status).toBe(405);
  });

  it('serves health probes on GET and HEAD only', () => {
    expect(matchRoute('GET', '/healthz')).toEqual({ kind: 'health', probe: 'healthz' });
    expect(matchRoute('HEAD', '/readyz')).toEqual({ kind: 'health', probe: 'readyz' });
    expect(fails('POST', '/healthz').status).toBe(405);
  });
});
