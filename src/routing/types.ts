/**
 * Routing and resilience settings as the router sees them (DESIGN §6): how a model's deployments
 * share its traffic, how a failed attempt is retried, where it falls back to, and when a
 * deployment is taken out of rotation. Pure data; the config schema (src/config/schema.ts)
 * validates it and fills in the defaults below.
 */

export type Strategy = 'weighted' | 'least-busy' | 'lowest-latency';

/** Upstream refusals a request may fall back to another model on, when the model's policy says so. */
export type FallbackReason = 'context_window' | 'content_policy';

export interface RetryPolicy {
  /** Upstream attempts per request, the first included (1 = no retry, no fallback). */
  maxAttempts: number;
  /** First backoff; doubles per attempt, with full jitter. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** An upstream Retry-After longer than this is cut to it (the client waits on us meanwhile). */
  maxRetryAfterMs: number;
}

export interface ModelPolicy {
  strategy: Strategy;
  retry: RetryPolicy;
  /** One attempt, from sending to the upstream's response headers; 0 = only the provider timeout. */
  attemptTimeoutMs: number;
  /** All attempts together, backoffs included, until response headers; 0 = only the request deadline. */
  totalTimeoutMs: number;
  /** Upstream 4xx refusals that move the request to the next fallback model. */
  fallbackOn: readonly FallbackReason[];
}

export interface BreakerPolicy {
  /** Consecutive failures that open the breaker. */
  consecutiveFailures: number;
  /** Failure share within `windowMs` that opens it, once `minRequests` were seen in the window. */
  failureRate: number;
  minRequests: number;
  windowMs: number;
  /** First cool-down before a half-open probe; doubles after each failed probe up to maxOpenMs. */
  openMs: number;
  maxOpenMs: number;
}

export interface RoutingConfig {
  defaults: ModelPolicy;
  /** Per public model name, laid over the defaults. */
  models: ReadonlyMap<string, ModelPolicy>;
  /** Model → ordered fallback models. */
  fallbacks: ReadonlyMap<string, readonly string[]>;
  breaker: BreakerPolicy;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseBackoffMs: 100, maxBackoffMs: 2000, maxRetryAfterMs: 5000 };

export const DEFAULT_MODEL_POLICY: ModelPolicy = {
  strategy: 'weighted',
  retry: DEFAULT_RETRY,
  attemptTimeoutMs: 0,
  totalTimeoutMs: 0,
  fallbackOn: [],
};

export const DEFAULT_BREAKER: BreakerPolicy = {
  consecutiveFailures: 5,
  failureRate: 0.5,
  minRequests: 20,
  windowMs: 30_000,
  openMs: 5_000,
  maxOpenMs: 60_000,
};

export const DEFAULT_ROUTING: RoutingConfig = {
  defaults: DEFAULT_MODEL_POLICY,
  models: new Map(),
  fallbacks: new Map(),
  breaker: DEFAULT_BREAKER,
};

export function policyOf(config: RoutingConfig, model: string): ModelPolicy {
  return config.models.get(model) ?? config.defaults;
}
