/**
 * The pure part of writing fail-open usage back to Redis (src/limits/outage-journal.ts): settled
 * usage summed per day/month counter for every metric, open reservations turned into holds under
 * their own ids, buckets left out, ended windows and lapsed reservations dropped, batches per
 * tenant with fresh ids, and nothing handed out twice.
 */
import { describe, expect, it } from 'vitest';
import { createOutageJournal, type MergeBatch } from '../../../src/limits/outage-journal.js';
import type { Charge } from '../../../src/limits/types.js';

const NOW = 1_800_000_000_000;
const DAY_END = NOW + 3_600_000;
const MONTH_END = NOW + 10 * 86_400_000;

const cost = (t: string, amount: number): Charge => ({ kind: 'window', key: `gh:{${t}}:budget:m:2027-01:-`, limit: 100_000, resetAt: MONTH_END, amount });
const requests = (t: string): Charge => ({ kind: 'window', key: `gh:{${t}}:rpd:d:2027-01-15:-`, limit: 1_000, resetAt: DAY_END, amount: 1 });
const rate = (t: string): Charge => ({ kind: 'bucket', key: `gh:{${t}}:rpm:b:-`, limit: 60, burst: 60, periodMs: 60_000, amount: 1 });
const slots = (t: string): Charge => ({ kind: 'concurrency', key: `gh:{${t}}:conc:-`, limit: 4, amount: 1 });

function rowsOf(batches: MergeBatch[]) {
  return batches.flatMap((b) => b.rows).sort((a, b) => (a.key + a.kind).localeCompare(b.key + b.kind));
}

describe('outage journal', () => {
  it('sums settled usage per counter, every metric alike, and leaves buckets out', () => {
    let now = NOW;
    const j = createOutageJournal({ now: () => now });
    const charges = [rate('a'), requests('a'), cost('a', 3_000)];
    j.admitted('r1', charges, NOW + 60_000);
    j.admitted('r2', charges, NOW + 60_000);
    expect(j.settled('r1', [1, 1, 2_500.2])).toEqual({ kind: 'recorded' });
    expect(j.settled('r2', [1, 1, 1_000])).toEqual({ kind: 'recorded' });
    // A second settle of the same id counts nothing.
    expect(j.settled('r1', [1, 1, 2_500])).toEqual({ kind: 'unknown' });
    now += 1_000;
    const batches = j.take('run-a');
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ sinceRun: 'run-a', tenantKey: expect.stringContaining('{a}'), holds: [] });
    expect(rowsOf(batches)).toEqual([
      { kind: 'used', key: 'gh:{a}:budget:m:2027-01:-', resetAt: MONTH_END, used: 3_501 }, // rounded up as the backends do
      { kind: 'used', key: 'gh:{a}:rpd:d:2027-01-15:-', resetAt: DAY_END, used: 2 },
    ]);
    // Handed out once: the next take has nothing.
    expect(j.pending()).toBe(false);
    expect(j.take('run-a')).toEqual([]);
  });

  it('turns reservations still open into holds under their ids, and routes their settle to the batch', () => {
    const j = createOutageJournal({ now: () => NOW, holdLeaseMs: 30_000 });
    j.admitted('open', [rate('a'), cost('a', 2_000), slots('a')], NOW + 600_000);
    j.admitted('short', [cost('a', 500)], NOW + 10_000);
    j.admitted('rate-only', [rate('a')], NOW + 600_000); // nothing to hold
    const [batch, ...rest] = j.take('run-a');
    expect(rest).toEqual([]);
    expect(batch?.rows).toEqual([
      { kind: 'window-hold', key: 'gh:{a}:budget:m:2027-01:-', resetAt: MONTH_END, id: 'open', amount: 2_000, leaseMs: 30_000 },
      { kind: 'concurrency-hold', key: 'gh:{a}:conc:-', id: 'open', leaseMs: 30_000 },
      // The lease never outlives the reservation's own deadline.
      { kind: 'window-hold', key: 'gh:{a}:budget:m:2027-01:-', resetAt: MONTH_END, id: 'short', amount: 500, leaseMs: 10_000 },
    ]);
    expect(batch?.holds.map((h) => [h.id, h.positions])).toEqual([
      ['open', [1, 2]],
      ['short', [0]],
    ]);
    const settled = j.settled('open', [1, 1_700, 1]);
    expect(settled).toMatchObject({ kind: 'migrated', batch, reservation: { id: 'open', positions: [1, 2] } });
    // Its usage goes to Redis through the settle, not into another batch.
    expect(j.pending()).toBe(false);
    expect(j.settled('open', [1, 1_700, 1])).toEqual({ kind: 'unknown' });
  });

  it('drops windows that ended and reservations past their deadline', () => {
    let now = NOW;
    const j = createOutageJournal({ now: () => now });
    j.admitted('done', [requests('a'), cost('a', 10)], NOW + 600_000);
    j.settled('done', [1, 10]);
    j.admitted('lapsed', [cost('a', 10)], NOW + 60_000);
    now = DAY_END + 1; // the day counter is gone; the month one is current
    expect(rowsOf(j.take(''))).toEqual([{ kind: 'used', key: 'gh:{a}:budget:m:2027-01:-', resetAt: MONTH_END, used: 10 }]);
  });

  it('makes one batch per tenant (one hash tag per script call), split when large, each with its own id', () => {
    const j = createOutageJournal({ now: () => NOW, maxRows: 2 });
    for (const t of ['a', 'b']) {
      j.admitted(`${t}1`, [requests(t), cost(t, 5)], NOW + 60_000);
      j.settled(`${t}1`, [1, 5]);
    }
    j.admitted('a2', [cost('a', 7), slots('a')], NOW + 60_000);
    const batches = j.take('run');
    expect(batches.map((b) => [b.tenantKey.slice(0, 5), b.rows.length, b.holds.length])).toEqual([
      ['gh:{a', 2, 0],
      ['gh:{a', 2, 1], // a hold's rows stay in one batch
      ['gh:{b', 2, 0],
    ]);
    expect(new Set(batches.map((b) => b.id)).size).toBe(3);
  });

  it('is bounded: the oldest entries go first, counted', () => {
    const j = createOutageJournal({ now: () => NOW, maxEntries: 2 });
    for (const t of ['a', 'b', 'c']) {
      j.admitted(t, [cost(t, 1)], NOW + 60_000);
      j.settled(t, [1]);
    }
    expect(j.stats()).toEqual({ counters: 2, open: 0, dropped: 1 });
    expect(rowsOf(j.take('')).map((r) => r.key)).toEqual(['gh:{b}:budget:m:2027-01:-', 'gh:{c}:budget:m:2027-01:-']);
  });
});
