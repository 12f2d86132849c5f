/** Which price-book version prices a deployment, and how deployments follow the book. */
import { describe, expect, it } from 'vitest';
import { applyVersions, versionInForce } from '../../../src/billing/price-follower.js';
import type { Deployment } from '../../../src/providers/types.js';
import type { PriceBookEntry } from '../../../src/store/index.js';

const T0 = Date.parse('2026-11-01T00:00:00Z');
const H = 3_600_000;

function version(id: string, deploymentId: string | null, atMs: number, input: number, model = 'm'): PriceBookEntry {
  return {
    id,
    model,
    deploymentId,
    effectiveFrom: new Date(atMs),
    inputPerMTokMicros: input,
    outputPerMTokMicros: input * 2,
    cachedPerMTokMicros: 0,
    perRequestMicros: 0,
    currency: 'USD',
    source: deploymentId === null ? 'admin' : 'config',
    createdAt: new Date(atMs),
  };
}

function deployment(id: string, model = 'm'): Deployment {
  return { id, model, prices: { inputPerMTok: 1, outputPerMTok: 1, cachedInputPerMTok: 0, perRequest: 0 } } as Deployment;
}

// Sorted by effective_from, as the store returns them.
const BOOK = [
  version('own-1', 'd1', T0, 100),
  version('model-1', null, T0 + H, 200),
  version('own-2', 'd1', T0 + 2 * H, 300),
  version('model-2', null, T0 + 2 * H, 400),
  version('other', 'd9', T0 + 3 * H, 900),
  version('later', null, T0 + 10 * H, 500),
];

describe('versionInForce', () => {
  it('the newest effective version among the deployment\'s own and its model\'s; its own on the same instant', () => {
    const d1 = deployment('d1');
    expect(versionInForce(BOOK, d1, T0 - 1)).toBeUndefined();
    expect(versionInForce(BOOK, d1, T0)?.id).toBe('own-1');
    expect(versionInForce(BOOK, d1, T0 + H)?.id).toBe('model-1'); // a newer model-wide price overrides
    expect(versionInForce(BOOK, d1, T0 + 2 * H)?.id).toBe('own-2'); // tie at 2h: its own row
    expect(versionInForce(BOOK, d1, T0 + 9 * H)?.id).toBe('own-2'); // another deployment's row is not its
    expect(versionInForce(BOOK, d1, T0 + 10 * H)?.id).toBe('later');
    expect(versionInForce(BOOK, deployment('d2'), T0 + 2 * H)?.id).toBe('model-2');
    expect(versionInForce(BOOK, deployment('x', 'other-model'), T0 + 10 * H)).toBeUndefined();
  });
});

describe('applyVersions', () => {
  it('sets prices and version together, leaves deployments without a version alone, and names the next change', () => {
    const d1 = deployment('d1');
    const lone = deployment('lone', 'unpriced');
    const first = applyVersions([d1, lone], BOOK, T0 + H);
    expect(first).toEqual({ changed: 1, nextAtMs: T0 + 2 * H });
    expect(d1.priceVersion).toBe('model-1');
    expect(d1.prices).toEqual({ inputPerMTok: 200, outputPerMTok: 400, cachedInputPerMTok: 0, perRequest: 0 });
    expect(lone.priceVersion).toBeUndefined();
    expect(lone.prices.inputPerMTok).toBe(1);
    // The same instant again changes nothing.
    expect(applyVersions([d1, lone], BOOK, T0 + H).changed).toBe(0);
    expect(applyVersions([d1], BOOK, T0 + 10 * H)).toEqual({ changed: 1, nextAtMs: null });
    expect(d1.priceVersion).toBe('later');
    expect(d1.prices.inputPerMTok).toBe(500);
  });
});
