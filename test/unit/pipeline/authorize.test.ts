import { describe, expect, it } from 'vitest';
import { authorize } from '../../../src/pipeline/authorize.js';
import type { Endpoint } from '../../../src/pipeline/context.js';
import { route } from '../../../src/pipeline/route.js';
import type { Scope, Tenant } from '../../../src/tenancy/types.js';
import { failure, makeContext, makeDeployment, makePrincipal, makeRegistry, makeTenant } from './fixtures.js';

const open = makeTenant('open');
const narrow = makeTenant('narrow', { allowedModels: ['gpt-mini', 'embed-small'] });
const stage = authorize();

interface Case {
  tenant?: Tenant;
  scopes?: readonly Scope[];
  keyModels?: readonly string[] | null;
  endpoint: Endpoint;
  model?: string;
}

function ctxFor(c: Case) {
  const tenant = c.tenant ?? open;
  return makeContext({
    endpoint: c.endpoint,
    fields: {
      tenant,
      principal: makePrincipal(tenant, { scopes: c.scopes ?? ['inference'], allowedModels: c.keyModels ?? null }),
      model: c.model,
    },
  });
}

const allowed = (c: Case) => () => stage(ctxFor(c));

const chat: Endpoint = { op: 'chat' };
const completions: Endpoint = { op: 'completions' };
const embeddings: Endpoint = { op: 'embeddings' };
const list: Endpoint = { op: 'models.list' };
const predict: Endpoint = { op: 'predict', modelFromPath: 'gpt-mini' };

async function scopeDenied(c: Case) {
  const err = await failure(allowed(c));
  expect([err.code, err.status]).toEqual(['insufficient_scope', 403]);
}

describe('authorize: scopes', () => {
  it('lets inference call chat, completions, embeddings and predict, but not read models', async () => {
    for (const endpoint of [chat, completions, embeddings, predict]) {
      expect(allowed({ endpoint, model: 'gpt-mini' })).not.toThrow();
    }
    await scopeDenied({ endpoint: list });
    await scopeDenied({ endpoint: { op: 'models.get', model: 'gpt-mini' } });
  });

  it('lets a chat-only key call chat and nothing else that is not predict', async () => {
    const scopes: Scope[] = ['chat'];
    expect(allowed({ scopes, endpoint: chat, model: 'gpt-mini' })).not.toThrow();
    await scopeDenied({ scopes, endpoint: completions, model: 'gpt-mini' });
    await scopeDenied({ scopes, endpoint: embeddings, model: 'embed-small' });
    await scopeDenied({ scopes, endpoint: list });
  });

  it('lets predict through for any model-calling scope (route re-checks the resolved operation)', async () => {
    for (const s of ['chat', 'completions', 'embeddings'] as const) {
      expect(allowed({ scopes: [s], endpoint: predict, model: 'gpt-mini' })).not.toThrow();
    }
    await scopeDenied({ scopes: ['models:read'], endpoint: predict, model: 'gpt-mini' });
    await scopeDenied({ scopes: [], endpoint: predict, model: 'gpt-mini' });
  });

  it('requires models:read to list or get models, and nothing more', async () => {
    const scopes: Scope[] = ['models:read'];
    expect(allowed({ scopes, endpoint: list })).not.toThrow();
    expect(allowed({ scopes, endpoint: { op: 'models.get', model: 'gpt-mini' } })).not.toThrow();
    await scopeDenied({ scopes, endpoint: chat, model: 'gpt-mini' });
  });
});

describe('authorize: models', () => {
  it('allows every model for a tenant with "*" and a key without a list', () => {
    expect(allowed({ endpoint: chat, model: 'anything-at-all' })).not.toThrow();
  });

  it('intersects the tenant list and the key list', async () => {
    const t = { tenant: narrow, endpoint: chat };
    expect(allowed({ ...t, model: 'gpt-mini' })).not.toThrow();
    expect((await failure(allowed({ ...t, model: 'gpt-big' }))).code).toBe('model_not_found');
    // The key narrows the tenant, and cannot widen it.
    const k = { ...t, keyModels: ['embed-small', 'gpt-big'] };
    expect(allowed({ ...k, endpoint: embeddings, model: 'embed-small' })).not.toThrow();
    expect((await failure(allowed({ ...k, model: 'gpt-mini' }))).code).toBe('model_not_found');
    expect((await failure(allowed({ ...k, model: 'gpt-big' }))).code).toBe('model_not_found');
  });

  it('answers a disallowed model like a nonexistent one: model_not_found 404 on param model', async () => {
    const denied = await failure(allowed({ tenant: narrow, endpoint: chat, model: 'gpt-big' }));
    expect([denied.code, denied.status, denied.param]).toEqual(['model_not_found', 404, 'model']);

    // What the route stage says about a model nobody has, for the same name.
    const registry = makeRegistry([open], [], [makeDeployment('gpt-mini')]);
    const missing = await failure(() =>
      route(registry)(makeContext({ fields: { tenant: open, principal: makePrincipal(open), model: 'gpt-big' } })),
    );
    expect([missing.code, missing.status, missing.param, missing.message]).toEqual([
      denied.code,
      denied.status,
      denied.param,
      denied.message,
    ]);
  });

  it('checks the model of models.get and of predict', async () => {
    const get = await failure(
      allowed({ tenant: narrow, scopes: ['models:read'], endpoint: { op: 'models.get', model: 'gpt-big' } }),
    );
    expect([get.code, get.status]).toEqual(['model_not_found', 404]);
    const pred = await failure(
      allowed({ tenant: narrow, endpoint: { op: 'predict', modelFromPath: 'gpt-big' }, model: 'gpt-big' }),
    );
    expect(pred.code).toBe('model_not_found');
  });

  it('refuses to run before authenticate', () => {
    expect(() => stage(makeContext({ endpoint: chat, fields: { model: 'gpt-mini' } }))).toThrow(/before authenticate/);
  });
});
