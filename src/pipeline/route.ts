/**
 * Stage: pick the deployment that serves the request's first attempt. The candidates are the
 * model's deployments inside the tenant's regions (src/routing/candidates.ts), so no choice can
 * leave them; the model's strategy chooses among those whose circuit breaker is not open
 * (src/routing/). When every breaker of the model is open, a configured fallback model serves,
 * else the client gets 503 with Retry-After. Retries and fallbacks after a failure happen in
 * the provider stage.
 */
import { GatewayError } from '../errors.js';
import type { Deployment, ModelKind, Operation } from '../providers/types.js';
import { candidateDeployments, fallbackGroups } from '../routing/candidates.js';
import { createRouter, type Pick, type Router } from '../routing/router.js';
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

export interface RouteOptions extends ScopeOptions {
  /** Strategies, breakers and fallbacks; one per gateway, shared with the provider stage. */
  router?: Router;
}

function unavailable(model: string, retryInMs: number): GatewayError {
  const seconds = Math.max(1, Math.ceil(retryInMs / 1000));
  return new GatewayError(
    'upstream_unavailable',
    `Every deployment of \`${model}\` is failing and temporarily out of rotation; retry after ${seconds} s.`,
    { headers: { 'retry-after': String(seconds) } },
  );
}

/** Every breaker of the model is open: the first fallback model with a usable deployment, if any. */
function fallbackPick(router: Router, registry: Registry, ctx: RequestContext, model: string, kind: ModelKind): Deployment | undefined {
  const tenant = ctx.tenant as NonNullable<RequestContext['tenant']>;
  if (tenant.limits?.fallbacks === false) return undefined; // a plan feature (billing)
  const chain = router.fallbacksOf(model);
  if (chain.length === 0) return undefined;
  const keyModels = ctx.principal?.allowedModels ?? null;
  for (const g of fallbackGroups(registry.current, tenant, keyModels, model, kind, chain)) {
    const p = router.pick(g.model, g.deployments);
    if (p.deployment !== undefined) return p.deployment;
  }
  return undefined;
}

export function route(registry: Registry, opts: RouteOptions = {}): Stage {
  const hook = opts.onAuthFailure;
  const router = opts.router ?? createRouter();

  /** The request's deployment from `picked`, else a fallback model's, else 503. */
  function decide(ctx: RequestContext, model: string, eligible: readonly Deployment[], picked: Pick): void {
    let deployment = picked.deployment;
    if (deployment === undefined) {
      deployment = fallbackPick(router, registry, ctx, model, (eligible[0] as Deployment).kind);
      if (deployment === undefined) throw unavailable(model, picked.unavailableMs ?? 0);
    }
    setOperation(ctx, model, deployment);
  }

  function setOperation(ctx: RequestContext, model: string, deployment: Deployment): void {
    const principal = ctx.principal as NonNullable<RequestContext['principal']>;
    const endpoint = ctx.endpoint;
    let operation: Operation;
    if (endpoint.op === 'predict') {
      operation = OPERATION_OF_KIND[deployment.kind];
      requireScope(ctx, principal, operation, hook);
    } else if (endpoint.op === 'chat' || endpoint.op === 'completions' || endpoint.op === 'embeddings') {
      operation = endpoint.op;
      if (KIND_OF_OPERATION[operation] !== deployment.kind) {
        router.unused(deployment);
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
  }

  return function routeStage(ctx: RequestContext): void | Promise<void> {
    const model = ctx.model;
    const tenant = ctx.tenant;
    if (model === undefined || tenant === undefined || ctx.principal === undefined) {
      throw new Error('route ran before body/authenticate');
    }
    const eligible = candidateDeployments(registry.current, tenant, model);
    if (eligible === undefined) throw modelNotFound(model);
    if (eligible.length === 0) {
      throw new GatewayError(
        'upstream_unavailable',
        `No deployment of \`${model}\` is available in the regions this tenant allows.`,
      );
    }
    const picked = router.pick(model, eligible);
    if (picked.claiming !== undefined) {
      // Every deployment is out and a shared breaker is half-open: if this replica wins the
      // fleet's one probe, this request is it (one Redis round trip, only in this state).
      return picked.claiming.then(() => decide(ctx, model, eligible, router.pick(model, eligible)));
    }
    decide(ctx, model, eligible, picked);
  };
}
