/**
 * The anomaly throttle's life cycle and alert retention, through the alert job's own functions
 * against seeded usage, on PGlite and PostgreSQL:
 * - a spike under the `throttle` action opens a throttle (in the limits the snapshot composes)
 *   and audits it; a normal hour resolves the alert and lifts it; `notify` never throttles and
 *   switching away from `throttle` lifts what is in force;
 * - a spend throttle sees through its own refusals (the refused demand keeps it open);
 * - retention deletes resolved alerts and finished deliveries past the (tenant's) retention,
 *   never an open alert or a pending delivery, also not by raw SQL as the gateway role.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryAudit } from '../../../src/audit/index.js';
import { evaluateTenant } from '../../../src/billing/alerts/job.js';
import { raiseAlert } from '../../../src/billing/alerts/raise.js';
import { tenantSealer } from '../../../src/crypto/envelope.js';
import { processKeyring } from '../../../src/crypto/process-keyring.js';
import {
  alertsRepo,
  anomalyThrottlesRepo,
  limitRulesRepo,
  tenantsRepo,
  usageRepo,
  webhooksRepo,
  type Store,
  type UsageEventRecord,
} from '../../../src/store/index.js';
import { bothStores } from '../../helpers/stores.js';

const sealer = tenantSealer(processKeyring(Buffer.alloc(32, 7), []));
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function event(tenantId: string, at: number, costMicros: number, status = 200): UsageEventRecord {
  return {
    tenantId, eventId: randomUUID(), requestId: randomUUID(), occurredAt: at, teamId: null, keyId: null, endUser: null, tags: [],
    model: 'gpt-4o-mini', deploymentId: null, provider: 'mock', region: null, inputTokens: 10, outputTokens: 10, cachedTokens: 0,
    costMicros, priceVersion: null, latencyMs: 5, ttftMs: null, status, streamed: false, clientAborted: false, usageEstimated: false, cacheHit: false,
  };
}

/** 48 quiet hours (10-12 requests) ending with `last` requests in the hour that ends at `hourEnd`. */
function history(tenant: string, hourEnd: number, last: number, cost = 1000): UsageEventRecord[] {
  const out: UsageEventRecord[] = [];
  for (let h = 48; h >= 1; h--) {
    const n = h === 1 ? last : 10 + (h % 3);
    const start = hourEnd - h * HOUR;
    for (let i = 0; i < n; i++) out.push(event(tenant, start + i * 1000, cost));
  }
  return out;
}

async function auditActions(store: Store, tenant: string): Promise<string[]> {
  const page = await store.withTenant(tenant, (tx) =>
    queryAudit(tx, { from: null, to: null, action: null, actor: null, limit: 200, cursor: null, order: 'asc' }, { actor: { kind: 'system', id: 'test' } }),
  );
  if (!page.ok) throw new Error(page.message);
  return page.entries.map((e) => e.action);
}

const flavours = await bothStores();

