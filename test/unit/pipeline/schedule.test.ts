import { describe, expect, it } from 'vitest';
import { createAdaptiveCapacity } from '../../../src/limits/adaptive.js';
import { createScheduler, type AcquireRequest, type Scheduler, type Slot, type SlotOutcome } from '../../../src/limits/scheduler.js';
import type { TenantLimits } from '../../../src/limits/types.js';
import type { RequestContext, RequestOutcome } from '../../../src/pipeline/context.js';
import { schedule } from '../../../src/pipeline/schedule.js';
import type { Cancellation } from '../../../src/providers/cancel.js';
import type { Tenant } from '../../../src/tenancy/types.js';
import { failure, makeContext, makeDeployment, makeTenant } from './fixtures.js';

const DEFAULTS = { queueTimeoutMs: 5000, maxQueueDepth: 10 };
const deployment = makeDeployment('gpt-mini', { capacity: 1 });
const limits = (weight: number): TenantLimits => ({ plan: 'pro', weight, rules: [], timeZone: 'UTC', budgetAction: 'reject' });

function ctxFor(tenant: Tenant, headers: Record<string, string> = {}): RequestContext {
  const ctx = makeContext({ headers, fields: { tenant } });
  ctx.deployment = deployment;
  return ctx;
}

function outcome(status: number, upstreamMs: number | undefined = 10): RequestOutcome {
  return { status, usage: undefined, clientAborted: false, upstreamMs };
}

function finish(ctx: RequestContext, o: RequestOutcome): void {
  for (const f of ctx.finishers ?? []) f(o, ctx);
}

/** Records what the stage asks for and answers with a slot that records its releases. */
function recordingScheduler(answer: (slot: Slot) => Slot | Promise<Slot> = (s) => s) {
  const asked: AcquireRequest[] = [];
  const released: SlotOutcome[] = [];
  const scheduler: Scheduler = {
    acquire(req) {
      asked.push(req);
      return answer({ release: (o) => void released.push(o) });
    },
    stats: () => undefined,
    deploymentIds: () => [],
    reshare: () => undefined,
  };
  return { scheduler, asked, released };
}

