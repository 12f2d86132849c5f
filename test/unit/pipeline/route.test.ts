import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/pipeline/context.js';
import { route } from '../../../src/pipeline/route.js';
import type { Deployment } from '../../../src/providers/types.js';
import { createRouter } from '../../../src/routing/router.js';
import { DEFAULT_BREAKER, DEFAULT_ROUTING } from '../../../src/routing/types.js';
import type { Scope, Tenant } from '../../../src/tenancy/types.js';
import { failure, makeContext, makeDeployment, makePrincipal, makeRegistry, makeTenant } from './fixtures.js';

const anywhere = makeTenant('anywhere');
const euOnly = makeTenant('euonly', { regions: ['eu-west', 'eu-central'] });
const apacOnly = makeTenant('apaconly', { regions: ['ap-south'] });

const chatUs = makeDeployment('gpt-mini', { region: 'us-east' });
const chatEuW = makeDeployment('gpt-mini', { region: 'eu-west' });
const chatEuC = makeDeployment('gpt-mini', { region: 'eu-central' });
const embedA = makeDeployment('embed-small', { kind: 'embedding', region: 'us-east' });
const embedB = makeDeployment('embed-small', { kind: 'embedding', region: 'us-west' });
const complete = makeDeployment('instruct', { kind: 'completion' });

const registry = makeRegistry([anywhere, euOnly, apacOnly], [], [chatUs, chatEuW, chatEuC, embedA, embedB, complete]);

interface Req {
  tenant?: Tenant;
  scopes?: readonly Scope[];
  endpoint?: Endpoint;
  model: string;
}

function ctxFor(r: Req) {
  const tenant = r.tenant ?? anywhere;
  return makeContext({
    endpoint: r.endpoint ?? { op: 'chat' },
    fields: { tenant, principal: makePrincipal(tenant, { scopes: r.scopes ?? ['inference'] }), model: r.model },
  });
}

/** Routes `n` requests through one stage and returns the deployment each got. */
function picks(stage: ReturnType<typeof route>, r: Req, n: number): Deployment[] {
  const out: Deployment[] = [];
  for (let i = 0; i < n; i++) {
    const ctx = ctxFor(r);
    stage(ctx);
    if (ctx.deployment === undefined) throw new Error('no deployment chosen');
    out.push(ctx.deployment);
  }
  return out;
}

