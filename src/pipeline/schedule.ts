/**
 * Stage: take a slot of the chosen deployment from the fair scheduler (DESIGN §4) before the
 * upstream call, and give it back when the response is over. Runs after route. Synchronous when
 * the deployment has a slot this tenant may take; otherwise the request waits in its tenant's
 * queue, and a full queue or a long wait answers 429 with Retry-After.
 *
 * Priority comes from `x-gatehouse-priority: interactive | batch` (default interactive). A
 * request that had to wait says how long in `x-gatehouse-queue-ms` (only then: nothing is added
 * on the hot path), so a client can tell queueing at the gateway from a slow upstream.
 */
import { GatewayError } from '../errors.js';
import type { Priority, Scheduler, Slot } from '../limits/scheduler.js';
import type { Deployment } from '../providers/types.js';
import { addFinisher, type RequestContext, type RequestOutcome, type Stage } from './context.js';

export const PRIORITY_HEADER = 'x-gatehouse-priority';
export const QUEUE_MS_HEADER = 'x-gatehouse-queue-ms';

export interface ScheduleDeps {
  scheduler: Scheduler;
  defaults: { queueTimeoutMs: number; maxQueueDepth: number };
}

function priorityOf(value: string | string[] | undefined): Priority {
  if (value === undefined) return 'interactive';
  const v = typeof value === 'string' ? value.trim().toLowerCase() : undefined;
  if (v === 'interactive' || v === 'batch') return v;
  throw new GatewayError('invalid_request', `The ${PRIORITY_HEADER} header must be "interactive" or "batch".`, {
    param: PRIORITY_HEADER,
  });
}

function abortReason(ctx: RequestContext): unknown {
  return ctx.signal.reason ?? new Error('request aborted');
}

/**
 * Hands the slot to the finishers. A request aborted before it got here (the client left, or the
 * deadline passed while it waited) gives the slot back at once: the client's close may already
 * have run the finishers, so one pushed now would never run.
 */
function hold(ctx: RequestContext, slot: Slot): void {
  if (ctx.signal.aborted) {
    slot.release({ status: 499, upstreamMs: undefined });
    throw abortReason(ctx);
  }
  ctx.heldSlot = slot;
  // Adaptive capacity reacts to what the upstream said (a 503 there is a 502 to the client).
  // The slot is read at the end: a retry elsewhere may have moved the request to another one.
  addFinisher(ctx, releaseHeld);
}

function releaseHeld(outcome: RequestOutcome, ctx: RequestContext): void {
  ctx.heldSlot?.release({ status: outcome.upstreamStatus ?? outcome.status, upstreamMs: outcome.upstreamMs });
}

function acquireFor(deps: ScheduleDeps, ctx: RequestContext, deployment: Deployment, priority: Priority): Slot | Promise<Slot> {
  const tenant = ctx.tenant as NonNullable<RequestContext['tenant']>;
  return deps.scheduler.acquire({
    deploymentId: deployment.id,
    capacity: deployment.capacity,
    tenantId: tenant.id,
    weight: tenant.limits?.weight ?? 1,
    priority,
    signal: ctx.signal,
    queueTimeoutMs: deps.defaults.queueTimeoutMs,
    maxQueueDepth: deps.defaults.maxQueueDepth,
  });
}

/**
 * For the provider stage's retries: gives back the slot of the deployment that failed (with the
 * upstream's status, so adaptive capacity learns of its 429/503 at once) and takes one of the
 * next deployment, waiting in the tenant's queue there like any request. Each deployment's
 * capacity is only ever used through its own slots.
 */
export function slotMover(deps: ScheduleDeps) {
  return function moveSlot(ctx: RequestContext, _from: Deployment, to: Deployment, status: number): void | Promise<void> {
    const held = ctx.heldSlot;
    if (held === undefined) return; // not scheduled (no schedule stage in this pipeline)
    ctx.heldSlot = undefined;
    held.release({ status, upstreamMs: undefined });
    const got = acquireFor(deps, ctx, to, priorityOf(ctx.headers[PRIORITY_HEADER]));
    const keep = (slot: Slot): void => {
      // The response closed while this request waited: its finisher has run already.
      if (ctx.closed !== undefined || ctx.signal.aborted) {
        slot.release({ status: 499, upstreamMs: undefined });
        throw abortReason(ctx);
      }
      ctx.heldSlot = slot;
    };
    if (got instanceof Promise) return got.then(keep);
    keep(got);
  };
}

export function schedule(deps: ScheduleDeps): Stage {
  return function scheduleStage(ctx: RequestContext): void | Promise<void> {
    const { deployment, tenant } = ctx;
    if (deployment === undefined || tenant === undefined) throw new Error('schedule ran before route');
    const priority = priorityOf(ctx.headers[PRIORITY_HEADER]);
    if (ctx.signal.aborted) throw abortReason(ctx);
    const got = acquireFor(deps, ctx, deployment, priority);
    if (got instanceof Promise) {
      const since = performance.now();
      return got.then((slot) => {
        hold(ctx, slot);
        (ctx.extraHeaders ??= {})[QUEUE_MS_HEADER] = (performance.now() - since).toFixed(1);
      });
    }
    hold(ctx, got);
  };
}
