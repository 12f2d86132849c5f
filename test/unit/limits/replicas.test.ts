/**
 * The split of a deployment's capacity across replicas: exact (the slices add up to the
 * capacity), even (they differ by at most one), never 0, and the remainder's extra slots spread
 * over the replicas by deployment.
 */
import { describe, expect, it } from 'vitest';
import { sliceOf } from '../../../src/limits/replicas.js';

const slices = (capacity: number, replicas: number, rotation = 0): number[] =>
  Array.from({ length: replicas }, (_, rank) => sliceOf(capacity, replicas, rank, rotation));
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

describe('sliceOf', () => {
  it('gives a lone replica the whole capacity', () => {
    expect(sliceOf(7, 1, 0)).toBe(7);
    expect(sliceOf(7, 1, undefined)).toBe(7);
  });

  it('splits exactly: the slices add up to the capacity and differ by at most one', () => {
    for (let replicas = 1; replicas <= 9; replicas++) {
      for (let capacity = replicas; capacity <= 40; capacity++) {
        for (const rotation of [0, 1, 5, 0xfffffff1]) {
          const parts = slices(capacity, replicas, rotation);
          expect(sum(parts), `${capacity} over ${replicas}, rotation ${rotation}`).toBe(capacity);
          expect(Math.max(...parts) - Math.min(...parts)).toBeLessThanOrEqual(1);
        }
      }
    }
    expect(slices(4, 2)).toEqual([2, 2]);
    expect(slices(10, 3)).toEqual([4, 3, 3]);
  });

  it('never gives 0: below one slot per replica each gets 1 (the fleet may send one per replica)', () => {
    expect(slices(2, 5)).toEqual([1, 1, 1, 1, 1]);
    expect(sliceOf(1, 3, 2)).toBe(1);
  });

  it('before this replica knows its rank, gives only the part every replica gets (at least 1)', () => {
    expect(sliceOf(10, 3, undefined)).toBe(3);
    expect(sliceOf(2, 4, undefined)).toBe(1);
  });

  it('the rotation moves the extra slots to other ranks, keeping the total', () => {
    expect(slices(5, 2, 0)).toEqual([3, 2]);
    expect(slices(5, 2, 1)).toEqual([2, 3]);
    expect(slices(7, 3, 1)).toEqual([2, 2, 3]);
  });
});
