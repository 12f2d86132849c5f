/** Random but reproducible usage events for the metering tests. */
import { randomUUID } from 'node:crypto';
import { usageRepo, type Store, type UsageEventRecord, type UsageGranularity } from '../../../src/store/index.js';

/** A small deterministic PRNG: failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

export function randomEvents(tenantId: string, n: number, seed: number, base: number): UsageEventRecord[] {
  const r = rng(seed);
  const teams = [null, randomUUID(), randomUUID()];
  const keys = [null, randomUUID(), randomUUID(), randomUUID()];
  return Array.from({ length: n }, (_, i) => ({
    tenantId,
    eventId: randomUUID(),
    requestId: `req-${i % 7}`, // repeats on purpose: the request id is not the key
    // Spread over ~3 days around midnights so day buckets in a non-UTC zone differ from UTC.
    occurredAt: base + Math.floor(r() * 3 * 86_400_000),
    teamId: pick(r, teams),
    keyId: pick(r, keys),
    endUser: r() < 0.5 ? null : `user-${Math.floor(r() * 3)}`,
    tags: r() < 0.3 ? [] : r() < 0.5 ? ['a'] : ['a', 'b:c'],
    model: pick(r, ['gpt-4o', 'gpt-4o-mini']),
    deploymentId: pick(r, [null, 'dep-1']),
    provider: 'openai',
    region: pick(r, [null, 'eu']),
    inputTokens: Math.floor(r() * 1000),
    outputTokens: Math.floor(r() * 1000),
    cachedTokens: Math.floor(r() * 10),
    costMicros: Math.floor(r() * 100_000),
    priceVersion: null,
    latencyMs: Math.floor(r() * 5000),
    ttftMs: r() < 0.5 ? null : Math.floor(r() * 500),
    status: pick(r, [200, 200, 200, 429, 500]),
    streamed: r() < 0.5,
    clientAborted: r() < 0.1,
    usageEstimated: false,
    cacheHit: r() < 0.2,
  }));
}


/** Per tenant: its raw events in the window, and the requests its rollups of `granularity` count. */
export function usageTotals(store: Store, tenants: readonly string[], window: { from: Date; to: Date }, granularity: UsageGranularity) {
  return Promise.all(
    tenants.map((t) =>
      store.withTenant(t, async (tx) => ({
        events: await usageRepo.countEvents(tx, window.from, window.to),
        rollups: (await usageRepo.rollups(tx, { granularity, ...window })).reduce((a, r) => a + r.requests, 0),
      })),
    ),
  );
}
