/**
 * What a replica counted locally while Redis was unreachable (fail open, failover.ts), kept until
 * it is in the shared counters (DESIGN §13 "Leases, reseeding, fail-open seeds"). Pure: no I/O,
 * no timers; the failover wrapper records into it and ships what `take` hands out.
 *
 * Two things are recorded, for every metric and every day/month window alike:
 *  - usage settled locally: summed per window counter key (memory bounded by counters, not by
 *    requests);
 *  - reservations admitted locally and not settled yet: their window and concurrency charges, so
 *    that on recovery they are held on Redis under their own id (pending, leased) and their settle
 *    then goes to Redis like any other.
 * Rate buckets are left out: they refill within their period (at most an hour), and usage replayed
 * late would be debited as if it had just happened.
 *
 * `take` turns everything recorded into batches, one or more per tenant hash tag, each with a
 * random id that the merge script marks in Redis (SET, expiring with the latest window), so a batch
 * retried after a lost reply, or after the outage came back, is applied once. What is recorded
 * after a `take` goes into the next batch. Windows that ended are dropped (their counters are
 * gone), as are reservations past their own deadline (their local lease lapsed too).
 */
import { randomUUID } from 'node:crypto';
import { units } from './semantics.js';
import type { Charge } from './types.js';

/** A charge a reservation held on Redis (buckets excluded). */
export type HeldCharge = Exclude<Charge, { kind: 'bucket' }>;

/** One change the merge script applies. */
export type MergeRow =
  /** Settled usage to add to a day/month counter. */
  | { kind: 'used'; key: string; resetAt: number; used: number }
  /** An open reservation's pending amount on a day/month counter, under its id. */
  | { kind: 'window-hold'; key: string; resetAt: number; id: string; amount: number; leaseMs: number }
  /** An open reservation's concurrency slot, under its id. */
  | { kind: 'concurrency-hold'; key: string; id: string; leaseMs: number };

/** An open local reservation moved to Redis by a batch. */
export interface MigratedReservation {
  id: string;
  /** Its charges other than buckets, as reserved (limits unscaled). */
  charges: readonly HeldCharge[];
  /** Positions of `charges` in the reservation's full charge list (to pick their `used`). */
  positions: readonly number[];
  /** Epoch ms after which nothing keeps it alive (the request's own bound). */
  deadline: number;
}

export interface MergeBatch {
  /** Unique; names the batch's marker in Redis. */
  id: string;
  /** Any charge key of the batch's tenant (carries its hash tag): the markers are derived from it. */
  tenantKey: string;
  /** The Redis run id this replica last saw before the outage ('' unknown). */
  sinceRun: string;
  rows: readonly MergeRow[];
  /** The reservations the batch's hold rows belong to. */
  holds: readonly MigratedReservation[];
}

export interface OutageJournalOptions {
  /** Epoch ms; injectable for tests. */
  now?: () => number;
  /** Lease a migrated reservation gets on Redis (the lease keeper's); capped at its deadline. */
  holdLeaseMs?: number;
  /** Counters with unshipped usage, and open reservations, each kept at most. Default 100,000. */
  maxEntries?: number;
  /** Rows per batch (one script call); a tenant with more is split. Default 256. */
  maxRows?: number;
}

export interface OutageJournalStats {
  /** Counters with settled usage not yet in a batch, and open local reservations recorded. */
  counters: number;
  open: number;
  /** Usage or reservations forgotten because the journal was full. */
  dropped: number;
}

export type SettleOutcome =
  /** The usage was recorded for the next batch. */
  | { kind: 'recorded' }
  /** The reservation is held on Redis by `batch`: settle it there (after the batch is applied). */
  | { kind: 'migrated'; batch: MergeBatch; reservation: MigratedReservation }
  /** Not a reservation this journal knows (not admitted locally, settled already, or expired). */
  | { kind: 'unknown' };

export interface OutageJournal {
  /** A reservation admitted by the local fallback; `deadline` is when its local lease ends. */
  admitted(id: string, charges: readonly Charge[], deadline: number): void;
  /** A local reservation settled (after the local backend counted it). */
  settled(id: string, used: readonly number[]): SettleOutcome;
  /** True when there is something for `take`. */
  pending(): boolean;
  /** Everything recorded so far as batches; the journal keeps only which reservations they moved. */
  take(sinceRun: string): MergeBatch[];
  stats(): OutageJournalStats;
}

interface OpenReservation extends MigratedReservation {
  windows: number;
}

interface Unshipped {
  used: number;
  resetAt: number;
}

function tagOf(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open);
  return open === -1 || close === -1 ? '' : key.slice(open, close + 1);
}

