/**
 * The shipper against a real store (PGlite): a batch shipped again after a crash between the
 * store's commit and the spool's checkpoint changes no count (exactly-once rollups), a store that
 * fails is retried with the same batch until it answers, and the maintenance job applies each
 * tenant's retention.
 */
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEvent, type UsageEvent } from '../../../src/metering/event.js';
import { runUsageMaintenance } from '../../../src/metering/maintenance.js';
import { startShipper } from '../../../src/metering/shipper.js';
import { openSpool } from '../../../src/metering/spool.js';
import { tenantsRepo, type Store } from '../../../src/store/index.js';
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { randomEvents, usageTotals } from './events.js';

let store: Store;
let dir: string;
const tenants = [randomUUID(), randomUUID(), randomUUID()];
const window = { from: new Date(Date.now() - 30 * 86_400_000), to: new Date(Date.now() + 5 * 86_400_000) };

beforeAll(async () => {
  store = await openPgliteTestStore();
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-shipper-'));
  for (const [i, t] of tenants.entries()) {
    await store.withTenant(t, (tx) =>
      tenantsRepo.insert(tx, { slug: `s${i}-${t.slice(0, 6)}`, name: 'S', timeZone: 'Asia/Kolkata', settings: i === 0 ? { usageRetentionDays: 3 } : {} }),
    );
  }
}, 60_000);
afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

const totals = () => usageTotals(store, tenants, window, 'day');

