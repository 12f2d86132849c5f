/**
 * The attempt loop (DESIGN §6): sends a request to its first deployment and, on a retryable
 * failure, to the next one (another deployment of the model by its strategy, then the
 * configured fallback models, then the same deployments again), with jittered backoff, a
 * per-attempt and a total timeout, until one answers or the attempts run out.
 *
 * Everything happens before the response headers are handed on: once the caller has the
 * response, nothing here runs again, so a stream that breaks after its first byte is never
 * retried (its client gets the error event). The client's cancellation stops the current
 * attempt and any further one. No HTTP and no tenants here: the candidates come in already
 * limited to the tenant's regions, so no retry or fallback can leave them.
 */
import { Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import { Cancellation, type CancelSignal } from '../providers/cancel.js';
import type { Deployment, UpstreamResponse, Usage } from '../providers/types.js';
import { backoffMs } from './backoff.js';
import type { FallbackGroup } from './candidates.js';
import { refusalReason, retryable } from './classify.js';
import type { Router } from './router.js';
import type { ModelPolicy } from './types.js';

/** `C` is the caller's request context, handed back to its callbacks (no closure per request). */
export interface AttemptDeps<C> {
  router: Router;
  send(d: Deployment, signal: CancelSignal, context: C): Promise<UpstreamResponse>;
  /**
   * The request moves from `from` to `to`: give back the scheduler slot of `from` (its upstream
   * answered `status`, which adaptive capacity learns from) and take one of `to`.
   */
  moveSlot?(context: C, from: Deployment, to: Deployment, status: number): void | Promise<void>;
  now?: () => number;
  random?: () => number;
}

export interface AttemptRequest<C> {
  context: C;
  /** Model of the first deployment (the requested one, or a fallback route chose). */
  model: string;
  /** Chosen by route (its breaker pass taken, its scheduler slot held). */
  first: Deployment;
  /** The model's deployments inside the tenant's regions. */
  candidates(context: C): readonly Deployment[];
  /** The usable fallback models (see candidates.ts). Both lists are computed only when needed. */
  fallbacks(context: C): readonly FallbackGroup[];
  /** The client's cancellation (disconnect or request deadline). */
  signal: CancelSignal;
  /** Who sends it (the tenant), for the breakers (breaker.ts). */
  party?: string;
  /** Updated as the loop goes: attempts made so far and the deployment of the latest one. */
  attempts: number;
  current: Deployment;
}

export interface AttemptResult {
  deployment: Deployment;
  response: UpstreamResponse;
  attempts: number;
}

const NO_USAGE: Promise<Usage | undefined> = Promise.resolve(undefined);
/** Upstream refusals are small envelopes; more than this is not read for a fallback decision. */
const REFUSAL_LIMIT = 64 * 1024;

export function sleep(ms: number, signal: CancelSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * One attempt under a time limit (until the response headers). Without a limit the client's
 * signal is passed as is: no timer, no extra listener on the hot path.
 */
async function attemptOnce<C>(deps: AttemptDeps<C>, context: C, d: Deployment, signal: CancelSignal, limitMs: number, policy: ModelPolicy): Promise<UpstreamResponse> {
  if (limitMs === Infinity) return deps.send(d, signal, context);
  const child = new Cancellation();
  const forward = (): void => child.abort(signal.reason);
  signal.addEventListener('abort', forward, { once: true });
  const timer = setTimeout(() => {
    const attemptMs = d.attemptTimeoutMs ?? (policy.attemptTimeoutMs > 0 ? policy.attemptTimeoutMs : Infinity);
    const what = limitMs < attemptMs ? `the total timeout of ${policy.totalTimeoutMs} ms` : `the attempt timeout of ${limitMs} ms`;
    child.abort(new GatewayError('upstream_timeout', `The upstream provider did not answer within ${what}.`));
  }, Math.max(1, limitMs));
  try {
    return await deps.send(d, child, context);
  } catch (err) {
    // This attempt is over: the client's signal has nothing more to cancel here.
    signal.removeEventListener('abort', forward);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a small refusal body and hands back an equivalent response for the client. */
async function readRefusal(response: UpstreamResponse): Promise<{ text: string; response: UpstreamResponse }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    chunks.push(b);
    size += b.length;
    if (size > REFUSAL_LIMIT) break;
  }
  const buf = Buffer.concat(chunks, size);
  return {
    text: buf.toString('utf8', 0, Math.min(size, REFUSAL_LIMIT)),
    response: { status: response.status, headers: response.headers, body: Readable.from([buf], { objectMode: false }), usage: NO_USAGE },
  };
}

export async function runAttempts<C>(deps: AttemptDeps<C>, req: AttemptRequest<C>): Promise<AttemptResult> {
  const { router } = deps;
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const { signal } = req;
  const policy: ModelPolicy = router.policy(req.model);
  const maxAttempts = policy.retry.maxAttempts;
  const started = now();
  const deadline = policy.totalTimeoutMs > 0 ? started + policy.totalTimeoutMs : Infinity;
  const attemptLimit = policy.attemptTimeoutMs > 0 ? policy.attemptTimeoutMs : Infinity;

  let group: FallbackGroup | undefined;
  let fallbacks: readonly FallbackGroup[] | undefined;
  let nextFallback = 0;
  let tried: Set<string> | undefined;
  let d = req.first;

  /** The next fallback model with a usable deployment, moving `group` to it. */
  const fallBack = (exclude: ReadonlySet<string> | undefined): Deployment | undefined => {
    fallbacks ??= req.fallbacks(req.context);
    while (nextFallback < fallbacks.length) {
      const g = fallbacks[nextFallback++] as FallbackGroup;
      const p = router.pick(g.model, g.deployments, exclude);
      if (p.deployment !== undefined) {
        group = g;
        return p.deployment;
      }
    }
    return undefined;
  };

  /** After a retryable failure: an untried deployment of this model, a fallback, or this model again. */
  const nextAfterFailure = (): Deployment | undefined => {
    group ??= { model: req.model, deployments: req.candidates(req.context) };
    const p = router.pick(group.model, group.deployments, tried);
    if (p.deployment !== undefined) return p.deployment;
    const g = group;
    return fallBack(tried) ?? router.pick(g.model, g.deployments).deployment;
  };

  for (let attempt = 1; ; attempt++) {
    const t0 = now();
    const own = d.attemptTimeoutMs;
    const limit = Math.min(own === undefined ? attemptLimit : own, deadline - t0);
    req.attempts = attempt;
    req.current = d;
    router.begin(d);
    let response: UpstreamResponse;
    try {
      response = await attemptOnce(deps, req.context, d, signal, limit, policy);
    } catch (err) {
      router.end(d);
      const r = signal.aborted ? undefined : retryable(err);
      if (r === undefined) {
        router.unused(d);
        throw err;
      }
      if (r.breaker) router.failed(d, now() - t0, req.party);
      else router.unused(d);
      if (attempt >= maxAttempts) throw err;
      (tried ??= new Set()).add(d.id);
      const next = nextAfterFailure();
      if (next === undefined) throw err;
      const delay = backoffMs(policy.retry, attempt, next === d ? r.retryAfterMs : undefined, random());
      if (now() + delay >= deadline) {
        router.unused(next);
        throw err;
      }
      try {
        await sleep(delay, signal);
        if (next !== d) await deps.moveSlot?.(req.context, d, next, r.status ?? 502);
      } catch (stop) {
        router.unused(next);
        // Cancelled while waiting (the client left): its reason; a full queue elsewhere: the upstream's error.
        throw signal.aborted ? stop : err;
      }
      d = next;
      continue;
    }

    if (response.status >= 400 && policy.fallbackOn.length > 0 && attempt < maxAttempts) {
      const refusal = await readRefusal(response);
      response = refusal.response;
      const reason = refusalReason(response.status, refusal.text);
      const next = reason !== undefined && policy.fallbackOn.includes(reason) ? fallBack(undefined) : undefined;
      if (next !== undefined) {
        // The deployment is healthy (it judged the request); the next model may accept it.
        router.succeeded(d, now() - t0, req.party);
        let moved = !signal.aborted;
        try {
          if (moved) await deps.moveSlot?.(req.context, d, next, response.status);
        } catch {
          moved = false;
        }
        if (moved) {
          router.end(d);
          d = next;
          continue;
        }
        router.unused(next);
        if (signal.aborted) throw signal.reason;
        // No slot for the fallback: the client gets the refusal.
        return { deployment: d, response, attempts: attempt };
      }
    }
    router.succeeded(d, now() - t0, req.party);
    return { deployment: d, response, attempts: attempt };
  }
}
