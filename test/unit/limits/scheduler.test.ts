/**
 * The fair scheduler on a fake clock: who gets a slot, when, and what a refused request sees.
 * Slots are released by hand, so every ordering here is decided by the scheduler alone.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { createAdaptiveCapacity } from '../../../src/limits/adaptive.js';
import { createScheduler, type AcquireRequest, type Scheduler, type Slot } from '../../../src/limits/scheduler.js';
import { Cancellation } from '../../../src/providers/cancel.js';

const OK = { status: 200, upstreamMs: 10 };
const DEP = 'dep-1';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

function makeScheduler(reserveIdleMs = 1000): Scheduler {
  return createScheduler({ now: () => Date.now(), reserveIdleMs });
}

function req(tenantId: string, over: Partial<AcquireRequest> = {}): AcquireRequest {
  return {
    deploymentId: DEP,
    capacity: 4,
    tenantId,
    weight: 1,
    priority: 'interactive',
    signal: new Cancellation(),
    queueTimeoutMs: 60_000,
    maxQueueDepth: 100,
    ...over,
  };
}

/** A slot that must have been granted synchronously (the hot path). */
function now(got: Slot | Promise<Slot>): Slot {
  expect(got).not.toBeInstanceOf(Promise);
  return got as Slot;
}

/** Requests that had to wait, in the order they were granted. */
class Waiting {
  readonly granted: { label: string; slot: Slot }[] = [];
  readonly failed: { label: string; err: unknown }[] = [];
  add(label: string, got: Slot | Promise<Slot>): void {
    expect(got).toBeInstanceOf(Promise);
    (got as Promise<Slot>).then(
      (slot) => this.granted.push({ label, slot }),
      (err: unknown) => this.failed.push({ label, err }),
    );
  }
  labels(): string[] {
    return this.granted.map((g) => g.label);
  }
}

const flush = () => vi.advanceTimersByTimeAsync(0);

function inFlightOf(s: Scheduler, tenantId: string): number {
  return s.stats(DEP)?.tenants.find((t) => t.tenantId === tenantId)?.inFlight ?? 0;
}

describe('hot path', () => {
  it('returns a slot synchronously while the deployment has room, and counts it', () => {
    const s = makeScheduler();
    const slots = [1, 2, 3, 4].map(() => now(s.acquire(req('a'))));
    expect(s.stats(DEP)).toMatchObject({ capacity: 4, inFlight: 4, queued: 0 });
    expect(s.acquire(req('a'))).toBeInstanceOf(Promise);
    slots[0]?.release(OK);
    expect(s.stats(DEP)?.inFlight).toBe(4); // the waiter took the freed slot
  });

  it('a lone tenant may use the whole capacity (idle share is lent)', () => {
    const s = makeScheduler();
    for (let i = 0; i < 4; i++) now(s.acquire(req('a')));
    expect(inFlightOf(s, 'a')).toBe(4);
  });
});

