/** sameData (snapshot-diff.ts): what decides that a tenant read by a full reload is unchanged. */
import { describe, expect, it } from 'vitest';
import { sameData } from '../../../src/tenancy/snapshot-diff.js';

describe('sameData', () => {
  it('plain data: key order ignored, an undefined property as good as an absent one', () => {
    expect(sameData({ a: 1, b: [1, 'x', null] }, { b: [1, 'x', null], a: 1 })).toBe(true);
    expect(sameData({ a: 1, c: undefined }, { a: 1 })).toBe(true);
    expect(sameData({ a: 1 }, { a: 1, c: undefined })).toBe(true);
    expect(sameData({ a: 1 }, { a: 1, c: null })).toBe(false);
    expect(sameData({ a: { b: [1, 2] } }, { a: { b: [2, 1] } })).toBe(false);
    expect(sameData([1, 2], [1, 2, 3])).toBe(false);
    expect(sameData({ a: 1 }, { b: 1 })).toBe(false);
    expect(sameData({ a: [] }, { a: {} })).toBe(false);
    expect(sameData(undefined, null)).toBe(false);
    expect(sameData('1', 1)).toBe(false);
  });

  it('Maps and Sets by their entries in order; never equal to an array or an object', () => {
    expect(sameData(new Map([['k', 'v']]), new Map([['k', 'v']]))).toBe(true);
    expect(sameData(new Map([['k', 'v']]), new Map([['k', 'w']]))).toBe(false);
    expect(sameData(new Map([['k', 'v']]), new Map())).toBe(false);
    expect(sameData({ rotatedFrom: new Map([['a', 'b']]) }, { rotatedFrom: new Map([['a', 'b']]) })).toBe(true);
    expect(sameData(new Set([1]), new Set([1]))).toBe(true);
    expect(sameData(new Set([1]), new Map([[1, 1]]))).toBe(false);
    expect(sameData(new Map([['k', 'v']]), [['k', 'v']])).toBe(false);
    expect(sameData(new Map(), {})).toBe(false);
  });

  it('Dates by their time', () => {
    expect(sameData({ at: new Date(5) }, { at: new Date(5) })).toBe(true);
    expect(sameData({ at: new Date(5) }, { at: new Date(6) })).toBe(false);
    expect(sameData(new Date(5), {})).toBe(false);
  });
});