describe('route', () => {
  it('answers an unknown model with model_not_found 404', async () => {
    const err = await failure(() => route(registry)(ctxFor({ model: 'no-such-model' })));
    expect([err.code, err.status, err.param]).toEqual(['model_not_found', 404, 'model']);
  });

  it('sets the operation and deployment of a request', () => {
    const ctx = ctxFor({ model: 'instruct', endpoint: { op: 'completions' } });
    route(registry)(ctx);
    expect(ctx.operation).toBe('completions');
    expect(ctx.deployment).toBe(complete);
  });

  it('never leaves the tenant regions, and uses all of them', () => {
    const chosen = picks(route(registry), { tenant: euOnly, model: 'gpt-mini' }, 12);
    expect(new Set(chosen.map((d) => d.region))).toEqual(new Set(['eu-west', 'eu-central']));
  });

  it('answers upstream_unavailable 503 when the tenant regions exclude every deployment', async () => {
    const err = await failure(() => route(registry)(ctxFor({ tenant: apacOnly, model: 'gpt-mini' })));
    expect([err.code, err.status]).toEqual(['upstream_unavailable', 503]);
  });

  it('round-robins over the eligible deployments', () => {
    const chosen = picks(route(registry), { model: 'gpt-mini' }, 9).map((d) => d.id);
    for (const d of [chatUs, chatEuW, chatEuC]) expect(chosen.filter((id) => id === d.id)).toHaveLength(3);
    for (let i = 1; i < chosen.length; i++) expect(chosen[i]).not.toBe(chosen[i - 1]);
  });

  // Regression: one `turn` counter was shared by every model, so when requests for two models
  // alternated (a RAG client: embed, then chat, repeatedly) each model always landed on the same
  // deployment of its own and the others never got traffic.
  it('round-robins each model on its own when requests for two models alternate', () => {
    const stage = route(registry);
    const chat: Deployment[] = [];
    const embed: Deployment[] = [];
    for (let i = 0; i < 6; i++) {
      embed.push(...picks(stage, { model: 'embed-small', endpoint: { op: 'embeddings' } }, 1));
      chat.push(...picks(stage, { tenant: euOnly, model: 'gpt-mini' }, 1));
    }
    expect(new Set(embed.map((d) => d.id))).toEqual(new Set([embedA.id, embedB.id]));
    expect(new Set(chat.map((d) => d.id))).toEqual(new Set([chatEuW.id, chatEuC.id]));
  });

  it.each([
    ['chat', 'embed-small'],
    ['embeddings', 'gpt-mini'],
    ['completions', 'gpt-mini'],
    ['chat', 'instruct'],
  ] as const)('rejects %s on %s with unsupported_operation 400', async (op, model) => {
    const ctx = ctxFor({ model, endpoint: { op } });
    const err = await failure(() => route(registry)(ctx));
    expect([err.code, err.status, err.param]).toEqual(['unsupported_operation', 400, 'model']);
    expect(ctx.deployment).toBeUndefined();
  });

  it.each([
    ['gpt-mini', 'chat'],
    ['embed-small', 'embeddings'],
    ['instruct', 'completions'],
  ] as const)('resolves predict on %s to %s by the model kind', (model, operation) => {
    const ctx = ctxFor({ model, endpoint: { op: 'predict', modelFromPath: model } });
    route(registry)(ctx);
    expect(ctx.operation).toBe(operation);
    expect(ctx.deployment?.model).toBe(model);
  });

  it('re-checks the scope of the operation predict resolved to', async () => {
    const endpoint: Endpoint = { op: 'predict', modelFromPath: 'embed-small' };
    const err = await failure(() => route(registry)(ctxFor({ scopes: ['chat'], endpoint, model: 'embed-small' })));
    expect([err.code, err.status]).toEqual(['insufficient_scope', 403]);
    const ok = ctxFor({ scopes: ['embeddings'], endpoint, model: 'embed-small' });
    route(registry)(ok);
    expect(ok.operation).toBe('embeddings');
  });
});

describe('route with circuit breakers', () => {
  const a = makeDeployment('brk-model', { region: 'eu' });
  const b = makeDeployment('brk-model', { region: 'eu' });
  const fbEu = makeDeployment('brk-fallback', { region: 'eu' });
  const fbUs = makeDeployment('brk-far', { region: 'us' });
  const eu = makeTenant('eu', { regions: ['eu'] });
  const reg = makeRegistry([anywhere, eu], [], [a, b, fbEu, fbUs]);

  function routerWithFallbacks(chain: string[]) {
    return createRouter({
      config: { ...DEFAULT_ROUTING, fallbacks: new Map([['brk-model', chain]]), breaker: { ...DEFAULT_BREAKER, consecutiveFailures: 1, openMs: 5000 } },
    });
  }

  it('skips a deployment whose breaker is open', () => {
    const router = routerWithFallbacks([]);
    router.failed(a, 10);
    const chosen = picks(route(reg, { router }), { model: 'brk-model' }, 4);
    expect(chosen.every((d) => d === b)).toBe(true);
  });

  it('answers 503 upstream_unavailable with Retry-After when every deployment is open', async () => {
    const router = routerWithFallbacks([]);
    router.failed(a, 10);
    router.failed(b, 10);
    const err = await failure(() => route(reg, { router })(ctxFor({ model: 'brk-model' })));
    expect([err.code, err.status, err.headers['retry-after']]).toEqual(['upstream_unavailable', 503, '5']);
  });

  it('sends the request to a fallback model in the tenant regions when every deployment is open', async () => {
    const router = routerWithFallbacks(['brk-far', 'brk-fallback']);
    router.failed(a, 10);
    router.failed(b, 10);
    const ctx = ctxFor({ model: 'brk-model', tenant: eu });
    route(reg, { router })(ctx);
    expect(ctx.deployment).toBe(fbEu); // brk-far is only in us
    const onlyFar = routerWithFallbacks(['brk-far']);
    onlyFar.failed(a, 10);
    onlyFar.failed(b, 10);
    const err = await failure(() => route(reg, { router: onlyFar })(ctxFor({ model: 'brk-model', tenant: eu })));
    expect(err.code).toBe('upstream_unavailable');
  });
});