describe('schedule stage', () => {
  it('takes a free slot synchronously and releases it when the response is over', () => {
    const scheduler = createScheduler();
    const stage = schedule({ scheduler, defaults: DEFAULTS });
    const ctx = ctxFor(makeTenant('acme'));
    expect(stage(ctx)).toBeUndefined();
    expect(scheduler.stats(deployment.id)?.inFlight).toBe(1);
    expect(ctx.finishers).toHaveLength(1);
    expect(ctx.extraHeaders).toBeUndefined(); // nothing to say when it did not wait
    finish(ctx, outcome(200));
    expect(scheduler.stats(deployment.id)?.inFlight).toBe(0);
  });

  it('asks for the deployment, its capacity, the tenant, its plan weight and the configured limits', () => {
    const { scheduler, asked } = recordingScheduler();
    const stage = schedule({ scheduler, defaults: DEFAULTS });
    void stage(ctxFor(makeTenant('pro', { limits: limits(3) })));
    void stage(ctxFor(makeTenant('free')));
    expect(asked.map((r) => [r.deploymentId, r.capacity, r.weight, r.priority, r.queueTimeoutMs, r.maxQueueDepth])).toEqual([
      [deployment.id, 1, 3, 'interactive', 5000, 10],
      [deployment.id, 1, 1, 'interactive', 5000, 10],
    ]);
    expect(asked[0]?.tenantId).toBe(makeTenant('pro').id);
  });

  it('reads the priority header, case-insensitively', () => {
    const { scheduler, asked } = recordingScheduler();
    const stage = schedule({ scheduler, defaults: DEFAULTS });
    void stage(ctxFor(makeTenant('a'), { 'x-gatehouse-priority': 'batch' }));
    void stage(ctxFor(makeTenant('a'), { 'x-gatehouse-priority': ' Interactive ' }));
    expect(asked.map((r) => r.priority)).toEqual(['batch', 'interactive']);
  });

  it('refuses an unknown priority with 400 naming the header, before taking a slot', async () => {
    const { scheduler, asked } = recordingScheduler();
    const stage = schedule({ scheduler, defaults: DEFAULTS });
    const err = await failure(() => stage(ctxFor(makeTenant('a'), { 'x-gatehouse-priority': 'urgent' })));
    expect(err.status).toBe(400);
    expect(err.code).toBe('invalid_request');
    expect(err.param).toBe('x-gatehouse-priority');
    expect(asked).toHaveLength(0);
  });

  it('waits for a slot when the deployment is full, and holds it once granted', async () => {
    const scheduler = createScheduler();
    const stage = schedule({ scheduler, defaults: DEFAULTS });
    const first = ctxFor(makeTenant('a'));
    void stage(first);
    const second = ctxFor(makeTenant('b'));
    const pending = stage(second);
    expect(pending).toBeInstanceOf(Promise);
    expect(second.finishers).toBeUndefined();
    await new Promise((r) => setTimeout(r, 30));
    finish(first, outcome(200));
    await pending;
    expect(second.finishers).toHaveLength(1);
    expect(Number(second.extraHeaders?.['x-gatehouse-queue-ms'])).toBeGreaterThanOrEqual(25);
    expect(scheduler.stats(deployment.id)?.inFlight).toBe(1);
  });

  it('passes a full queue 429 on to the client', async () => {
    const scheduler = createScheduler();
    const stage = schedule({ scheduler, defaults: { queueTimeoutMs: 5000, maxQueueDepth: 0 } });
    void stage(ctxFor(makeTenant('a')));
    const err = await failure(() => stage(ctxFor(makeTenant('a'))));
    expect(err.status).toBe(429);
    expect(err.headers['retry-after']).toBeDefined();
  });

  it('a request aborted while waiting fails with the reason and holds nothing', async () => {
    const scheduler = createScheduler();
    const stage = schedule({ scheduler, defaults: DEFAULTS });
    void stage(ctxFor(makeTenant('a')));
    const ctx = ctxFor(makeTenant('b'));
    const pending = stage(ctx) as Promise<void>;
    const reason = new Error('client disconnected');
    (ctx.signal as Cancellation).abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(ctx.finishers).toBeUndefined();
    expect(scheduler.stats(deployment.id)).toMatchObject({ inFlight: 1, queued: 0 });
  });

  it('gives a slot back at once when it arrives after the client left (its finishers may have run)', async () => {
    let grant: (slot: Slot) => void = () => undefined;
    const { scheduler, released } = recordingScheduler(
      (slot) =>
        new Promise<Slot>((resolve) => {
          grant = () => resolve(slot);
        }),
    );
    const stage = schedule({ scheduler, defaults: DEFAULTS });
    const ctx = ctxFor(makeTenant('a'));
    const pending = stage(ctx) as Promise<void>;
    const reason = new Error('client disconnected');
    (ctx.signal as Cancellation).abort(reason);
    grant({ release: () => undefined });
    await expect(pending).rejects.toBe(reason);
    expect(released).toHaveLength(1);
    expect(ctx.finishers).toBeUndefined();
  });

  it('does not take a slot for a request already aborted', async () => {
    const { scheduler, asked } = recordingScheduler();
    const stage = schedule({ scheduler, defaults: DEFAULTS });
    const ctx = ctxFor(makeTenant('a'));
    const reason = new Error('gone');
    (ctx.signal as Cancellation).abort(reason);
    await expect(async () => stage(ctx)).rejects.toBe(reason);
    expect(asked).toHaveLength(0);
  });

  it('reports the outcome to the adaptive capacity: an upstream 429 lowers the deployment', () => {
    const adaptive = createAdaptiveCapacity();
    const scheduler = createScheduler({ adaptive });
    const stage = schedule({ scheduler, defaults: DEFAULTS });
    const wide = { ...deployment, id: 'wide', capacity: 10 };
    const ctx = ctxFor(makeTenant('a'));
    ctx.deployment = wide;
    void stage(ctx);
    finish(ctx, outcome(429, undefined));
    expect(scheduler.stats('wide')?.capacity).toBe(7);
  });

  it('runs only after route', () => {
    const stage = schedule({ scheduler: createScheduler(), defaults: DEFAULTS });
    expect(() => stage(makeContext({ fields: { tenant: makeTenant('a') } }))).toThrow(/before route/);
  });
});
