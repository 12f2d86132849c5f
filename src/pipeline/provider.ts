/**
 * Stage: send the request through its deployment's provider adapter, with the retries, timeouts
 * and fallbacks of src/routing/attempts.ts. The answer is left on the context for the server to
 * stream back; this stage never touches the client socket, so everything it retries happens
 * before the client has a byte.
 *
 * On the way out it records what actually served: `ctx.deployment` (headers, metering and the
 * admission settle read it) and `x-gatehouse-attempts`.
 */
import type { CancelSignal } from '../providers/cancel.js';
import type { Deployment, ProviderAdapter, ProviderKind, UpstreamResponse } from '../providers/types.js';
import { runAttempts, type AttemptDeps, type AttemptRequest } from '../routing/attempts.js';
import { createRouter, type Router } from '../routing/router.js';
import type { Registry } from '../tenancy/snapshot.js';
import { addFinisher, type Finisher, type RequestContext, type Stage } from './context.js';
import { serving } from './serving.js';

export const ATTEMPTS_HEADER = 'x-gatehouse-attempts';

export interface AdapterSource {
  get(kind: ProviderKind): ProviderAdapter;
}

export interface ProviderStageOptions {
  /** The same router as the route stage's. */
  router?: Router;
  /** Where retries find the model's other deployments and fallback models; none: no retry elsewhere. */
  registry?: Registry;
  /** Moves the request's scheduler slot to the next deployment (see schedule.ts slotMover). */
  moveSlot?: AttemptDeps<RequestContext>['moveSlot'];
}

export function callProvider(adapters: AdapterSource, opts: ProviderStageOptions = {}): Stage {
  const router = opts.router ?? createRouter();
  const registry = opts.registry;

  const send = (d: Deployment, signal: CancelSignal, ctx: RequestContext): Promise<UpstreamResponse> => {
    // Upstream time is the serving attempt's: adaptive capacity must not read backoffs as slowness.
    ctx.upstreamStartedAt = process.hrtime.bigint();
    return adapters.get(d.provider).send(d, {
      operation: ctx.operation as NonNullable<RequestContext['operation']>,
      body: ctx.body as Record<string, unknown>,
      stream: ctx.body?.stream === true,
      requestId: ctx.requestId,
      signal,
    });
  };
  const deps: AttemptDeps<RequestContext> = { router, send, ...(opts.moveSlot ? { moveSlot: opts.moveSlot } : {}) };

  const { candidates, fallbacks } = serving(registry, router);
  // One function for every request: gives back the served deployment's in-flight count.
  const endInFlight: Finisher = (_outcome, ctx) => {
    if (ctx.deployment !== undefined) router.end(ctx.deployment);
  };

  return async function providerStage(ctx: RequestContext): Promise<void> {
    const { deployment, operation, body } = ctx;
    if (deployment === undefined || operation === undefined || body === undefined) {
      throw new Error('provider ran before route');
    }
    const req: AttemptRequest<RequestContext> = {
      context: ctx,
      model: deployment.model,
      first: deployment,
      candidates,
      fallbacks,
      signal: ctx.signal,
      party: ctx.tenant?.id,
      attempts: 0,
      current: deployment,
    };
    try {
      const result = await runAttempts(deps, req);
      ctx.upstream = result.response;
      ctx.deployment = result.deployment;
    } catch (err) {
      // The client's error names the deployment that failed last.
      ctx.deployment = req.current;
      throw err;
    } finally {
      ctx.upstreamAnsweredAt = process.hrtime.bigint();
      (ctx.extraHeaders ??= {})[ATTEMPTS_HEADER] = String(req.attempts);
    }
    addFinisher(ctx, endInFlight);
  };
}
