/**
 * Which deployments may serve a routed request: the model's own deployments (retries) and, when
 * the tenant's plan allows fallbacks, those of its fallback models. The provider stage walks
 * them (src/routing/attempts.ts); admission prices its reservation at the dearest of them, so a
 * retry or fallback onto a pricier deployment cannot take a budget past its limit.
 */
import type { Deployment } from '../providers/types.js';
import { candidateDeployments, fallbackGroups, type FallbackGroup } from '../routing/candidates.js';
import type { Router } from '../routing/router.js';
import type { Registry } from '../tenancy/snapshot.js';
import type { RequestContext } from './context.js';

export interface Serving {
  /** The routed model's deployments of the routed deployment's kind. */
  candidates(ctx: RequestContext): readonly Deployment[];
  /** The fallback models' deployments, in chain order. */
  fallbacks(ctx: RequestContext): readonly FallbackGroup[];
  /** Every deployment that may serve: the routed one first, then candidates and fallbacks. */
  all(ctx: RequestContext): readonly Deployment[];
}

const NO_DEPLOYMENTS: readonly Deployment[] = [];
const NO_FALLBACKS: readonly FallbackGroup[] = [];

export function serving(registry: Registry | undefined, router: Pick<Router, 'fallbacksOf'>): Serving {
  const candidates = (ctx: RequestContext): readonly Deployment[] => {
    const { tenant, deployment } = ctx;
    if (registry === undefined || tenant === undefined || deployment === undefined) return NO_DEPLOYMENTS;
    const kind = deployment.kind;
    return (candidateDeployments(registry.current, tenant, deployment.model) ?? NO_DEPLOYMENTS).filter((d) => d.kind === kind);
  };
  const fallbacks = (ctx: RequestContext): readonly FallbackGroup[] => {
    const { tenant, deployment, model } = ctx;
    if (registry === undefined || tenant === undefined || deployment === undefined || model === undefined) return NO_FALLBACKS;
    // Fallbacks to other models are a plan feature; retries on the model's own deployments are not.
    if (tenant.limits?.fallbacks === false) return NO_FALLBACKS;
    const chain = router.fallbacksOf(model);
    if (chain.length === 0) return NO_FALLBACKS;
    return fallbackGroups(registry.current, tenant, ctx.principal?.allowedModels ?? null, deployment.model, deployment.kind, chain);
  };
  const all = (ctx: RequestContext): readonly Deployment[] => {
    const first = ctx.deployment;
    if (first === undefined) return NO_DEPLOYMENTS;
    const own = candidates(ctx);
    const groups = fallbacks(ctx);
    if (groups.length === 0 && own.length === 1 && own[0] === first) return own;
    return [first, ...own, ...groups.flatMap((g) => g.deployments)];
  };
  return { candidates, fallbacks, all };
}
