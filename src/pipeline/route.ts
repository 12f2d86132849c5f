/**
 * Stage: pick the deployment that serves the request. Filters by the tenant's regions before
 * choosing, so no choice can leave them, and spreads load round-robin over what remains
 * (weighted / least-busy strategies and fallbacks plug in here later).
 */
import { GatewayError } from '../errors.js';
import type { Deployment, ModelKind, Operation } from '../providers/types.js';
import { deploymentsFor } from '../routing/tenant-deployments.js';
import type { Registry } from '../tenancy/snapshot.js';
import { modelNotFound, requireScope, type ScopeOptions } from './authorize.js';
import type { RequestContext, Stage } from './context.js';

const KIND_OF_OPERATION: Record<Operation, ModelKind> = {
  chat: 'chat',
  completions: 'completion',
  embeddings: 'embedding',
};
const OPERATION_OF_KIND: Record<ModelKind, Operation> = {
  chat: 'chat',
  completion: 'completions',
  embedding: 'embeddings',
};

export function route(registry: Registry, opts: ScopeOptions = {}): Stage {
  const hook = opts.onAuthFailure;
  // One turn counter per model: a shared one would pin alternating models to fixed deployments.
  const turns = new Map<string, number>();
  return function routeStage(ctx: RequestContext): void {
    const model = ctx.model;
    const tenant = ctx.tenant;
    if (model === undefined || tenant === undefined || ctx.principal === undefined) {
      throw new Error('route ran before body/authenticate');
    }
    const all = deploymentsFor(registry.current, tenant, model);
    if (all === undefined) throw modelNotFound(model);
    const eligible: readonly Deployment[] =
      tenant.regions.length === 0 ? all : all.filter((d) => tenant.regions.includes(d.region));
    if (eligible.length === 0) {
      throw new GatewayError(
        'upstream_unavailable',
        `No deployment of \`${model}\` is available in the regions this tenant allows.`,
      );
    }
    const turn = ((turns.get(model) ?? -1) + 1) % 1_000_000;
    turns.set(model, turn);
    const deployment = eligible[turn % eligible.length] as Deployment;

    const endpoint = ctx.endpoint;
    let operation: Operation;
    if (endpoint.op === 'predict') {
      operation = OPERATION_OF_KIND[deployment.kind];
      requireScope(ctx, ctx.principal, operation, hook);
    } else if (endpoint.op === 'chat' || endpoint.op === 'completions' || endpoint.op === 'embeddings') {
      operation = endpoint.op;
      if (KIND_OF_OPERATION[operation] !== deployment.kind) {
        throw new GatewayError(
          'unsupported_operation',
          `The model \`${model}\` is a ${deployment.kind} model and does not support ${operation}.`,
          { param: 'model' },
        );
      }
    } else {
      throw new Error(`route does not handle ${endpoint.op}`);
    }
    ctx.operation = operation;
    ctx.deployment = deployment;
  };
}