export function createOutageJournal(opts: OutageJournalOptions = {}): OutageJournal {
  const clock = opts.now ?? Date.now;
  const maxEntries = opts.maxEntries ?? 100_000;
  const maxRows = opts.maxRows ?? 256;
  const holdLeaseMs = opts.holdLeaseMs;
  /** Window key → settled usage not yet in a batch. */
  let unshipped = new Map<string, Unshipped>();
  /** Local reservations not settled and not yet in a batch. */
  let open = new Map<string, OpenReservation>();
  /** Reservations a batch moved to Redis, until they settle or pass their deadline. */
  const migrated = new Map<string, { batch: MergeBatch; reservation: MigratedReservation }>();
  let dropped = 0;

  function evictOldest(map: Map<string, unknown>): void {
    const oldest = map.keys().next();
    if (oldest.done !== true) {
      map.delete(oldest.value);
      dropped++;
    }
  }

  function admitted(id: string, charges: readonly Charge[], deadline: number): void {
    const held: HeldCharge[] = [];
    const positions: number[] = [];
    let windows = 0;
    charges.forEach((c, i) => {
      if (c.kind === 'bucket') return;
      held.push(c);
      positions.push(i);
      if (c.kind === 'window') windows++;
    });
    if (held.length === 0) return;
    if (!open.has(id) && open.size >= maxEntries) evictOldest(open);
    open.set(id, { id, charges: held, positions, deadline, windows });
  }

  function record(r: MigratedReservation, used: readonly number[]): void {
    r.charges.forEach((c, j) => {
      if (c.kind !== 'window') return;
      const amount = units(used[r.positions[j] as number] ?? 0);
      if (amount === 0) return;
      const entry = unshipped.get(c.key);
      if (entry !== undefined) {
        entry.used += amount;
        if (c.resetAt > entry.resetAt) entry.resetAt = c.resetAt;
        return;
      }
      if (unshipped.size >= maxEntries) evictOldest(unshipped);
      unshipped.set(c.key, { used: amount, resetAt: c.resetAt });
    });
  }

  function settled(id: string, used: readonly number[]): SettleOutcome {
    const local = open.get(id);
    if (local !== undefined) {
      open.delete(id);
      if (local.windows > 0) record(local, used);
      return { kind: 'recorded' };
    }
    const moved = migrated.get(id);
    if (moved !== undefined) {
      migrated.delete(id);
      return { kind: 'migrated', ...moved };
    }
    return { kind: 'unknown' };
  }

  function take(sinceRun: string): MergeBatch[] {
    const now = clock();
    for (const [id, m] of migrated) if (m.reservation.deadline <= now) migrated.delete(id);
    // Per tenant: rows, and the reservations whose holds they are (kept in one batch each).
    const byTag = new Map<string, { key: string; used: MergeRow[]; holds: OpenReservation[] }>();
    const group = (key: string) => {
      const tag = tagOf(key);
      let g = byTag.get(tag);
      if (g === undefined) byTag.set(tag, (g = { key, used: [], holds: [] }));
      return g;
    };
    for (const [key, u] of unshipped) if (u.resetAt > now) group(key).used.push({ kind: 'used', key, resetAt: u.resetAt, used: u.used });
    for (const r of open.values()) if (r.deadline > now) group((r.charges[0] as HeldCharge).key).holds.push(r);
    unshipped = new Map();
    open = new Map();

    const batches: MergeBatch[] = [];
    for (const g of byTag.values()) {
      let rows: MergeRow[] = [];
      let holds: MigratedReservation[] = [];
      const close = () => {
        if (rows.length === 0) return;
        batches.push({ id: randomUUID(), tenantKey: g.key, sinceRun, rows, holds });
        rows = [];
        holds = [];
      };
      for (const row of g.used) {
        if (rows.length >= maxRows) close();
        rows.push(row);
      }
      for (const r of g.holds) {
        if (rows.length > 0 && rows.length + r.charges.length > maxRows) close();
        const left = r.deadline - now;
        const leaseMs = Math.max(1, Math.ceil(holdLeaseMs === undefined ? left : Math.min(holdLeaseMs, left)));
        let any = false;
        for (const c of r.charges) {
          if (c.kind === 'window') {
            if (c.resetAt <= now) continue;
            rows.push({ kind: 'window-hold', key: c.key, resetAt: c.resetAt, id: r.id, amount: units(c.amount), leaseMs });
          } else rows.push({ kind: 'concurrency-hold', key: c.key, id: r.id, leaseMs });
          any = true;
        }
        if (any) holds.push({ id: r.id, charges: r.charges, positions: r.positions, deadline: r.deadline });
      }
      close();
    }
    for (const b of batches) for (const r of b.holds) migrated.set(r.id, { batch: b, reservation: r });
    return batches;
  }

  return {
    admitted,
    settled,
    pending: () => unshipped.size > 0 || open.size > 0,
    take,
    stats: () => ({ counters: unshipped.size, open: open.size, dropped }),
  };
}