describe('usage shipper', () => {
  it('batches re-shipped (a crash after the commit, before the checkpoint) count once', async () => {
    const spoolDir = join(dir, 'reship');
    const events: UsageEvent[] = tenants.flatMap((t, i) => randomEvents(t, 300, i + 1, Date.now() - 10 * 86_400_000));
    let spool = await openSpool({ dir: spoolDir, fsyncIntervalMs: 2, segmentBytes: 32 * 1024, maxBytes: 1 << 30 });
    for (const e of events) spool.append(encodeEvent(e));
    // A copy of the whole unshipped spool, to ship everything a second time below.
    await spool.close();
    await cp(spoolDir, join(dir, 'reship-copy'), { recursive: true });
    spool = await openSpool({ dir: spoolDir, fsyncIntervalMs: 2, segmentBytes: 32 * 1024, maxBytes: 1 << 30 });
    let shipper = startShipper({ spool, store, batchSize: 250, lingerMs: 5, concurrency: 2 });
    await shipper.drain(30_000);
    expect(shipper.stats().inserted).toBe(900);
    await shipper.close();
    await spool.close();
    const once = await totals();
    expect(once.map((t) => t.events)).toEqual([300, 300, 300]);
    expect(once.map((t) => t.rollups)).toEqual([300, 300, 300]);

    // The crash between the store's commit and the checkpoint, at its worst: every batch ships a
    // second time (from the copy). Nothing counts twice.
    spool = await openSpool({ dir: join(dir, 'reship-copy'), fsyncIntervalMs: 2, segmentBytes: 32 * 1024, maxBytes: 1 << 30 });
    shipper = startShipper({ spool, store, batchSize: 250, lingerMs: 5, concurrency: 2 });
    await shipper.drain(30_000);
    expect(shipper.stats()).toMatchObject({ shipped: 900, inserted: 0 });
    await shipper.close();
    await spool.close();
    expect(await totals()).toEqual(once);
  });

  it('retries the same batch while the store fails, and ships it once it answers', async () => {
    let failing = 3;
    const flaky: Store = {
      ...store,
      withTenant: (tenantId, fn) => (failing-- > 0 ? Promise.reject(new Error('connection refused')) : store.withTenant(tenantId, fn)),
    };
    const before = await totals();
    const spool = await openSpool({ dir: join(dir, 'flaky'), fsyncIntervalMs: 2, segmentBytes: 1 << 20, maxBytes: 1 << 30 });
    for (const e of randomEvents(tenants[1] as string, 50, 99, Date.now() - 86_400_000)) spool.append(encodeEvent(e));
    const shipper = startShipper({ spool, store: flaky, batchSize: 1000, lingerMs: 5, concurrency: 1, minBackoffMs: 10, maxBackoffMs: 40 });
    await shipper.drain(30_000);
    // drain() returns once the spool is empty (the batch committed); the shipper's loop marks
    // itself up after that, past the batch's linger, so on a busy machine a moment later.
    await expect.poll(() => shipper.stats().state, { timeout: 5_000 }).toBe('up');
    expect(shipper.stats()).toMatchObject({ failures: 3, state: 'up', inserted: 50 });
    await shipper.close();
    await spool.close();
    const after = await totals();
    expect(after[1]?.events).toBe((before[1]?.events ?? 0) + 50);
  });

  it('gathers a trickle of events for the linger instead of shipping a batch per event; drain cuts the linger short', async () => {
    const spool = await openSpool({ dir: join(dir, 'trickle'), fsyncIntervalMs: 2, segmentBytes: 1 << 20, maxBytes: 1 << 30 });
    const shipper = startShipper({ spool, store, batchSize: 1000, lingerMs: 10_000, concurrency: 1 });
    const events = randomEvents(tenants[2] as string, 20, 7, Date.now() - 86_400_000);
    // 20 events, one every 10 ms: all within one linger, so one batch.
    for (const e of events) {
      spool.append(encodeEvent(e));
      await new Promise((r) => setTimeout(r, 10));
    }
    const started = Date.now();
    await shipper.drain(30_000);
    expect(Date.now() - started).toBeLessThan(5_000); // drain did not wait the 10 s linger out
    expect(shipper.stats()).toMatchObject({ shipped: 20, batches: 1 });
    await shipper.close();
    await spool.close();
  });

  it('under steady traffic ships at most one partial batch per linger, not one per ship cycle; a backlog still all ships', async () => {
    const spool = await openSpool({ dir: join(dir, 'steady'), fsyncIntervalMs: 2, segmentBytes: 1 << 20, maxBytes: 1 << 30 });
    const lingerMs = 250;
    const shipper = startShipper({ spool, store, batchSize: 400, lingerMs, concurrency: 1 });
    const events = randomEvents(tenants[1] as string, 1500, 11, Date.now() - 2 * 86_400_000);
    const started = Date.now();
    // ~1.2 s of traffic: 10 events every 8 ms.
    for (let i = 0; i < 1000; i += 10) {
      for (const e of events.slice(i, i + 10)) spool.append(encodeEvent(e));
      await new Promise((r) => setTimeout(r, 8));
    }
    const steadyMs = Date.now() - started;
    const steadyBatches = shipper.stats().batches;
    // One batch per linger (plus the one the first event opens); shipping each cycle's arrivals made dozens.
    expect(steadyBatches).toBeLessThanOrEqual(Math.ceil(steadyMs / lingerMs) + 2);
    // A backlog larger than a batch: all of it ships, once.
    const burst = events.slice(1000);
    for (const e of burst) spool.append(encodeEvent(e));
    await shipper.drain(30_000);
    expect(shipper.stats().shipped).toBe(1500);
    expect(shipper.stats().inserted).toBe(1500);
    await shipper.close();
    await spool.close();
  });

  it('maintenance deletes raw events past a tenant\'s usageRetentionDays (others keep the default), rollups stay', async () => {
    const before = await totals();
    const r = await runUsageMaintenance(store, { defaultDays: 90, maxDays: 400, monthsAhead: 1, intervalMs: 0 });
    const after = await totals();
    expect(r.eventsDeleted).toBeGreaterThan(0);
    // Tenant 0 keeps 3 days: its events from ~10 days ago are gone, its rollups are not.
    expect(after[0]?.events).toBeLessThan(before[0]?.events ?? 0);
    expect(after[0]?.rollups).toBe(before[0]?.rollups);
    expect(after.slice(1)).toEqual(before.slice(1));
  });
});
