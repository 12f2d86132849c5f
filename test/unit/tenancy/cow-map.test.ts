/** The snapshot's copy-on-write map: a draft never changes the map it came from. */
import { describe, expect, it } from 'vitest';
import { CowMap, shardOf } from '../../../src/tenancy/cow-map.js';

describe('CowMap', () => {
  const keys = Array.from({ length: 5_000 }, (_, i) => `ghk_${i.toString(36).padStart(8, '0')}`);

  it('reads like a Map and keeps its size', () => {
    const map = CowMap.from(keys.map((k, i) => [k, i] as const));
    expect(map.size).toBe(5_000);
    expect(map.get('ghk_00000009')).toBe(9);
    expect(map.has('nope')).toBe(false);
    expect(map.get('')).toBeUndefined();
    expect([...map.keys()].sort()).toEqual([...keys].sort());
    expect(new Map(map).size).toBe(5_000);
  });

  it('an edit leaves the original as it was and gives a map with the changes', () => {
    const map = CowMap.from(keys.map((k, i) => [k, i] as const));
    const draft = map.edit();
    draft.set('ghk_00000009', -1);
    draft.set('new', 42);
    expect(draft.delete('ghk_0000000a')).toBe(true);
    expect(draft.delete('absent')).toBe(false);
    const next = draft.done();
    expect([map.get('ghk_00000009'), map.has('new'), map.get('ghk_0000000a'), map.size]).toEqual([9, false, 10, 5_000]);
    expect([next.get('ghk_00000009'), next.get('new'), next.has('ghk_0000000a'), next.size]).toEqual([-1, 42, false, 5_000]);
    expect(() => draft.set('late', 1)).toThrow(/already/);
  });

  it('emptied maps answer without hashing and iterate nothing', () => {
    const draft = CowMap.from([['a', 1] as const]).edit();
    draft.delete('a');
    const empty = draft.done();
    expect([empty.size, empty.get('a'), [...empty]]).toEqual([0, undefined, []]);
  });

  it('spreads random ids and prefixes over the shards', () => {
    const counts = new Map<number, number>();
    for (let i = 0; i < 10_000; i++) {
      const s = shardOf(crypto.randomUUID());
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
    expect(counts.size).toBe(256);
    expect(Math.max(...counts.values())).toBeLessThan(150); // 39 on average
  });
});
