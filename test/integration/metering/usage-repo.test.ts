/**
 * The usage repository on both stores: idempotent ingest, exactly-once rollups equal to the sum
 * of the raw events (property-style over random events), day buckets in the tenant's zone,
 * partitions under row-level security, and tenant isolation.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUniqueViolation, tenantsRepo } from '../../../src/store/index.js';
import type { Store } from '../../../src/store/index.js';
import { usageRepo } from '../../../src/store/repos/usage.js';
import type { UsageEventRecord, UsageRollupRow } from '../../../src/store/repos/usage.js';
import { auditTenantIsolation } from '../store/isolation-audit.js';
import { randomEvents } from './events.js';
import { bothStores } from '../../helpers/stores.js';

function zoneDayStart(ms: number, timeZone: string): string {
  // The calendar date of the instant in the zone: what a day bucket groups by.
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms));
}

function statusClass(e: UsageEventRecord): string {
  if (e.clientAborted) return 'aborted';
  if (e.status >= 500 || e.status < 100) return 'server_error';
  if (e.status >= 400) return 'client_error';
  return 'ok';
}

function sum(rows: readonly UsageRollupRow[], f: (r: UsageRollupRow) => number): number {
  return rows.reduce((a, r) => a + f(r), 0);
}

const factories = await bothStores();

for (const f of factories) {
  describe.skipIf(f.skip)(`usage repository [${f.label}]`, () => {
    let store: Store;
    let close: () => Promise<void>;
    const tenant = randomUUID();
    const other = randomUUID();
    const zone = 'America/New_York';
    const base = Date.UTC(2026, 11, 1, 0, 0, 0);
    const window = { from: new Date(base - 2 * 86_400_000), to: new Date(base + 5 * 86_400_000) };

    beforeAll(async () => {
      ({ store, close } = await f.open());
      await store.withTenant(tenant, (tx) => tenantsRepo.insert(tx, { slug: `t-${tenant.slice(0, 8)}`, name: 'T', timeZone: zone }));
      await store.withTenant(other, (tx) => tenantsRepo.insert(tx, { slug: `o-${other.slice(0, 8)}`, name: 'O' }));
    });
    afterAll(async () => close?.());

    it('every table, partitions included, passes the isolation audit', async () => {
      const parts = await store.admin(async (tx) => {
        await tx.query('SELECT gatehouse_usage_ensure_partition($1::date)', ['2026-12-01']);
        return (
          await tx.query<{ relname: string }>(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'usage_events'::regclass",
          )
        ).rows.map((r) => r.relname);
      });
      expect(parts).toEqual(expect.arrayContaining(['usage_events_default', 'usage_events_2026_12']));
      expect(await store.admin((tx) => auditTenantIsolation(tx))).toEqual([]);
    });

    it('rollups equal the sums of the raw events; re-shipping a batch changes nothing', async () => {
      const events = randomEvents(tenant, 400, 42, base - 86_400_000);
      const batches = [events.slice(0, 150), events.slice(150, 300), events.slice(300)];
      let inserted = 0;
      for (const b of batches) inserted += await store.withTenant(tenant, (tx) => usageRepo.ingest(tx, b));
      expect(inserted).toBe(400);
      const read = () =>
        store.withTenant(tenant, async (tx) => ({
          hours: await usageRepo.rollups(tx, { granularity: 'hour', ...window }),
          days: await usageRepo.rollups(tx, { granularity: 'day', ...window }),
          tags: await usageRepo.tagRollups(tx, { granularity: 'day', ...window }),
          count: await usageRepo.countEvents(tx, window.from, window.to),
        }));
      const before = await read();
      // Re-ship: a batch overlapping two earlier ones, and one duplicate inside itself.
      const again = [...events.slice(100, 200), events[0] as UsageEventRecord, events[0] as UsageEventRecord];
      expect(await store.withTenant(tenant, (tx) => usageRepo.ingest(tx, again))).toBe(0);
      expect(await read()).toEqual(before);

      expect(before.count).toBe(400);
      for (const rows of [before.hours, before.days]) {
        expect(sum(rows, (r) => r.requests)).toBe(400);
        expect(sum(rows, (r) => r.inputTokens)).toBe(events.reduce((a, e) => a + e.inputTokens, 0));
        expect(sum(rows, (r) => r.outputTokens)).toBe(events.reduce((a, e) => a + e.outputTokens, 0));
        expect(sum(rows, (r) => r.costMicros)).toBe(events.reduce((a, e) => a + e.costMicros, 0));
        expect(sum(rows, (r) => r.latencyMsSum)).toBe(events.reduce((a, e) => a + e.latencyMs, 0));
        expect(sum(rows, (r) => r.ttftCount)).toBe(events.filter((e) => e.ttftMs !== null).length);
        expect(sum(rows, (r) => r.cacheHits)).toBe(events.filter((e) => e.cacheHit).length);
      }
      // Group by group: each day row (tenant zone) and hour row (UTC) equals its events.
      const key = (day: string, e: { teamId: string | null; keyId: string | null; model: string; deploymentId: string | null; region: string | null }, sc: string) =>
        [day, e.teamId, e.keyId, e.model, e.deploymentId, e.region, sc].join('|');
      const expectDays = new Map<string, { requests: number; cost: number }>();
      const expectHours = new Map<string, { requests: number; cost: number }>();
      for (const e of events) {
        for (const [m, k] of [
          [expectDays, key(zoneDayStart(e.occurredAt, zone), e, statusClass(e))],
          [expectHours, key(new Date(Math.floor(e.occurredAt / 3_600_000) * 3_600_000).toISOString(), e, statusClass(e))],
        ] as const) {
          const g = m.get(k) ?? { requests: 0, cost: 0 };
          g.requests += 1;
          g.cost += e.costMicros;
          m.set(k, g);
        }
      }
      const gotDays = new Map(before.days.map((r) => [key(zoneDayStart(r.bucketStart.getTime(), zone), r, r.statusClass), { requests: r.requests, cost: r.costMicros }]));
      const gotHours = new Map(before.hours.map((r) => [key(r.bucketStart.toISOString(), r, r.statusClass), { requests: r.requests, cost: r.costMicros }]));
      expect(gotDays).toEqual(expectDays);
      expect(gotHours).toEqual(expectHours);
      // Day buckets start at local midnight (New York: 05:00 UTC in December).
      for (const r of before.days) expect(r.bucketStart.getUTCHours()).toBe(5);
      // Tags: each event counts once per distinct tag.
      expect(before.tags.filter((t) => t.tag === 'a').reduce((a, t) => a + t.requests, 0)).toBe(events.filter((e) => e.tags.includes('a')).length);
      expect(before.tags.filter((t) => t.tag === 'b:c').reduce((a, t) => a + t.costMicros, 0)).toBe(
        events.filter((e) => e.tags.includes('b:c')).reduce((a, e) => a + e.costMicros, 0),
      );
    });

    it('a batch partly stored already rolls up only its new events, each once', async () => {
      const t = randomUUID();
      await store.withTenant(t, (tx) => tenantsRepo.insert(tx, { slug: `p-${t.slice(0, 8)}`, name: 'P', timeZone: zone }));
      const events = randomEvents(t, 300, 7, base);
      expect(await store.withTenant(t, (tx) => usageRepo.ingest(tx, events.slice(0, 200)))).toBe(200);
      // 50 stored, 100 new, one new event twice, one stored event twice.
      const mixed = [...events.slice(150, 300), events[250] as UsageEventRecord, events[160] as UsageEventRecord];
      expect(await store.withTenant(t, (tx) => usageRepo.ingest(tx, mixed))).toBe(100);
      const days = await store.withTenant(t, (tx) => usageRepo.rollups(tx, { granularity: 'day', ...window }));
      const hours = await store.withTenant(t, (tx) => usageRepo.rollups(tx, { granularity: 'hour', ...window }));
      for (const rows of [days, hours]) {
        expect(sum(rows, (r) => r.requests)).toBe(300);
        expect(sum(rows, (r) => r.costMicros)).toBe(events.reduce((a, e) => a + e.costMicros, 0));
        expect(sum(rows, (r) => r.ttftMsSum)).toBe(events.reduce((a, e) => a + (e.ttftMs ?? 0), 0));
      }
    });

    it('ingestNew stores a new batch like ingest; one stored event fails the whole batch on the unique key, storing nothing', async () => {
      const t = randomUUID();
      await store.withTenant(t, (tx) => tenantsRepo.insert(tx, { slug: `n-${t.slice(0, 8)}`, name: 'N', timeZone: zone }));
      const events = randomEvents(t, 120, 5, base);
      expect(await store.withTenant(t, (tx) => usageRepo.ingestNew(tx, events.slice(0, 100)))).toBe(100);
      // 20 new and one already stored: a unique violation, and none of the 20 is kept.
      const err = await store.withTenant(t, (tx) => usageRepo.ingestNew(tx, [...events.slice(100), events[3] as UsageEventRecord])).catch((e: unknown) => e);
      expect(isUniqueViolation(err)).toBe(true);
      const counted = async () => sum(await store.withTenant(t, (tx) => usageRepo.rollups(tx, { granularity: 'day', ...window })), (r) => r.requests);
      expect(await counted()).toBe(100);
      // The shipper's fallback: the same batch idempotently.
      expect(await store.withTenant(t, (tx) => usageRepo.ingest(tx, [...events.slice(100), events[3] as UsageEventRecord]))).toBe(20);
      expect(await counted()).toBe(120);
    });

    it('day buckets follow a zone offset of 5:45 to the minute', async () => {
      const t = randomUUID();
      await store.withTenant(t, (tx) => tenantsRepo.insert(tx, { slug: `k-${t.slice(0, 8)}`, name: 'K', timeZone: 'Asia/Kathmandu' }));
      // Local midnight of 2 December in Kathmandu is 18:15 UTC on 1 December.
      const midnight = Date.UTC(2026, 11, 1, 18, 15, 0);
      const [a, b] = randomEvents(t, 2, 3, base).map((e, i) => ({ ...e, occurredAt: midnight + (i === 0 ? -1 : 0), costMicros: i + 1 }));
      await store.withTenant(t, (tx) => usageRepo.ingest(tx, [a as UsageEventRecord, b as UsageEventRecord]));
      const days = await store.withTenant(t, (tx) => usageRepo.rollups(tx, { granularity: 'day', ...window }));
      const byDay = new Map<string, number>();
      for (const r of days) byDay.set(r.bucketStart.toISOString(), (byDay.get(r.bucketStart.toISOString()) ?? 0) + r.costMicros);
      expect(byDay).toEqual(new Map([[new Date(midnight - 86_400_000).toISOString(), 1], [new Date(midnight).toISOString(), 2]]));
    });

    it('a tenant sees only its own usage and cannot write another tenant\'s', async () => {
      await store.withTenant(other, (tx) => usageRepo.ingest(tx, randomEvents(other, 5, 7, base)));
      expect(await store.withTenant(other, (tx) => usageRepo.countEvents(tx, window.from, window.to))).toBe(5);
      const foreign = randomEvents(tenant, 1, 8, base);
      await expect(store.withTenant(other, (tx) => usageRepo.ingest(tx, foreign))).rejects.toThrow(/another tenant/);
    });

    it('the gateway role may not update or delete raw events', async () => {
      await expect(store.withTenant(tenant, (tx) => tx.query('DELETE FROM usage_events WHERE tenant_id = $1', [tenant]))).rejects.toThrow(
        /permission denied/,
      );
      await expect(store.withTenant(tenant, (tx) => tx.query('UPDATE usage_events SET cost_micros = 0 WHERE tenant_id = $1', [tenant]))).rejects.toThrow(
        /permission denied/,
      );
    });

    it('events far outside any partition go to the default partition and move out when their month is made', async () => {
      const far = Date.UTC(2031, 4, 10);
      await store.withTenant(tenant, (tx) => usageRepo.ingest(tx, randomEvents(tenant, 3, 9, far)));
      const made = await store.admin(async (tx) => (await tx.query<{ made: boolean }>('SELECT gatehouse_usage_ensure_partition($1::date) AS made', ['2031-05-01'])).rows[0]?.made);
      expect(made).toBe(true);
      const n = await store.withTenant(tenant, (tx) => usageRepo.countEvents(tx, new Date(Date.UTC(2031, 4, 1)), new Date(Date.UTC(2031, 5, 1))));
      expect(n).toBe(3);
      const dropped = await store.admin(async (tx) => (await tx.query<{ n: number }>('SELECT gatehouse_usage_drop_partitions($1) AS n', [new Date(Date.UTC(2031, 6, 1)).toISOString()])).rows[0]?.n);
      expect(dropped).toBeGreaterThanOrEqual(2);
      expect(await store.admin((tx) => auditTenantIsolation(tx))).toEqual([]);
    });
  });
}
