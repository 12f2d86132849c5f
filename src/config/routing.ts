/** The validated `routing:` block as the router's RoutingConfig (src/routing/types.ts). */
import type { Deployment } from '../providers/types.js';
import type { ModelPolicy, RoutingConfig } from '../routing/types.js';
import type { Report } from './resolve.js';
import type { RoutingSettings } from './schema.js';

type PolicyFields = Partial<Omit<RoutingSettings, 'models' | 'fallbacks' | 'breaker'>>;

function policy(base: Omit<RoutingSettings, 'models' | 'fallbacks' | 'breaker'>, over: PolicyFields): ModelPolicy {
  const f = { ...base, ...over };
  return {
    strategy: f.strategy,
    retry: {
      maxAttempts: f.maxAttempts,
      baseBackoffMs: f.baseBackoffMs,
      maxBackoffMs: Math.max(f.baseBackoffMs, f.maxBackoffMs),
      maxRetryAfterMs: f.maxRetryAfterMs,
    },
    attemptTimeoutMs: f.attemptTimeoutMs,
    totalTimeoutMs: f.totalTimeoutMs,
    fallbackOn: f.fallbackOn,
  };
}

export function routingConfig(settings: RoutingSettings): RoutingConfig {
  const { models, fallbacks, breaker, ...base } = settings;
  return {
    defaults: policy(base, {}),
    models: new Map(Object.entries(models).map(([model, over]) => [model, policy(base, over)])),
    fallbacks: new Map(Object.entries(fallbacks)),
    breaker: { ...breaker, maxOpenMs: Math.max(breaker.openMs, breaker.maxOpenMs) },
  };
}

/** Every model the routing block names must have a deployment; a fallback must differ from its model. */
export function checkRouting(settings: RoutingSettings, deployments: readonly Deployment[], report: Report): void {
  const known = new Set(deployments.map((d) => d.model));
  for (const model of Object.keys(settings.models)) {
    if (!known.has(model)) report(['routing', 'models', model], `unknown model "${model}": no deployment serves it`);
  }
  for (const [model, chain] of Object.entries(settings.fallbacks)) {
    if (!known.has(model)) report(['routing', 'fallbacks', model], `unknown model "${model}": no deployment serves it`);
    chain.forEach((m, i) => {
      if (m === model) report(['routing', 'fallbacks', model, i], `"${m}" cannot be its own fallback`);
      else if (!known.has(m)) report(['routing', 'fallbacks', model, i], `unknown model "${m}": no deployment serves it`);
    });
  }
}
