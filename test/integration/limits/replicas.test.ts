/**
 * Replica membership on the real Redis (one key prefix per test, so concurrent runs never see
 * each other's replicas): replicas find each other within a heartbeat and split a capacity
 * exactly; one that leaves, or dies without leaving, gives its slice back to the others; Redis
 * cut off keeps the last known split, and an unreachable Redis at start falls back to the fleet
 * size hint. No request path is involved: membership is read by the scheduler on change only.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/observability/logger.js';
import { createRedisMembership } from '../../../src/limits/redis-replicas.js';
import { createReplicaMembership, type MembershipStore, type ReplicaMembership } from '../../../src/limits/replicas.js';
import { REDIS_URL, redisAvailable } from '../../helpers/services.js';

const available = await redisAvailable();
const LEASE_MS = 600;
const BEAT_MS = 150;
const prefixes: string[] = [];
const started: ReplicaMembership[] = [];

afterAll(async () => {
  await Promise.all(started.map((m) => m.close()));
  if (!available || prefixes.length === 0) return;
  const redis = new Redis(REDIS_URL);
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});

function newPrefix(): string {
  const prefix = `gh-test-${randomBytes(6).toString('hex')}:`;
  prefixes.push(prefix);
  return prefix;
}

/** The real Redis store, with a switch that makes every heartbeat fail (Redis cut off from this replica). */
function cuttable(store: MembershipStore) {
  const state = { cut: false };
  const wrapped: MembershipStore = {
    beat: (id, leaseMs) => (state.cut ? Promise.reject(new Error('connection cut')) : store.beat(id, leaseMs)),
    leave: (id) => store.leave(id),
    ready: (ms) => store.ready(ms),
    quit: () => store.quit(),
  };
  return { store: wrapped, state };
}

function logSink() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger('info', sink), lines };
}

async function join(prefix: string, store?: MembershipStore, extra: { fallbackReplicas?: number } = {}) {
  const { logger, lines } = logSink();
  let changes = 0;
  const m = createReplicaMembership({
    store: store ?? createRedisMembership({ url: REDIS_URL, commandTimeoutMs: 500, keyPrefix: prefix }),
    leaseMs: LEASE_MS,
    heartbeatMs: BEAT_MS,
    logger,
    ...extra,
  });
  m.onChange(() => void changes++);
  started.push(m);
  await m.start();
  return { m, lines, changes: () => changes };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
  return performance.now() - t0;
}

describe.skipIf(!available)('replica membership [Redis]', () => {
  it('replicas find each other within a heartbeat and split each capacity exactly', async () => {
    const prefix = newPrefix();
    const a = await join(prefix);
    expect(a.m.stats()).toMatchObject({ replicas: 1, rank: 0, up: true, failures: 0 });
    expect(a.m.slice('dep', 5)).toBe(5);
    const b = await join(prefix);
    const c = await join(prefix);
    expect(c.m.stats().replicas).toBe(3); // a newcomer sees the others at once
    const ms = await until(() => a.m.stats().replicas === 3 && b.m.stats().replicas === 3, 2_000);
    expect(ms).toBeLessThan(1_000); // a heartbeat or two (150 ms each), with room for a loaded machine
    expect(a.changes()).toBeGreaterThanOrEqual(1);
    const ranks = [a, b, c].map((r) => r.m.stats().rank).sort();
    expect(ranks).toEqual([0, 1, 2]);
    for (const dep of ['dep-1', 'dep-2', 'gpt-4o', 'mock-shared-model']) {
      for (const capacity of [3, 4, 5, 7, 256]) {
        const parts = [a, b, c].map((r) => r.m.slice(dep, capacity));
        expect(parts.reduce((x, y) => x + y, 0), `${dep} ${capacity}`).toBe(capacity);
      }
    }
  });

  it('a replica that leaves gives its slice to the others at their next heartbeat', async () => {
    const prefix = newPrefix();
    const a = await join(prefix);
    const b = await join(prefix);
    await until(() => a.m.stats().replicas === 2, 2_000);
    expect(a.m.slice('dep', 4)).toBe(2);
    await b.m.close();
    const ms = await until(() => a.m.slice('dep', 4) === 4, 2_000);
    console.log(`a replica that left: the other had the whole capacity after ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1_000); // a heartbeat or two (150 ms each), with room for a loaded machine
    expect(a.m.stats().replicas).toBe(1);
  });

  it('a replica that dies is dropped after its lease; Redis cut off from a replica keeps its last known split', async () => {
    const prefix = newPrefix();
    const a = await join(prefix);
    const cut = cuttable(createRedisMembership({ url: REDIS_URL, commandTimeoutMs: 500, keyPrefix: prefix }));
    const b = await join(prefix, cut.store);
    await until(() => a.m.stats().replicas === 2, 2_000);
    const sliceB = b.m.slice('dep', 4);
    expect(sliceB).toBe(2);

    cut.state.cut = true; // b's heartbeats no longer reach Redis: to a, b looks dead
    const ms = await until(() => a.m.stats().replicas === 1, 3_000);
    console.log(`a replica that stopped beating was dropped after ${ms.toFixed(0)} ms (lease ${LEASE_MS} ms)`);
    expect(ms).toBeGreaterThan(LEASE_MS - BEAT_MS * 2);
    expect(a.m.slice('dep', 4)).toBe(4);
    // b keeps the split it last read, and says so once.
    expect(b.m.stats()).toMatchObject({ replicas: 2, up: false });
    expect(b.m.stats().failures).toBeGreaterThanOrEqual(2);
    expect(b.m.slice('dep', 4)).toBe(sliceB);
    expect(b.lines.filter((l) => l.includes('unreachable'))).toHaveLength(1);

    cut.state.cut = false;
    await until(() => b.m.stats().up && a.m.stats().replicas === 2, 2_000);
    expect(b.lines.some((l) => l.includes('answers again'))).toBe(true);
    expect(a.m.slice('dep', 4) + b.m.slice('dep', 4)).toBe(4);
  });

  it('Redis unreachable at start: the start does not fail, and the capacity is split over the fleet size hint', async () => {
    const { m, lines } = await join('gh-test-dead:', createRedisMembership({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 200 }), {
      fallbackReplicas: 3,
    });
    expect(m.stats()).toMatchObject({ replicas: 3, rank: undefined, up: false });
    expect(m.stats().failures).toBeGreaterThanOrEqual(1);
    expect(m.slice('dep', 10)).toBe(3);
    expect(m.slice('dep', 2)).toBe(1);
    expect(lines.some((l) => l.includes('limits.replicas'))).toBe(true);
    const t0 = performance.now();
    await m.close(); // no leave attempt against a store that does not answer
    expect(performance.now() - t0).toBeLessThan(100);
  });
});