for (const f of flavours) {
  describe.skipIf(f.skip)(`anomaly throttles and alert retention [${f.label}]`, () => {
    let store: Store;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ store, close } = await f.open());
    });
    afterAll(async () => close?.());

    async function tenant(settings: Record<string, unknown> = {}): Promise<string> {
      const id = randomUUID();
      await store.withTenant(id, (tx) => tenantsRepo.insert(tx, { slug: `t-${id.slice(0, 8)}`, name: 'T', timeZone: 'UTC' }));
      await store.withTenant(id, (tx) => alertsRepo.setSettings(tx, settings));
      return id;
    }

    const evaluate = (t: string, at: number) => store.withTenant(t, (tx) => evaluateTenant(tx, { id: t }, at));
    const throttles = (t: string) => store.withTenant(t, (tx) => anomalyThrottlesRepo.list(tx));

    it('throttle: a spike opens a throttle in the tenant’s limit source; a normal hour resolves the alert and lifts it', async () => {
      const t = await tenant({ anomalyAction: 'throttle', anomalyThrottleFraction: 0.5 });
      const hourEnd = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
      await store.withTenant(t, (tx) => usageRepo.ingest(tx, history(t, hourEnd, 400)));

      const first = await evaluate(t, hourEnd + 6 * 60_000);
      expect(first).toMatchObject({ raised: 1, throttlesOpened: 1 });
      const [alert] = await store.withTenant(t, (tx) => alertsRepo.list(tx, { limit: 10 }));
      // Expected ~11/h is below the 100/h floor: half of 100 an hour is ceil(50 / 60) = 1 a minute.
      expect(alert).toMatchObject({ kind: 'usage.anomaly', resolvedAt: null, payload: { action: 'throttle', throttle: { window: 'minute', limit: 1 } } });
      expect(await throttles(t)).toEqual([expect.objectContaining({ metric: 'requests', window: 'minute', limit: 1, alertId: alert?.id })]);
      // What the snapshot reads (the platform role sees every tenant's, a tenant only its own).
      const [source] = await store.withTenant(t, (tx) => limitRulesRepo.listSources(tx));
      expect(source?.throttles).toEqual([{ metric: 'requests', window: 'minute', limit: 1, alertId: alert?.id }]);
      const all = await store.platform((tx) => limitRulesRepo.listSources(tx));
      expect(all.find((s) => s.tenantId === t)?.throttles).toHaveLength(1);
      // Judging the same hour again (another replica) changes nothing.
      expect(await evaluate(t, hourEnd + 7 * 60_000)).toMatchObject({ raised: 0, throttlesOpened: 0, throttlesLifted: 0 });

      // The next hour is quiet: over.
      await store.withTenant(t, (tx) => usageRepo.ingest(tx, Array.from({ length: 11 }, (_, i) => event(t, hourEnd + i * 1000, 1000))));
      expect(await evaluate(t, hourEnd + HOUR + 6 * 60_000)).toMatchObject({ raised: 0, throttlesLifted: 1 });
      expect(await throttles(t)).toEqual([]);
      const [after] = await store.withTenant(t, (tx) => alertsRepo.list(tx, { limit: 10 }));
      expect(after).toMatchObject({ id: alert?.id, resolvedBy: 'system:pattern_normal' });
      expect(after?.resolvedAt).toBeInstanceOf(Date);
      const actions = await auditActions(store, t);
      expect(actions).toEqual(expect.arrayContaining(['alert.raised', 'anomaly.throttle_opened', 'anomaly.throttle_lifted']));
    });

    it('notify never throttles; switching a throttled tenant to off or notify lifts its throttle', async () => {
      const notify = await tenant();
      const hourEnd = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
      await store.withTenant(notify, (tx) => usageRepo.ingest(tx, history(notify, hourEnd, 400)));
      expect(await evaluate(notify, hourEnd + 6 * 60_000)).toMatchObject({ raised: 1, throttlesOpened: 0 });
      expect(await throttles(notify)).toEqual([]);

      const t = await tenant({ anomalyAction: 'throttle' });
      await store.withTenant(t, (tx) => usageRepo.ingest(tx, history(t, hourEnd, 400)));
      expect(await evaluate(t, hourEnd + 6 * 60_000)).toMatchObject({ throttlesOpened: 1 });
      await store.withTenant(t, (tx) => alertsRepo.setSettings(tx, { anomalyAction: 'off' }));
      expect(await evaluate(t, hourEnd + 8 * 60_000)).toMatchObject({ throttlesLifted: 1 });
      expect(await throttles(t)).toEqual([]);
    });

    it('a spend throttle stays while the refused demand is still far above the pattern', async () => {
      const t = await tenant({ anomalyAction: 'throttle' });
      const hourEnd = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR;
      // 10-12 requests at 0.01 an hour, then 400 of them: spend 4.0 against ~0.11 expected.
      await store.withTenant(t, (tx) => usageRepo.ingest(tx, history(t, hourEnd, 400, 10_000)));
      await evaluate(t, hourEnd + 6 * 60_000);
      expect((await throttles(t)).map((x) => x.metric).sort()).toEqual(['cost', 'requests']);
      // Throttled hour: 50 admitted (0.5), 350 refused. Spend alone looks normal-ish; the demand does not.
      const throttled = [...Array.from({ length: 50 }, (_, i) => event(t, hourEnd + i * 1000, 10_000)), ...Array.from({ length: 350 }, (_, i) => event(t, hourEnd + 60_000 + i * 100, 0, 429))];
      await store.withTenant(t, (tx) => usageRepo.ingest(tx, throttled));
      await evaluate(t, hourEnd + HOUR + 6 * 60_000);
      const kept = await throttles(t);
      expect(kept.map((x) => x.metric).sort()).toEqual(['cost', 'requests']);
      // Then a quiet hour: both lifted.
      await store.withTenant(t, (tx) => usageRepo.ingest(tx, Array.from({ length: 11 }, (_, i) => event(t, hourEnd + HOUR + i * 1000, 10_000))));
      expect(await evaluate(t, hourEnd + 2 * HOUR + 6 * 60_000)).toMatchObject({ throttlesLifted: 2 });
      const open = await store.withTenant(t, (tx) => alertsRepo.list(tx, { limit: 10, state: 'open' }));
      expect(open).toEqual([]);
    });

    it('retention deletes resolved alerts and finished deliveries past the retention, nothing still open or pending', async () => {
      const t = await tenant({ retentionDays: 2 });
      await store.withTenant(t, (tx) => webhooksRepo.create(tx, sealer, { url: 'https://hooks.example.com/x', events: ['budget.*', 'usage.*'], secret: 'whsec-0123456789abcdef' }));
      const raise = (key: string, kind: 'budget.threshold' | 'usage.anomaly' = 'usage.anomaly', payload: Record<string, unknown> = {}) =>
        store.withTenant(t, async (tx) => {
          const a = await raiseAlert(tx, kind, key, payload);
          if (a === null) throw new Error('raised before');
          return a;
        });
      const old = await raise('old-resolved-delivered');
      const oldPending = await raise('old-resolved-pending');
      const open = await raise('old-open');
      const fresh = await raise('fresh-resolved');
      const budget = await raise('budget-ended', 'budget.threshold', { window_resets_at: new Date(Date.now() - DAY).toISOString() });
      const budgetNow = await raise('budget-current', 'budget.threshold', { window_resets_at: new Date(Date.now() + DAY).toISOString() });
      await store.withTenant(t, async (tx) => {
        for (const a of [old, oldPending, fresh]) await alertsRepo.resolve(tx, a.id, 'test');
        // Age them: resolved and finished three days ago (the gateway role may write these columns).
        await tx.query(`UPDATE alerts SET resolved_at = now() - interval '3 days' WHERE id = ANY ($1::uuid[])`, [[old.id, oldPending.id]]);
        await tx.query(`UPDATE alert_deliveries SET state = 'delivered', updated_at = now() - interval '3 days' WHERE alert_id = $1`, [old.id]);
        await tx.query(`UPDATE alert_deliveries SET state = 'failed', updated_at = now() - interval '3 days' WHERE alert_id = $1`, [open.id]);
      });
      const before = await store.withTenant(t, (tx) => tx.query<{ id: string }>('SELECT id FROM alert_deliveries'));
      expect(before.rowCount).toBe(6); // one per alert to the one webhook
      const r = await store.withTenant(t, (tx) => evaluateTenant(tx, { id: t }, Date.now(), undefined, { anomalies: false, housekeeping: { defaultRetentionDays: 90 } }));
      // The ended budget window is resolved now (kept: resolved today); the old resolved alert and its delivery go,
      // the old open alert stays (its failed delivery goes), the one with a pending delivery stays.
      expect(r.housekeeping).toEqual({ resolved: 1, alertsDeleted: 1, deliveriesDeleted: 2 });
      const left = await store.withTenant(t, (tx) => alertsRepo.list(tx, { limit: 20 }));
      expect(left.map((a) => a.id).sort()).toEqual([oldPending.id, open.id, fresh.id, budget.id, budgetNow.id].sort());
      expect(left.find((a) => a.id === budget.id)?.resolvedBy).toBe('system:ended');
      expect(left.find((a) => a.id === budgetNow.id)?.resolvedAt).toBeNull();
      // The tenant's own retention applied (2 days): with the default of 90 nothing would have gone.
      const t2 = await tenant();
      const a2 = await store.withTenant(t2, (tx) => raiseAlert(tx, 'usage.anomaly', 'x', {}));
      await store.withTenant(t2, (tx) => tx.query(`UPDATE alerts SET resolved_at = now() - interval '3 days', resolved_by = 'test' WHERE id = $1`, [a2?.id]));
      const r2 = await store.withTenant(t2, (tx) => evaluateTenant(tx, { id: t2 }, Date.now(), undefined, { anomalies: false, housekeeping: { defaultRetentionDays: 90 } }));
      expect(r2.housekeeping?.alertsDeleted).toBe(0);
    });

    it('as the gateway role, open alerts and pending deliveries cannot be deleted (restrictive policies)', async () => {
      const t = await tenant();
      await store.withTenant(t, (tx) => webhooksRepo.create(tx, sealer, { url: 'https://hooks.example.com/y', events: ['usage.*'], secret: 'whsec-0123456789abcdef' }));
      const a = await store.withTenant(t, (tx) => raiseAlert(tx, 'usage.anomaly', 'open-one', {}));
      const deleted = await store.withTenant(t, async (tx) => ({
        deliveries: (await tx.query('DELETE FROM alert_deliveries')).rowCount,
        alerts: (await tx.query('DELETE FROM alerts')).rowCount,
      }));
      expect(deleted).toEqual({ deliveries: 0, alerts: 0 });
      const still = await store.withTenant(t, (tx) => alertsRepo.summary(tx, a?.id ?? ''));
      expect(still?.deliveries).toEqual({ pending: 1, delivered: 0, failed: 0 });
      // A test event is over once sent: raised resolved.
      const test = await store.withTenant(t, (tx) => raiseAlert(tx, 'webhook.test', `test:${randomUUID()}`, {}));
      expect(test?.resolvedBy).toBe('system:ended');
    });
  });
}
