/** Usage event ids: RFC 9562 UUIDv7, the time prefix in order, the rest random and unique. */
import { describe, expect, it } from 'vitest';
import { uuidV7 } from '../../../src/metering/event-id.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidV7', () => {
  it('carries the millisecond in its first 48 bits, version 7 and the RFC variant', () => {
    const ms = Date.UTC(2026, 11, 7, 10, 0, 0, 123);
    const id = uuidV7(ms);
    expect(id).toMatch(V7);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(ms);
  });

  it('sorts by time across milliseconds and never repeats within one', () => {
    const base = Date.now();
    const ids = Array.from({ length: 5_000 }, (_, i) => uuidV7(base + Math.floor(i / 100)));
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 100; i < ids.length; i += 100) expect((ids[i - 100] as string) < (ids[i] as string)).toBe(true);
    // Every hex digit after the version digit varies (no fixed digit but the version).
    const positions = new Set<number>();
    for (let i = 1; i < ids.length; i++) {
      const a = ids[i - 1] as string;
      const b = ids[i] as string;
      for (let p = 15; p < 36; p++) if (a[p] !== b[p]) positions.add(p);
    }
    expect([...positions].sort((x, y) => x - y)).toEqual([15, 16, 17, 19, 20, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35]);
  });
});