describe('guaranteed share', () => {
  it('is never lent while its tenant is active: a flood stops at its own share', async () => {
    const s = makeScheduler();
    now(s.acquire(req('quiet'))).release(OK); // quiet is active for reserveIdleMs
    const w = new Waiting();
    const flood = [];
    for (let i = 0; i < 10; i++) {
      const got = s.acquire(req('noisy'));
      if (got instanceof Promise) w.add(`n${i}`, got);
      else flood.push(got);
    }
    expect(flood).toHaveLength(2); // 4 × 1/2
    expect(s.stats(DEP)).toMatchObject({ inFlight: 2, queued: 8 });
    // The quiet tenant's requests do not wait behind the 8 queued ones.
    now(s.acquire(req('quiet')));
    now(s.acquire(req('quiet')));
    await flush();
    expect(w.granted).toHaveLength(0);
  });

  it('follows the weights: 3:1 of 4 slots', () => {
    const s = makeScheduler();
    now(s.acquire(req('small', { weight: 1 }))).release(OK);
    let taken = 0;
    for (let i = 0; i < 6; i++) if (!(s.acquire(req('big', { weight: 3 })) instanceof Promise)) taken += 1;
    expect(taken).toBe(3);
    now(s.acquire(req('small', { weight: 1 })));
  });

  it('with three tenants and a fractional share (5 × 1/3), a borrower leaves both others their reserve', () => {
    const s = makeScheduler();
    now(s.acquire(req('b', { capacity: 5 }))).release(OK);
    now(s.acquire(req('c', { capacity: 5 }))).release(OK);
    let taken = 0;
    for (let i = 0; i < 5; i++) if (!(s.acquire(req('a', { capacity: 5 })) instanceof Promise)) taken += 1;
    expect(taken).toBe(2); // in 0 and 1 are under 1.67; a third would leave 2 free for 3.33 reserved
    now(s.acquire(req('b', { capacity: 5 })));
    now(s.acquire(req('b', { capacity: 5 })));
    now(s.acquire(req('c', { capacity: 5 })));
    expect(s.stats(DEP)?.inFlight).toBe(5);
  });

  it('lends an idle share out once its tenant has been quiet for reserveIdleMs', async () => {
    const s = makeScheduler(1000);
    now(s.acquire(req('quiet'))).release(OK);
    const w = new Waiting();
    for (let i = 0; i < 4; i++) {
      const got = s.acquire(req('noisy'));
      if (got instanceof Promise) w.add(`n${i}`, got);
    }
    expect(inFlightOf(s, 'noisy')).toBe(2);
    await vi.advanceTimersByTimeAsync(999);
    expect(w.granted).toHaveLength(0);
    // No release happens: the reserve's expiry alone lets the waiters in.
    await vi.advanceTimersByTimeAsync(1);
    expect(w.labels()).toEqual(['n2', 'n3']);
    expect(inFlightOf(s, 'noisy')).toBe(4);
    expect(s.stats(DEP)?.tenants.map((t) => t.tenantId)).toEqual(['noisy']); // quiet's state is dropped
  });

  it('a tenant that comes back gets the borrowed slots as they are released, before the borrower', async () => {
    const s = makeScheduler();
    const noisy = [1, 2, 3, 4].map(() => now(s.acquire(req('noisy'))));
    const w = new Waiting();
    w.add('n-wait', s.acquire(req('noisy')));
    w.add('q1', s.acquire(req('quiet')));
    w.add('q2', s.acquire(req('quiet')));
    noisy[0]?.release(OK);
    await flush();
    noisy[1]?.release(OK);
    await flush();
    expect(w.labels()).toEqual(['q1', 'q2']); // n-wait queued first, but quiet is under its share
    noisy[2]?.release(OK);
    await flush();
    expect(w.labels()).toEqual(['q1', 'q2', 'n-wait']);
    expect(inFlightOf(s, 'quiet')).toBe(2);
    expect(inFlightOf(s, 'noisy')).toBe(2);
  });

  it('outranks priority: a batch request under its share beats an interactive one over it', async () => {
    const s = makeScheduler();
    const a = [1, 2].map(() => now(s.acquire(req('a', { capacity: 2 }))));
    const w = new Waiting();
    w.add('a-interactive', s.acquire(req('a', { capacity: 2 })));
    w.add('b-batch', s.acquire(req('b', { capacity: 2, priority: 'batch' })));
    a[0]?.release(OK);
    await flush();
    expect(w.labels()).toEqual(['b-batch']);
  });
});

