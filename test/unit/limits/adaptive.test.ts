/** AIMD capacity per deployment on a fake clock. */
import { describe, expect, it } from 'vitest';
import { createAdaptiveCapacity, type AdaptiveOptions } from '../../../src/limits/adaptive.js';

function setup(opts: AdaptiveOptions = {}) {
  let clock = 0;
  const adaptive = createAdaptiveCapacity({ now: () => clock, cooldownMs: 1000, windowMs: 1000, ...opts });
  const advance = (ms: number) => {
    clock += ms;
  };
  return { adaptive, advance };
}

const ok = (upstreamMs = 20) => ({ status: 200, upstreamMs });

describe('adaptive capacity', () => {
  it('starts at the configured capacity', () => {
    const { adaptive } = setup();
    expect(adaptive.track('d', 10).effective).toBe(10);
  });

  it('multiplies by 0.7 on an upstream 429 or 503, once per cool-down, floor 1', () => {
    const { adaptive, advance } = setup();
    const s = adaptive.track('d', 10);
    for (let i = 0; i < 20; i++) adaptive.observe(s, { status: 429, upstreamMs: undefined });
    expect(s.effective).toBe(7); // a burst is one decrease
    advance(999);
    adaptive.observe(s, { status: 503, upstreamMs: undefined });
    expect(s.effective).toBe(7);
    advance(1);
    adaptive.observe(s, { status: 503, upstreamMs: undefined });
    expect(s.effective).toBe(4);
    for (let i = 0; i < 5; i++) {
      advance(1000);
      adaptive.observe(s, { status: 429, upstreamMs: undefined });
    }
    expect(s.effective).toBe(1);
    expect(s.decreases).toBe(7);
  });

  it('ignores other failures and requests the upstream never answered', () => {
    const { adaptive, advance } = setup();
    const s = adaptive.track('d', 10);
    adaptive.observe(s, { status: 500, upstreamMs: undefined });
    adaptive.observe(s, { status: 499, upstreamMs: undefined });
    adaptive.observe(s, { status: 400, upstreamMs: 5 });
    advance(5000);
    expect(s.effective).toBe(10);
  });

  it('adds 1 per window of successes, up to the configured capacity', () => {
    const { adaptive, advance } = setup();
    const s = adaptive.track('d', 10);
    adaptive.observe(s, { status: 429, upstreamMs: undefined });
    expect(s.effective).toBe(7);
    // The window in which the decrease happened adds nothing.
    adaptive.observe(s, ok());
    advance(1000);
    adaptive.observe(s, ok());
    expect(s.effective).toBe(7);
    const steps: number[] = [];
    for (let w = 0; w < 5; w++) {
      for (let i = 0; i < 10; i++) {
        adaptive.observe(s, ok());
        advance(100);
      }
      adaptive.observe(s, ok()); // closes the window
      steps.push(s.effective);
    }
    expect(steps).toEqual([8, 9, 10, 10, 10]);
  });

  it('treats a window whose median is above 3× the baseline as an overload', () => {
    const { adaptive, advance } = setup();
    const s = adaptive.track('d', 10);
    const window = (ms: number) => {
      for (let i = 0; i < 10; i++) {
        adaptive.observe(s, ok(ms));
        advance(100);
      }
      adaptive.observe(s, ok(ms));
    };
    window(20);
    expect(s.baselineMs).toBe(20);
    expect(s.effective).toBe(10);
    window(50); // 2.5×: slower, not overloaded
    expect(s.effective).toBe(10);
    window(100); // above 3× the moving baseline (26)
    expect(s.effective).toBe(7);
  });

  it('judges latency on the median: one tenant’s few long requests do not shrink the deployment', () => {
    const { adaptive, advance } = setup();
    const s = adaptive.track('d', 10);
    for (let w = 0; w < 3; w++) {
      for (let i = 0; i < 10; i++) {
        adaptive.observe(s, ok(i < 3 ? 5000 : 20));
        advance(100);
      }
      adaptive.observe(s, ok(20));
    }
    expect(s.effective).toBe(10);
    expect(s.decreases).toBe(0);
  });

  it('follows a new configured capacity: at full capacity it moves with it, a throttled one is capped', () => {
    const { adaptive } = setup();
    const s = adaptive.track('d', 10);
    adaptive.track('d', 20);
    expect(s.effective).toBe(20);
    adaptive.observe(s, { status: 429, upstreamMs: undefined });
    expect(s.effective).toBe(14);
    adaptive.track('d', 30);
    expect(s.effective).toBe(14);
    adaptive.track('d', 5);
    expect(s.effective).toBe(5);
  });

  it('exports every deployment for metrics, as copies', () => {
    const { adaptive } = setup();
    adaptive.observe(adaptive.track('a', 4), { status: 429, upstreamMs: undefined });
    adaptive.track('b', 8);
    const snap = adaptive.snapshot();
    expect(snap.map((x) => [x.deploymentId, x.configured, x.effective])).toEqual([
      ['a', 4, 2],
      ['b', 8, 8],
    ]);
    (snap[0] as { effective: number }).effective = 99;
    expect(adaptive.track('a', 4).effective).toBe(2);
  });
});
