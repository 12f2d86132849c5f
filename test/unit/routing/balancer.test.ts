import { describe, expect, it } from 'vitest';
import type { Deployment } from '../../../src/providers/types.js';
import { EXPLORE, newStats, observeLatency, pickLeastBusy, pickLowestLatency, pickWeighted, type DeploymentStats } from '../../../src/routing/balancer.js';
import { createRouter } from '../../../src/routing/router.js';
import { DEFAULT_ROUTING, type Strategy } from '../../../src/routing/types.js';
import { makeDeployment } from '../pipeline/fixtures.js';

function statsTable() {
  const table = new Map<string, DeploymentStats>();
  const statsOf = (d: Deployment): DeploymentStats => {
    let s = table.get(d.id);
    if (s === undefined) table.set(d.id, (s = newStats()));
    return s;
  };
  return { table, statsOf };
}

function routerWith(strategy: Strategy, random: () => number = Math.random) {
  return createRouter({ config: { ...DEFAULT_ROUTING, defaults: { ...DEFAULT_ROUTING.defaults, strategy } }, random });
}

describe('weighted (smooth weighted round-robin)', () => {
  const a = makeDeployment('m', { routingWeight: 3 });
  const b = makeDeployment('m', { routingWeight: 1 });
  const c = makeDeployment('m'); // weight 1 by default

  it('gives each deployment its routingWeight share, interleaved rather than in bursts', () => {
    const { statsOf } = statsTable();
    const seq = Array.from({ length: 10 }, () => pickWeighted([a, b, c], statsOf).id);
    // 5 picks per cycle: 3 a, 1 b, 1 c; a never three times in a row.
    expect(seq.filter((id) => id === a.id)).toHaveLength(6);
    expect(seq.filter((id) => id === b.id)).toHaveLength(2);
    expect(seq.filter((id) => id === c.id)).toHaveLength(2);
    for (let i = 2; i < seq.length; i++) expect(seq[i] === a.id && seq[i - 1] === a.id && seq[i - 2] === a.id).toBe(false);
  });

  it('ignores the limits weight: `weight` prices work, it does not steer traffic', () => {
    const heavy = makeDeployment('m', { weight: 50 });
    const light = makeDeployment('m', { weight: 0.1 });
    const { statsOf } = statsTable();
    const seq = Array.from({ length: 10 }, () => pickWeighted([heavy, light], statsOf).id);
    expect(seq.filter((id) => id === heavy.id)).toHaveLength(5);
  });
});

describe('least-busy', () => {
  it('picks the deployment with the fewest requests in flight at this replica', () => {
    const a = makeDeployment('m');
    const b = makeDeployment('m');
    const router = routerWith('least-busy');
    router.begin(a);
    router.begin(a);
    router.begin(b);
    for (let i = 0; i < 5; i++) expect(router.pick('m', [a, b]).deployment).toBe(b);
    router.end(a);
    router.end(a);
    expect(router.pick('m', [a, b]).deployment).toBe(a);
  });

  it('rotates among equally busy deployments', () => {
    const ds = [makeDeployment('m'), makeDeployment('m'), makeDeployment('m')];
    const { statsOf } = statsTable();
    const seen = new Set([0, 1, 2].map((turn) => pickLeastBusy(ds, statsOf, turn).id));
    expect(seen.size).toBe(3);
  });
});

describe('lowest-latency', () => {
  const fast = makeDeployment('m');
  const slow = makeDeployment('m');

  it('tries an unmeasured deployment first, then prefers the lowest EWMA', () => {
    const { statsOf } = statsTable();
    observeLatency(statsOf(fast), 50);
    const noExplore = () => 0.99;
    expect(pickLowestLatency([fast, slow], statsOf, noExplore)).toBe(slow); // never measured
    observeLatency(statsOf(slow), 400);
    for (let i = 0; i < 5; i++) expect(pickLowestLatency([fast, slow], statsOf, noExplore)).toBe(fast);
  });

  it('keeps exploring, so a deployment that was slow gets traffic again and can win it back', () => {
    const router = routerWith('lowest-latency');
    router.succeeded(fast, 50);
    router.succeeded(slow, 2000);
    const picks = Array.from({ length: 2000 }, () => router.pick('m', [fast, slow]).deployment);
    const slowShare = picks.filter((d) => d === slow).length / picks.length;
    // Exploration sends EXPLORE of picks to a random candidate: about half of those to `slow`.
    expect(slowShare).toBeGreaterThan(EXPLORE / 4);
    expect(slowShare).toBeLessThan(EXPLORE);
    // It recovered: its new samples pull its EWMA under the other's, and it takes the traffic.
    for (let i = 0; i < 12; i++) router.succeeded(slow, 10);
    const after = Array.from({ length: 200 }, () => router.pick('m', [fast, slow]).deployment);
    expect(after.filter((d) => d === slow).length).toBeGreaterThan(150);
  });

  it('counts a failure as slow, moving traffic away', () => {
    const router = routerWith('lowest-latency', () => 0.99);
    router.succeeded(fast, 50);
    router.succeeded(slow, 60);
    expect(router.pick('m', [fast, slow]).deployment).toBe(fast);
    router.failed(fast, 5000);
    expect(router.pick('m', [fast, slow]).deployment).toBe(slow);
  });
});

describe('router.pick', () => {
  it('skips excluded deployments and says when nothing is left', () => {
    const a = makeDeployment('m');
    const b = makeDeployment('m');
    const router = routerWith('weighted');
    for (let i = 0; i < 4; i++) expect(router.pick('m', [a, b], new Set([a.id])).deployment).toBe(b);
    expect(router.pick('m', [a, b], new Set([a.id, b.id]))).toEqual({ deployment: undefined, unavailableMs: 0 });
  });
});