describe('weighted fair queuing among waiting tenants', () => {
  /** Capacity 1: at every dispatch every tenant is under its share, so only WFQ decides. */
  async function order(weights: Record<string, number>, perTenant: number): Promise<string[]> {
    const s = makeScheduler();
    const first = now(s.acquire(req('holder', { capacity: 1 })));
    const w = new Waiting();
    for (const [tenant, weight] of Object.entries(weights)) {
      for (let i = 0; i < perTenant; i++) w.add(tenant, s.acquire(req(tenant, { capacity: 1, weight })));
    }
    first.release(OK);
    for (let i = 0; i < Object.keys(weights).length * perTenant; i++) {
      await flush();
      w.granted[i]?.slot.release(OK);
    }
    await flush();
    return w.labels();
  }

  it('alternates between equal weights', async () => {
    const got = await order({ a: 1, b: 1 }, 4);
    expect(got).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
  });

  it('serves weights 2:1 in that proportion', async () => {
    const got = await order({ a: 2, b: 1 }, 8);
    const firstNine = got.slice(0, 9);
    expect(firstNine.filter((x) => x === 'a')).toHaveLength(6);
    for (let i = 0; i < 9; i += 3) {
      expect(got.slice(i, i + 3).filter((x) => x === 'b')).toHaveLength(1);
    }
  });

  it('gives no credit for time spent not waiting: a newcomer joins at the current virtual time', async () => {
    const s = makeScheduler();
    const first = now(s.acquire(req('holder', { capacity: 1 })));
    const w = new Waiting();
    for (let i = 0; i < 6; i++) w.add('a', s.acquire(req('a', { capacity: 1 })));
    first.release(OK);
    for (let i = 0; i < 4; i++) {
      await flush();
      w.granted[i]?.slot.release(OK);
    }
    // a has been served 5 times; b arrives now and must not get its 4 slots in a row.
    for (let i = 0; i < 4; i++) w.add('b', s.acquire(req('b', { capacity: 1 })));
    for (let i = 4; i < 10; i++) {
      await flush();
      w.granted[i]?.slot.release(OK);
    }
    await flush();
    expect(w.labels().slice(4)).toEqual(['a', 'b', 'a', 'b', 'b', 'b']);
  });
});

describe('priority classes', () => {
  it('serves interactive before batch across tenants, and within one tenant', async () => {
    const s = makeScheduler();
    const first = now(s.acquire(req('holder', { capacity: 1 })));
    const w = new Waiting();
    w.add('b-batch', s.acquire(req('b', { capacity: 1, priority: 'batch' })));
    w.add('c-batch', s.acquire(req('c', { capacity: 1, priority: 'batch' })));
    w.add('c-interactive', s.acquire(req('c', { capacity: 1 })));
    w.add('d-interactive', s.acquire(req('d', { capacity: 1 })));
    first.release(OK);
    for (let i = 0; i < 4; i++) {
      await flush();
      w.granted[i]?.slot.release(OK);
    }
    expect(w.labels()).toEqual(['c-interactive', 'd-interactive', 'b-batch', 'c-batch']);
  });
});

