/**
 * Records the store cannot take must not hold up the ones behind them, on both stores: an event
 * the database refuses for what it holds (text with a NUL or a lone surrogate, written by a bug
 * or an older build) and a record that does not decode are set aside in rejected.ndjson, byte for
 * byte, and every other event of the batch (its tenant's included) is stored exactly once, also
 * when the batch is shipped again.
 */
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeEvent } from '../../../src/metering/event.js';
import { openRejects } from '../../../src/metering/rejects.js';
import { startShipper } from '../../../src/metering/shipper.js';
import { openSpool, type Spool } from '../../../src/metering/spool.js';
import { tenantsRepo, type Store } from '../../../src/store/index.js';
import { bothStores } from '../../helpers/stores.js';
import { randomEvents, usageTotals } from './events.js';

interface RejectLine {
  tenant: string | null;
  sqlState: string | null;
  reason: string;
  record: string;
}

const factories = await bothStores();

for (const f of factories) {
  describe.skipIf(f.skip)(`usage records set aside [${f.label}]`, () => {
    let store: Store;
    let close: () => Promise<void>;
    let dir: string;
    const tenants = [randomUUID(), randomUUID()];
    const window = { from: new Date(Date.now() - 30 * 86_400_000), to: new Date(Date.now() + 5 * 86_400_000) };

    beforeAll(async () => {
      ({ store, close } = await f.open());
      dir = await mkdtemp(join(tmpdir(), 'gatehouse-set-aside-'));
      for (const [i, t] of tenants.entries()) {
        await store.withTenant(t, (tx) => tenantsRepo.insert(tx, { slug: `sa${i}-${t.slice(0, 6)}`, name: 'S', timeZone: 'UTC', settings: {} }));
      }
    }, 60_000);
    afterAll(async () => {
      await close?.();
      await rm(dir, { recursive: true, force: true });
    });

    const totals = () => usageTotals(store, tenants, window, 'hour');

    const ship = async (spool: Spool, rejectsFile: string) => {
      const shipper = startShipper({ spool, store, batchSize: 500, lingerMs: 5, concurrency: 2, rejects: openRejects(rejectsFile, 1 << 20) });
      await shipper.drain(30_000);
      const stats = shipper.stats();
      await shipper.close();
      await spool.close();
      return stats;
    };

    it('sets aside what the database refuses and what does not decode; the rest of the batch is stored once', async () => {
      const spoolDir = join(dir, 'spool');
      const good = tenants.flatMap((t, i) => randomEvents(t, 120, i + 7, Date.now() - 86_400_000));
      const [first, second] = tenants as [string, string];
      const nul = encodeEvent({ ...randomEvents(first, 1, 99, Date.now())[0]!, endUser: 'a\u0000b' });
      const surrogate = encodeEvent({ ...randomEvents(second, 1, 98, Date.now())[0]!, model: 'gpt-\ud800' });
      const garbage = Buffer.from('[2,"not an event"]');
      const records = good.map(encodeEvent);
      // Mixed into the middle of both tenants' runs: the bad ones must be found among good ones.
      records.splice(50, 0, nul);
      records.splice(200, 0, surrogate, garbage);

      let spool = await openSpool({ dir: spoolDir, fsyncIntervalMs: 2, segmentBytes: 1 << 20, maxBytes: 1 << 30 });
      for (const r of records) spool.append(r);
      await spool.close();
      await cp(spoolDir, join(dir, 'copy'), { recursive: true });

      spool = await openSpool({ dir: spoolDir, fsyncIntervalMs: 2, segmentBytes: 1 << 20, maxBytes: 1 << 30 });
      const rejectsFile = join(dir, 'rejected.ndjson');
      const stats = await ship(spool, rejectsFile);
      expect(stats).toMatchObject({ shipped: records.length, inserted: 240, rejected: 2, malformed: 1, failures: 0, state: 'up' });
      expect(await totals()).toEqual([
        { events: 120, rollups: 120 },
        { events: 120, rollups: 120 },
      ]);

      const lines = (await readFile(rejectsFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as RejectLine);
      expect(lines).toHaveLength(3);
      const byRecord = new Map(lines.map((l) => [l.record, l]));
      const nulLine = byRecord.get(nul.toString('base64'));
      const surrogateLine = byRecord.get(surrogate.toString('base64'));
      expect(nulLine).toMatchObject({ tenant: first });
      expect(nulLine?.sqlState).toMatch(/^22/);
      expect(surrogateLine).toMatchObject({ tenant: second });
      expect(surrogateLine?.sqlState).toMatch(/^22/);
      expect(byRecord.get(garbage.toString('base64'))).toMatchObject({ tenant: null, sqlState: null, reason: 'malformed' });

      // The same batch again (a crash before the checkpoint): nothing counts twice, the same set aside.
      const again = await ship(await openSpool({ dir: join(dir, 'copy'), fsyncIntervalMs: 2, segmentBytes: 1 << 20, maxBytes: 1 << 30 }), rejectsFile);
      expect(again).toMatchObject({ inserted: 0, rejected: 2, malformed: 1, failures: 0 });
      expect(await totals()).toEqual([
        { events: 120, rollups: 120 },
        { events: 120, rollups: 120 },
      ]);
    }, 60_000);

    it('a store that is down is no reason to set anything aside: the batch waits', async () => {
      const spoolDir = join(dir, 'down');
      const spool = await openSpool({ dir: spoolDir, fsyncIntervalMs: 2, segmentBytes: 1 << 20, maxBytes: 1 << 30 });
      for (const e of randomEvents(tenants[0] as string, 10, 5, Date.now())) spool.append(encodeEvent(e));
      let failing = 2;
      const flaky: Store = {
        ...store,
        withTenant: (t, fn) => (failing-- > 0 ? Promise.reject(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' })) : store.withTenant(t, fn)),
      };
      const rejectsFile = join(dir, 'down.ndjson');
      const shipper = startShipper({ spool, store: flaky, batchSize: 50, lingerMs: 5, concurrency: 1, minBackoffMs: 5, rejects: openRejects(rejectsFile, 1 << 20) });
      await shipper.drain(30_000);
      expect(shipper.stats()).toMatchObject({ inserted: 10, rejected: 0, malformed: 0, failures: 2 });
      await shipper.close();
      await spool.close();
      await expect(readFile(rejectsFile)).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });
}
