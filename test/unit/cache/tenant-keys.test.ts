import { describe, expect, it } from 'vitest';
import { createKeySource, type TenantCacheState } from '../../../src/cache/tenant-keys.js';

const ON: TenantCacheState = { settings: { enabled: true, ttlSeconds: 60 }, keys: undefined };
const OFF: TenantCacheState = { settings: undefined, keys: undefined };

/** A loader whose answers the test releases one by one. */
function scripted() {
  const waiting: ((s: TenantCacheState) => void)[] = [];
  let loads = 0;
  const load = (): Promise<TenantCacheState> => {
    loads++;
    return new Promise((resolve) => waiting.push(resolve));
  };
  const answer = async (s: TenantCacheState): Promise<void> => {
    waiting.shift()?.(s);
    await new Promise((r) => setImmediate(r));
  };
  return { load, answer, loads: () => loads };
}

describe('tenant cache state by revision', () => {
  it('a moved revision (the tenant row changed) is never served the older state; it is re-read at once', async () => {
    const l = scripted();
    const keys = createKeySource({ load: l.load, refreshMs: 60_000, retryMs: 10_000, maxTenants: 10 });
    expect(keys.peek('t', 1)).toBeUndefined(); // first sight: loads, goes uncached
    await l.answer(ON);
    expect(keys.peek('t', 1)).toBe(ON);
    expect(l.loads()).toBe(1);

    // The opt-out moved the tenant's updated_at: no cache from now, not after refreshMs.
    expect(keys.peek('t', 2)).toBeUndefined();
    expect(keys.peek('t', 2)).toBeUndefined(); // one load in flight, not one per request
    expect(l.loads()).toBe(2);
    await l.answer(OFF);
    expect(keys.peek('t', 2)).toBe(OFF);
    expect(l.loads()).toBe(2);
  });

  it('a load started for an older revision does not count for a newer one', async () => {
    const l = scripted();
    const keys = createKeySource({ load: l.load, refreshMs: 60_000, retryMs: 10_000, maxTenants: 10 });
    keys.peek('t', 1);
    // The change lands while the first read is in flight: that read may predate it.
    expect(keys.peek('t', 2)).toBeUndefined();
    await l.answer(ON);
    expect(keys.peek('t', 2)).toBeUndefined();
    expect(l.loads()).toBe(2);
    await l.answer(OFF);
    expect(keys.peek('t', 2)).toBe(OFF);
  });

  it('without a revision (snapshots built without one) the state serves until refreshMs, as before', async () => {
    const l = scripted();
    let t = 0;
    const keys = createKeySource({ load: l.load, refreshMs: 1000, retryMs: 10_000, maxTenants: 10, now: () => t });
    keys.peek('t');
    await l.answer(ON);
    expect(keys.peek('t')).toBe(ON);
    t += 999;
    expect(keys.peek('t')).toBe(ON);
    expect(l.loads()).toBe(1);
    t += 1;
    expect(keys.peek('t')).toBe(ON); // the old state serves while the refresh runs
    expect(l.loads()).toBe(2);
  });
});
