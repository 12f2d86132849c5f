/**
 * The one lookup for what serves a model for a tenant, pure (hand-built snapshots): dedicated
 * deployments replace the platform's of the same name for their tenant only; aliases resolve one
 * level, and only for their tenant; the model list and the route stage use the same lookup.
 */
import { describe, expect, it } from 'vitest';
import { resolveModelAlias } from '../../../src/pipeline/alias.js';
import { authorize } from '../../../src/pipeline/authorize.js';
import { renderModels } from '../../../src/pipeline/models.js';
import { route } from '../../../src/pipeline/route.js';
import { deploymentsFor, resolveAlias } from '../../../src/routing/tenant-deployments.js';
import { buildSnapshot, createRegistry, visibleModels } from '../../../src/tenancy/snapshot.js';
import { failure, makeContext, makeDeployment, makePrincipal, makeTenant } from '../pipeline/fixtures.js';

const alpha = makeTenant('alpha');
const bravo = makeTenant('bravo');
const limited = makeTenant('limited', { allowedModels: ['gpt-mini'] });
const platformMini = makeDeployment('gpt-mini');
const platformBig = makeDeployment('gpt-big');
const alphaMini = makeDeployment('gpt-mini', { id: 'tenant:1', ownedBy: 'alpha' });
const alphaOwn = makeDeployment('alpha-llm', { id: 'tenant:2', ownedBy: 'alpha' });

const snapshot = buildSnapshot({
  tenants: [alpha, bravo, limited],
  keys: [],
  deployments: [platformMini, platformBig],
  tenantModels: [
    { tenantId: alpha.id, deployments: [alphaMini, alphaOwn], aliases: { fast: 'gpt-mini', mine: 'alpha-llm', 'gpt-big': 'alpha-llm' } },
    { tenantId: limited.id, deployments: [], aliases: { cheap: 'gpt-mini', pricey: 'gpt-big' } },
    // A tenant the snapshot does not know is dropped, never reachable.
    { tenantId: '00000000-0000-4000-8000-00000000dead', deployments: [makeDeployment('ghost')], aliases: {} },
  ],
});
const registry = createRegistry(snapshot);

describe('deploymentsFor', () => {
  it("gives a tenant its own deployments of a name instead of the platform's, and others the platform's", () => {
    expect(deploymentsFor(snapshot, alpha, 'gpt-mini')).toEqual([alphaMini]);
    expect(deploymentsFor(snapshot, bravo, 'gpt-mini')).toEqual([platformMini]);
    expect(deploymentsFor(snapshot, alpha, 'alpha-llm')).toEqual([alphaOwn]);
    expect(deploymentsFor(snapshot, bravo, 'alpha-llm')).toBeUndefined();
    expect(deploymentsFor(snapshot, bravo, 'ghost')).toBeUndefined();
    expect(snapshot.tenantCatalogues.size).toBe(2);
  });

  it('resolves aliases one level, per tenant', () => {
    expect(resolveAlias(snapshot, alpha.id, 'fast')).toBe('gpt-mini');
    expect(resolveAlias(snapshot, alpha.id, 'gpt-big')).toBe('alpha-llm');
    expect(resolveAlias(snapshot, bravo.id, 'fast')).toBe('fast');
  });

  it('lists own models and aliases whose target is allowed', () => {
    expect(visibleModels(snapshot, alpha, null).map(([n]) => n)).toEqual(['gpt-mini', 'gpt-big', 'alpha-llm', 'fast', 'mine']);
    expect(visibleModels(snapshot, alpha, null).find(([n]) => n === 'gpt-big')?.[1]).toBe(alphaOwn);
    expect(visibleModels(snapshot, bravo, null).map(([n]) => n)).toEqual(['gpt-mini', 'gpt-big']);
    expect(visibleModels(snapshot, limited, null).map(([n]) => n)).toEqual(['gpt-mini', 'cheap']);
  });
});

describe('the stages use it', () => {
  const stages = [resolveModelAlias(registry), authorize(), route(registry)];
  function run(tenant: typeof alpha, model: string) {
    const ctx = makeContext({ fields: { tenant, principal: makePrincipal(tenant, { scopes: ['inference'] }), model } });
    for (const s of stages) void s(ctx);
    return ctx;
  }

  it('routes an alias to its target and keeps the asked name', () => {
    const ctx = run(alpha, 'mine');
    expect(ctx.deployment).toBe(alphaOwn);
    expect(ctx.model).toBe('alpha-llm');
    expect(ctx.requestedModel).toBe('mine');
    expect(run(alpha, 'gpt-mini').deployment).toBe(alphaMini);
    expect(run(bravo, 'gpt-mini').deployment).toBe(platformMini);
  });

  it("refuses another tenant's model and an alias to a model the tenant may not use, as not found", async () => {
    expect(await failure(() => run(bravo, 'alpha-llm'))).toMatchObject({ code: 'model_not_found' });
    expect(await failure(() => run(limited, 'pricey'))).toMatchObject({ code: 'model_not_found' });
    expect(run(limited, 'cheap').deployment).toBe(platformMini);
  });

  it('answers /v1/models/{alias} with the alias as id', () => {
    const ctx = makeContext({ endpoint: { op: 'models.get', model: 'fast' }, fields: { tenant: alpha, principal: makePrincipal(alpha) } });
    void resolveModelAlias(registry)(ctx);
    void authorize()(ctx);
    expect(renderModels(registry)(ctx)).toMatchObject({ id: 'fast', owned_by: 'alpha' });
  });
});
