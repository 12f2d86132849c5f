import { describe, expect, it } from 'vitest';
import { createBreaker, type BreakerState } from '../../../src/routing/breaker.js';
import { createRouter } from '../../../src/routing/router.js';
import { DEFAULT_BREAKER, DEFAULT_ROUTING, type BreakerPolicy } from '../../../src/routing/types.js';
import { makeDeployment } from '../pipeline/fixtures.js';

const POLICY: BreakerPolicy = { consecutiveFailures: 3, failureRate: 0.5, minRequests: 10, windowMs: 10_000, openMs: 1000, maxOpenMs: 4000 };

function setup(policy = POLICY) {
  let t = 0;
  const transitions: [BreakerState, BreakerState][] = [];
  const b = createBreaker(policy, () => t, (from, to) => transitions.push([from, to]));
  return { b, transitions, advance: (ms: number) => void (t += ms) };
}

describe('circuit breaker', () => {
  it('opens after N consecutive failures; a success in between resets the run', () => {
    const { b } = setup();
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    expect(b.state()).toBe('closed');
    b.failure();
    expect(b.state()).toBe('open');
    expect(b.tryAcquire()).toBe(false);
    expect(b.available()).toBe(false);
    expect(b.retryInMs()).toBe(1000);
  });

  it('opens on the failure rate within a window once enough requests were seen', () => {
    const { b } = setup({ ...POLICY, consecutiveFailures: 100 });
    for (let i = 0; i < 4; i++) {
      b.success();
      b.failure();
    }
    expect(b.state()).toBe('closed'); // 8 requests: below minRequests
    b.success();
    b.failure(); // 10 requests, 5 failed
    expect(b.state()).toBe('open');
  });

  it("on a deployment shared by tenants, one tenant's failures do not open it; failures of two tenants do", () => {
    const { b } = setup();
    for (let i = 0; i < 20; i++) b.failure('tenant-a', true);
    expect(b.state()).toBe('closed');
    b.failure('tenant-b', true); // a second tenant fails too: the deployment, not the tenant
    expect(b.state()).toBe('open');

    // Not shared (its own deployment, a single-tenant install): as before.
    const own = setup();
    for (let i = 0; i < 3; i++) own.b.failure('tenant-a', false);
    expect(own.b.state()).toBe('open');

    // Who failed is remembered per window: a past window's failing tenant does not count.
    const later = setup();
    later.b.failure('tenant-b', true);
    later.advance(POLICY.windowMs);
    for (let i = 0; i < 5; i++) later.b.failure('tenant-a', true);
    expect(later.b.state()).toBe('closed');
  });

  it('the router knows a deployment is shared once it served a second tenant, successes included', () => {
    const router = createRouter({ config: { ...DEFAULT_ROUTING, breaker: { ...POLICY } }, now: () => 0 });
    const d = makeDeployment('m');
    router.succeeded(d, 5, 'tenant-b');
    for (let i = 0; i < 10; i++) router.failed(d, 5, 'tenant-a');
    expect(router.breakerState(d.id)).toBe('closed');
    router.failed(d, 5, 'tenant-b');
    expect(router.breakerState(d.id)).toBe('open');
  });

  it('forgets failures of a past window', () => {
    const { b, advance } = setup({ ...POLICY, consecutiveFailures: 100 });
    for (let i = 0; i < 9; i++) b.failure();
    advance(10_000);
    b.failure(); // a new window: 1 of 1, below minRequests
    expect(b.state()).toBe('closed');
  });

  it('half-opens after the cool-down and lets exactly one probe through', () => {
    const { b, advance } = setup();
    for (let i = 0; i < 3; i++) b.failure();
    advance(999);
    expect(b.state()).toBe('open');
    advance(1);
    expect(b.state()).toBe('half-open');
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false); // one probe at a time
    expect(b.available()).toBe(false);
    b.success();
    expect(b.state()).toBe('closed');
    expect(b.tryAcquire()).toBe(true);
  });

  it('re-opens on a failed probe with the cool-down doubled, up to maxOpenMs, and logs each change once', () => {
    const { b, advance, transitions } = setup();
    for (let i = 0; i < 3; i++) b.failure();
    for (const expected of [2000, 4000, 4000]) {
      advance(10_000);
      expect(b.tryAcquire()).toBe(true);
      b.failure();
      expect(b.state()).toBe('open');
      expect(b.retryInMs()).toBe(expected);
    }
    advance(4000);
    expect(b.tryAcquire()).toBe(true);
    b.success();
    // After a success the cool-down starts again from openMs.
    for (let i = 0; i < 3; i++) b.failure();
    expect(b.retryInMs()).toBe(1000);
    expect(transitions.slice(0, 3)).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'open'],
    ]);
    expect(transitions.filter(([, to]) => to === 'closed')).toHaveLength(1);
  });

  it('frees a probe pass that was never used', () => {
    const { b, advance } = setup();
    for (let i = 0; i < 3; i++) b.failure();
    advance(1000);
    expect(b.tryAcquire()).toBe(true);
    b.release();
    expect(b.tryAcquire()).toBe(true);
  });
});

describe('router with breakers', () => {
  it('skips open deployments, reports when every one is open, and probes again after the cool-down', () => {
    let t = 0;
    const router = createRouter({ config: { ...DEFAULT_ROUTING, breaker: { ...DEFAULT_BREAKER, consecutiveFailures: 2, openMs: 3000 } }, now: () => t });
    const a = makeDeployment('m');
    const b = makeDeployment('m');
    router.failed(a, 10);
    router.failed(a, 10);
    expect(router.breakerState(a.id)).toBe('open');
    for (let i = 0; i < 4; i++) expect(router.pick('m', [a, b]).deployment).toBe(b);
    router.failed(b, 10);
    router.failed(b, 10);
    t += 1000;
    expect(router.pick('m', [a, b])).toEqual({ deployment: undefined, unavailableMs: 2000 });
    t += 2000;
    const probe = router.pick('m', [a, b]).deployment;
    expect(probe).toBeDefined();
    expect(router.breakerState((probe as { id: string }).id)).toBe('half-open');
    router.succeeded(probe as never, 5);
    expect(router.breakerState((probe as { id: string }).id)).toBe('closed');
    expect(router.breakerStates().map((s) => s.state).sort()).toEqual(['closed', 'half-open']);
  });
});
