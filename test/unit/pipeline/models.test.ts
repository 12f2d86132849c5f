import { describe, expect, it } from 'vitest';
import type { Endpoint } from '../../../src/pipeline/context.js';
import { renderModels } from '../../../src/pipeline/models.js';
import type { Tenant } from '../../../src/tenancy/types.js';
import { failure, makeContext, makeDeployment, makePrincipal, makeRegistry, makeTenant } from './fixtures.js';

const open = makeTenant('open');
const narrow = makeTenant('narrow', { allowedModels: ['gpt-mini', 'embed-small', 'not-deployed'] });

const registry = makeRegistry(
  [open, narrow],
  [],
  [
    makeDeployment('gpt-mini', { region: 'us', ownedBy: 'openai', created: 111 }),
    makeDeployment('gpt-big'),
    makeDeployment('gpt-mini', { region: 'eu', ownedBy: 'someone-else', created: 222 }),
    makeDeployment('embed-small', { kind: 'embedding' }),
  ],
);
const render = renderModels(registry);

function ctxFor(tenant: Tenant, endpoint: Endpoint, keyModels: readonly string[] | null = null) {
  return makeContext({
    endpoint,
    fields: { tenant, principal: makePrincipal(tenant, { scopes: ['models:read'], allowedModels: keyModels }) },
  });
}

function listed(tenant: Tenant, keyModels: readonly string[] | null = null): string[] {
  const out = render(ctxFor(tenant, { op: 'models.list' }, keyModels));
  if (!('data' in out)) throw new Error('expected a list');
  expect(out.object).toBe('list');
  return out.data.map((m) => m.id);
}

describe('renderModels', () => {
  it('lists every catalogue model once, in catalogue order, for an unrestricted caller', () => {
    expect(listed(open)).toEqual(['gpt-mini', 'gpt-big', 'embed-small']);
  });

  it('limits the list to the tenant models that exist', () => {
    expect(listed(narrow)).toEqual(['gpt-mini', 'embed-small']);
  });

  it('limits the list further to the key models, never beyond the tenant', () => {
    expect(listed(open, ['gpt-big'])).toEqual(['gpt-big']);
    expect(listed(narrow, ['embed-small', 'gpt-big'])).toEqual(['embed-small']);
    expect(listed(narrow, [])).toEqual([]);
  });

  it('renders the OpenAI model object from the first deployment', () => {
    expect(render(ctxFor(open, { op: 'models.get', model: 'gpt-mini' }))).toEqual({
      id: 'gpt-mini',
      object: 'model',
      created: 111,
      owned_by: 'openai',
    });
    const list = render(ctxFor(open, { op: 'models.list' }));
    expect('data' in list && list.data[0]).toEqual({ id: 'gpt-mini', object: 'model', created: 111, owned_by: 'openai' });
  });

  it('answers get of an unknown model with model_not_found 404', async () => {
    for (const tenant of [open, narrow]) {
      const err = await failure(() => render(ctxFor(tenant, { op: 'models.get', model: 'not-deployed' })));
      expect([err.code, err.status, err.param]).toEqual(['model_not_found', 404, 'model']);
    }
  });

  it('refuses to render before authenticate', () => {
    expect(() => render(makeContext({ endpoint: { op: 'models.list' } }))).toThrow(/before authenticate/);
  });
});