describe('refusals', () => {
  it('answers 429 with Retry-After at once when the tenant queue is full, naming only this tenant', () => {
    const s = makeScheduler();
    const held = now(s.acquire(req('a', { capacity: 1 })));
    held.release(OK); // no hold time yet: a 0 ms hold
    now(s.acquire(req('a', { capacity: 1 })));
    const w = new Waiting();
    w.add('1', s.acquire(req('a', { capacity: 1, maxQueueDepth: 2 })));
    w.add('2', s.acquire(req('a', { capacity: 1, maxQueueDepth: 2 })));
    let err: unknown;
    try {
      s.acquire(req('a', { capacity: 1, maxQueueDepth: 2 }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayError);
    const e = err as GatewayError;
    expect(e.code).toBe('rate_limit_exceeded');
    expect(e.status).toBe(429);
    expect(e.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(e.message).toContain("this tenant's queue for this model is full");
    expect(e.message).not.toMatch(/dep-1|\bb\b/);
    // Another tenant's queue is its own.
    w.add('b', s.acquire(req('b', { capacity: 1, maxQueueDepth: 2 })));
    expect(s.stats(DEP)?.queued).toBe(3);
  });

  it('estimates Retry-After from the hold time and the queue ahead', async () => {
    const s = makeScheduler();
    const first = now(s.acquire(req('a', { capacity: 1 })));
    await vi.advanceTimersByTimeAsync(2000);
    first.release(OK); // 2 s per slot
    now(s.acquire(req('a', { capacity: 1 })));
    const w = new Waiting();
    w.add('1', s.acquire(req('a', { capacity: 1, maxQueueDepth: 2 })));
    w.add('2', s.acquire(req('a', { capacity: 1, maxQueueDepth: 2 })));
    const err = (() => {
      try {
        s.acquire(req('a', { capacity: 1, maxQueueDepth: 2 }));
      } catch (e) {
        return e as GatewayError;
      }
      return undefined;
    })();
    expect(err?.headers['retry-after']).toBe('6'); // 3 requests ahead × 2 s, one slot
  });

  it('answers 429 with Retry-After when the wait exceeds queueTimeoutMs, and forgets the request', async () => {
    const s = makeScheduler();
    const held = now(s.acquire(req('a', { capacity: 1 })));
    const w = new Waiting();
    w.add('late', s.acquire(req('b', { capacity: 1, queueTimeoutMs: 500 })));
    await vi.advanceTimersByTimeAsync(499);
    expect(w.failed).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(w.failed).toHaveLength(1);
    const e = w.failed[0]?.err as GatewayError;
    expect(e).toBeInstanceOf(GatewayError);
    expect(e.status).toBe(429);
    expect(e.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(e.message).toContain("this tenant's queue");
    expect(s.stats(DEP)?.queued).toBe(0);
    held.release(OK);
    await flush();
    expect(w.granted).toHaveLength(0);
    expect(s.stats(DEP)?.inFlight).toBe(0);
  });

  it('an aborted waiter leaves the queue with the signal reason, and the next waiter gets the slot', async () => {
    const s = makeScheduler();
    const held = now(s.acquire(req('a', { capacity: 1 })));
    const signal = new Cancellation();
    const w = new Waiting();
    w.add('gone', s.acquire(req('b', { capacity: 1, signal })));
    w.add('next', s.acquire(req('b', { capacity: 1 })));
    const reason = new Error('client disconnected');
    signal.abort(reason);
    await flush();
    expect(w.failed).toEqual([{ label: 'gone', err: reason }]);
    expect(s.stats(DEP)?.queued).toBe(1);
    held.release(OK);
    await flush();
    expect(w.labels()).toEqual(['next']);
    expect(s.stats(DEP)?.inFlight).toBe(1);
  });

  it('refuses an already aborted request that would have to wait, with its reason', () => {
    const s = makeScheduler();
    now(s.acquire(req('a', { capacity: 1 })));
    const signal = new Cancellation();
    const reason = new Error('deadline');
    signal.abort(reason);
    expect(() => s.acquire(req('b', { capacity: 1, signal }))).toThrow(reason);
    expect(s.stats(DEP)?.queued).toBe(0);
  });
});

describe('slots', () => {
  it('released twice frees one slot', async () => {
    const s = makeScheduler();
    const held = now(s.acquire(req('a', { capacity: 1 })));
    const w = new Waiting();
    w.add('1', s.acquire(req('b', { capacity: 1 })));
    w.add('2', s.acquire(req('b', { capacity: 1 })));
    held.release(OK);
    held.release(OK);
    await flush();
    expect(w.labels()).toEqual(['1']);
    expect(s.stats(DEP)).toMatchObject({ inFlight: 1, queued: 1 });
  });

  it('a lower capacity keeps the slots in flight and admits again only below it', async () => {
    const s = makeScheduler();
    const held = [1, 2, 3, 4].map(() => now(s.acquire(req('a', { capacity: 4 }))));
    const w = new Waiting();
    w.add('x', s.acquire(req('a', { capacity: 2 }))); // configuration now says 2
    expect(s.stats(DEP)).toMatchObject({ capacity: 2, inFlight: 4, queued: 1 });
    held[0]?.release(OK);
    held[1]?.release(OK);
    await flush();
    expect(w.granted).toHaveLength(0); // 2 in flight = the new capacity
    held[2]?.release(OK);
    await flush();
    expect(w.labels()).toEqual(['x']);
    expect(s.stats(DEP)?.inFlight).toBe(2);
  });

  it('a higher capacity lets waiters in at once', async () => {
    const s = makeScheduler();
    now(s.acquire(req('a', { capacity: 1 })));
    const w = new Waiting();
    w.add('1', s.acquire(req('a', { capacity: 1 })));
    w.add('2', s.acquire(req('a', { capacity: 1 })));
    now(s.acquire(req('a', { capacity: 4 })));
    await flush();
    expect(w.labels()).toEqual(['1', '2']);
    expect(s.stats(DEP)).toMatchObject({ capacity: 4, inFlight: 4, queued: 0 });
  });

  it('follows the adaptive capacity: an upstream 429 lowers it, without losing slots', async () => {
    const adaptive = createAdaptiveCapacity({ now: () => Date.now() });
    const s = createScheduler({ now: () => Date.now(), adaptive });
    const held = Array.from({ length: 10 }, () => now(s.acquire(req('a', { capacity: 10 }))));
    held[0]?.release({ status: 429, upstreamMs: undefined });
    expect(s.stats(DEP)).toMatchObject({ configuredCapacity: 10, capacity: 7, inFlight: 9 });
    const w = new Waiting();
    w.add('x', s.acquire(req('a', { capacity: 10 })));
    for (let i = 1; i <= 2; i++) held[i]?.release(OK);
    await flush();
    expect(w.granted).toHaveLength(0); // 7 in flight
    held[3]?.release(OK);
    await flush();
    expect(w.labels()).toEqual(['x']);
    expect(s.stats(DEP)?.inFlight).toBe(7);
  });
});

describe('replica slices', () => {
  /** A scheduler whose slice of every capacity is capacity ÷ fleet.replicas (floor, at least 1). */
  function sliced(adaptive = false) {
    const fleet = { replicas: 2 };
    const s = createScheduler({
      now: () => Date.now(),
      sliceOf: (_id, capacity) => Math.max(1, Math.floor(capacity / fleet.replicas)),
      ...(adaptive ? { adaptive: createAdaptiveCapacity({ now: () => Date.now() }) } : {}),
    });
    return { s, fleet };
  }

  it("schedules only this replica's slice of the configured capacity", () => {
    const { s } = sliced();
    const held = [1, 2].map(() => now(s.acquire(req('a', { capacity: 4 }))));
    expect(held).toHaveLength(2);
    expect(s.acquire(req('a', { capacity: 4 }))).toBeInstanceOf(Promise);
    expect(s.stats(DEP)).toMatchObject({ configuredCapacity: 4, slice: 2, capacity: 2, inFlight: 2, queued: 1 });
  });

  it('a grown slice dispatches waiting requests at once, without waiting for a release or a new request', async () => {
    const { s, fleet } = sliced();
    now(s.acquire(req('a', { capacity: 4 })));
    now(s.acquire(req('b', { capacity: 4 })));
    const w = new Waiting();
    w.add('a1', s.acquire(req('a', { capacity: 4 })));
    w.add('b1', s.acquire(req('b', { capacity: 4 })));
    w.add('a2', s.acquire(req('a', { capacity: 4 })));
    await flush();
    expect(w.granted).toHaveLength(0);
    fleet.replicas = 1; // the other replica left
    s.reshare();
    await flush();
    expect(w.labels()).toEqual(['a1', 'b1']);
    expect(s.stats(DEP)).toMatchObject({ slice: 4, capacity: 4, inFlight: 4, queued: 1 });
  });

  it('a shrunk slice preempts nothing: new requests wait until the slots in flight are below it', async () => {
    const { s, fleet } = sliced();
    fleet.replicas = 1;
    const held = [1, 2, 3, 4].map(() => now(s.acquire(req('a', { capacity: 4 }))));
    fleet.replicas = 4; // two replicas joined: a slice of 1
    s.reshare();
    expect(s.stats(DEP)).toMatchObject({ slice: 1, inFlight: 4 });
    const w = new Waiting();
    w.add('x', s.acquire(req('a', { capacity: 4 })));
    for (let i = 0; i < 3; i++) held[i]?.release(OK);
    await flush();
    expect(w.granted).toHaveLength(0); // 1 in flight = the slice
    held[3]?.release(OK);
    await flush();
    expect(w.labels()).toEqual(['x']);
    expect(s.stats(DEP)?.inFlight).toBe(1);
  });

  it('adaptive capacity works within the slice and follows it when the slice changes', () => {
    const { s, fleet } = sliced(true);
    const held = Array.from({ length: 5 }, () => now(s.acquire(req('a', { capacity: 10 }))));
    expect(s.stats(DEP)).toMatchObject({ configuredCapacity: 10, slice: 5, capacity: 5 });
    fleet.replicas = 1;
    s.reshare();
    expect(s.stats(DEP)).toMatchObject({ slice: 10, capacity: 10 });
    held[0]?.release({ status: 429, upstreamMs: undefined });
    expect(s.stats(DEP)).toMatchObject({ slice: 10, capacity: 7 });
    fleet.replicas = 2;
    s.reshare();
    expect(s.stats(DEP)).toMatchObject({ slice: 5, capacity: 5 });
  });

  it('a new configured capacity is split too', () => {
    const { s } = sliced();
    now(s.acquire(req('a', { capacity: 4 })));
    now(s.acquire(req('a', { capacity: 8 })));
    expect(s.stats(DEP)).toMatchObject({ configuredCapacity: 8, slice: 4 });
  });
});

describe('under a flood', () => {
  /** 80 closed-loop clients of one tenant (20 × its share of 4), each slot held 20 ms. */
  async function flood(reserveIdleMs: number): Promise<{ waits: number[]; s: Scheduler }> {
    const s = makeScheduler(reserveIdleMs);
    let running = true;
    const client = async () => {
      while (running) {
        const got = s.acquire(req('noisy', { capacity: 8 }));
        const slot = got instanceof Promise ? await got : got;
        await new Promise<void>((r) => setTimeout(r, 20));
        slot.release(OK);
      }
    };
    for (let i = 0; i < 80; i++) void client();
    // The quiet tenant: one request every 10 ms, each holding its slot 20 ms.
    const waits: number[] = [];
    for (let i = 0; i < 100; i++) {
      await vi.advanceTimersByTimeAsync(10);
      const asked = Date.now();
      const got = s.acquire(req('quiet', { capacity: 8 }));
      void Promise.resolve(got).then((slot) => {
        waits.push(Date.now() - asked);
        setTimeout(() => slot.release(OK), 20);
      });
    }
    await vi.advanceTimersByTimeAsync(100);
    running = false;
    return { waits, s };
  }

  it('a quiet tenant under its share waits only for the slots the flood borrowed before it was seen', async () => {
    const { waits, s } = await flood(1000);
    expect(waits).toHaveLength(100);
    expect(waits[0]).toBeGreaterThan(0); // all 8 slots were the flood's when it first came
    expect(waits.slice(1).every((w) => w === 0)).toBe(true);
    expect(inFlightOf(s, 'noisy')).toBe(4); // its share: the quiet tenant's is kept free
    await vi.advanceTimersByTimeAsync(5000);
  });

  it('keeps one account per tenant even when nothing is reserved (reserveIdleMs 0)', async () => {
    const s = makeScheduler(0);
    for (let i = 0; i < 4; i++) now(s.acquire(req('a')));
    expect(s.acquire(req('a'))).toBeInstanceOf(Promise);
    expect(s.stats(DEP)?.tenants.filter((t) => t.tenantId === 'a')).toMatchObject([{ inFlight: 4, queued: 1 }]);
    const { waits } = await flood(0);
    // Nothing reserved: each quiet request waits for the next release, never behind the queue.
    expect(Math.max(...waits)).toBeLessThanOrEqual(20);
    await vi.advanceTimersByTimeAsync(5000);
  });
});
