/**
 * The price follower at start adopts the versions in force without announcing them (the
 * deployments come from the configuration with none, so every start "changed" them all); a
 * version that is really new, read later or taking effect by timer, is followed and logged.
 */
import { describe, expect, it } from 'vitest';
import { startPriceFollower } from '../../../src/billing/price-follower.js';
import type { Deployment } from '../../../src/providers/types.js';
import type { Store } from '../../../src/store/index.js';

const T0 = Date.parse('2026-11-01T00:00:00Z');

/** A price_book row as billingRepo.versionsOf reads it. */
function row(id: string, atMs: number, input: number) {
  return {
    id,
    model: 'm',
    deployment_id: 'd1',
    effective_from: new Date(atMs),
    input_per_mtok_micros: String(input),
    output_per_mtok_micros: String(input * 2),
    cached_per_mtok_micros: '0',
    per_request_micros: '0',
    currency: 'USD',
    source: 'config',
    created_at: new Date(atMs),
  };
}

function setup() {
  const book = [row('v1', T0 - 1000, 100)];
  let reads = 0;
  const store = {
    platform: async <T>(fn: (tx: never) => Promise<T>) => {
      reads++;
      return fn({ scope: 'platform', query: async () => ({ rows: [...book], rowCount: book.length }) } as never);
    },
  } as Pick<Store, 'platform'>;
  const infos: { fields: unknown; msg: string }[] = [];
  const logger = { info: (fields: unknown, msg?: string) => void infos.push({ fields, msg: msg ?? '' }), warn: () => undefined };
  const d = { id: 'd1', model: 'm', prices: { inputPerMTok: 1, outputPerMTok: 1, cachedInputPerMTok: 0, perRequest: 0 } } as Deployment;
  return { book, store, infos, logger, d, reads: () => reads };
}

describe('price follower logging', () => {
  it('adopts the book at start without logging; a new version read later is followed and logged once', async () => {
    const { book, store, infos, logger, d, reads } = setup();
    let clock = T0;
    const follower = await startPriceFollower({ store, deployments: [d], refreshMs: 0, logger, now: () => clock });
    try {
      expect(reads()).toBe(1);
      expect(d).toMatchObject({ priceVersion: 'v1', prices: { inputPerMTok: 100 } });
      expect(infos).toEqual([]);

      // The same book again: nothing changes, nothing is logged.
      await follower.refresh();
      expect(infos).toEqual([]);

      book.push(row('v2', T0 + 500, 300));
      clock = T0 + 1000;
      await follower.refresh();
      expect(d).toMatchObject({ priceVersion: 'v2', prices: { inputPerMTok: 300 } });
      expect(infos).toEqual([{ fields: { deployments: 1 }, msg: 'billing: deployment prices follow a new price-book version' }]);
      await follower.refresh();
      expect(infos).toHaveLength(1);
    } finally {
      follower.close();
    }
  });

  it('a book first read after a failed start is adopted silently too', async () => {
    const { store, infos, logger, d } = setup();
    let fail = true;
    const flaky = { platform: ((fn) => (fail ? Promise.reject(new Error('down')) : store.platform(fn))) as Store['platform'] };
    const follower = await startPriceFollower({ store: flaky, deployments: [d], refreshMs: 0, logger, now: () => T0 });
    try {
      expect(d.priceVersion).toBeUndefined();
      fail = false;
      await follower.refresh();
      expect(d.priceVersion).toBe('v1');
      expect(infos).toEqual([]);
    } finally {
      follower.close();
    }
  });
});
