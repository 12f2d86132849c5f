/**
 * Webhook delivery through the durable outbox, on PGlite and PostgreSQL, against a real local
 * receiver that checks the HMAC signature: retries with backoff until accepted (delivered once),
 * idempotent raising, two workers on one database deliver a crossing once, deliveries survive a
 * restart (PostgreSQL), attempts run out into `failed`, and both ends are audited.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryAudit } from '../../../src/audit/index.js';
import { raiseAlert } from '../../../src/billing/alerts/raise.js';
import { createDeliveryWorker } from '../../../src/billing/alerts/worker.js';
import { compileOutboundPolicy, outboundGuard } from '../../../src/routing/ssrf.js';
import { tenantSealer } from '../../../src/crypto/envelope.js';
import { processKeyring } from '../../../src/crypto/process-keyring.js';
import { alertsRepo, openStore, tenantsRepo, webhooksRepo, type Store } from '../../../src/store/index.js';
import { createPostgresTestDatabase, openPgliteTestStore } from '../../../src/store/testing.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';
import { startReceiver, type Receiver } from './receiver.js';

const pgAvailable = await postgresAvailable();
const sealer = tenantSealer(processKeyring(Buffer.alloc(32, 7), []));
const SECRET = 'whsec-test-0123456789abcdef';
const FAST = { baseMs: 20, maxMs: 80, maxAttempts: 8 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function drain(store: Store, until: () => boolean, backoff = FAST, rounds = 200): Promise<void> {
  const worker = createDeliveryWorker({ store, sealer, backoff, intervalMs: 10, timeoutMs: 2000 });
  for (let i = 0; i < rounds && !until(); i++) {
    await worker.runOnce();
    await sleep(15);
  }
}

async function seedTenant(store: Store, url: string, events = ['budget.*']): Promise<{ tenant: string; webhook: string }> {
  const tenant = randomUUID();
  await store.withTenant(tenant, (tx) => tenantsRepo.insert(tx, { slug: `t-${tenant.slice(0, 8)}`, name: 'T' }));
  const w = await store.withTenant(tenant, (tx) => webhooksRepo.create(tx, sealer, { url, events, secret: SECRET }));
  return { tenant, webhook: w.id };
}

async function auditActions(store: Store, tenant: string): Promise<string[]> {
  const page = await store.withTenant(tenant, (tx) =>
    queryAudit(tx, { from: null, to: null, action: null, actor: null, limit: 100, cursor: null, order: 'asc' }, { actor: { kind: 'system', id: 'test' } }),
  );
  if (!page.ok) throw new Error(page.message);
  return page.entries.map((e) => e.action);
}

const flavours = [
  { label: 'PGlite', skip: false, open: async () => ({ store: await openPgliteTestStore(), reopen: undefined as undefined | (() => Promise<Store>), close: async (s: Store) => s.close() }) },
  {
    label: 'PostgreSQL',
    skip: !pgAvailable,
    open: async () => {
      const db = await createPostgresTestDatabase(POSTGRES_URL);
      const store = await openStore({ databaseUrl: db.url, poolSize: 4 });
      await store.migrate();
      return { store, reopen: async () => openStore({ databaseUrl: db.url, poolSize: 4 }), close: async (s: Store) => db.drop(s) };
    },
  },
];

for (const f of flavours) {
  describe.skipIf(f.skip)(`webhook delivery [${f.label}]`, () => {
    let store: Store;
    let reopen: (() => Promise<Store>) | undefined;
    let close: (s: Store) => Promise<void>;
    let rx: Receiver;

    beforeAll(async () => {
      ({ store, reopen, close } = await f.open());
      rx = await startReceiver(SECRET);
    });
    afterAll(async () => {
      await rx?.close();
      if (store !== undefined) await close(store);
    });

    it('retries a failing receiver with backoff and delivers once, signed; raising is idempotent', async () => {
      const { tenant } = await seedTenant(store, rx.url);
      rx.plan = [500, 503];
      const raised = await store.withTenant(tenant, (tx) => raiseAlert(tx, 'budget.threshold', 'rule:a:2026-12:80', { threshold_percent: 80 }));
      expect(raised).not.toBeNull();
      const again = await store.withTenant(tenant, (tx) => raiseAlert(tx, 'budget.threshold', 'rule:a:2026-12:80', { threshold_percent: 80 }));
      expect(again).toBeNull();
      const id = raised?.id ?? '';
      await drain(store, () => rx.received.some((r) => r.eventId === id && r.status === 200));
      const mine = rx.received.filter((r) => r.eventId === id);
      expect(mine.map((r) => r.status)).toEqual([500, 503, 200]);
      expect(mine.every((r) => r.signatureOk)).toBe(true);
      expect(mine[2]?.body).toMatchObject({ id, type: 'budget.threshold', tenant_id: tenant, data: { threshold_percent: 80 } });
      const [d] = await store.withTenant(tenant, (tx) => alertsRepo.deliveries(tx, id));
      expect(d).toMatchObject({ state: 'delivered', attempts: 3, lastStatus: 200 });
      // Nothing is due any more: further rounds send nothing.
      await drain(store, () => false, FAST, 10);
      expect(rx.received.filter((r) => r.eventId === id)).toHaveLength(3);
      const actions = await auditActions(store, tenant);
      expect(actions.filter((a) => a === 'alert.raised')).toHaveLength(1);
      expect(actions.filter((a) => a === 'alert.delivered')).toHaveLength(1);
    });

    it("a tenant whose receiver stalls until the timeout does not hold up another tenant's delivery", async () => {
      const slow = await seedTenant(store, 'https://stalls.example.com/hook');
      const quick = await seedTenant(store, 'https://answers.example.com/hook');
      await drain(store, () => false, FAST, 3); // what earlier tests left due is out of the way
      for (const { tenant } of [slow, quick]) {
        await store.withTenant(tenant, (tx) => raiseAlert(tx, 'budget.threshold', `rule:lanes:${tenant}`, { threshold_percent: 80 }));
      }
      let inFlight = 0;
      let most = 0;
      const worker = createDeliveryWorker({
        store,
        sealer,
        backoff: FAST,
        intervalMs: 10,
        timeoutMs: 2000,
        send: async (url) => {
          most = Math.max(most, ++inFlight);
          await sleep(url.includes('stalls') ? 1500 : 50);
          inFlight--;
          return { ok: true, status: 200, error: null };
        },
      });
      const started = Date.now();
      await worker.runOnce();
      // Both tenants' deliveries were under way at once (one after the other, the quick one
      // could wait out the stalled one's timeout), and the round took one stall, not two.
      expect(most).toBe(2);
      expect(Date.now() - started).toBeLessThan(2900);
    });

    it('queues only to enabled webhooks subscribed to the kind', async () => {
      const { tenant } = await seedTenant(store, rx.url, ['usage.anomaly']);
      const a = await store.withTenant(tenant, (tx) => raiseAlert(tx, 'budget.threshold', 'k1', {}));
      const b = await store.withTenant(tenant, (tx) => raiseAlert(tx, 'usage.anomaly', 'k2', {}));
      expect(await store.withTenant(tenant, (tx) => alertsRepo.deliveries(tx, a?.id ?? ''))).toHaveLength(0);
      expect(await store.withTenant(tenant, (tx) => alertsRepo.deliveries(tx, b?.id ?? ''))).toHaveLength(1);
    });

    it('deleting a webhook removes its deliveries (the tenant role cannot delete an open alert itself)', async () => {
      const { tenant, webhook } = await seedTenant(store, rx.url);
      const raised = await store.withTenant(tenant, (tx) => raiseAlert(tx, 'budget.threshold', 'deleted-hook', {}));
      expect(await store.withTenant(tenant, (tx) => alertsRepo.deliveries(tx, raised?.id ?? ''))).toHaveLength(1);
      expect(await store.withTenant(tenant, (tx) => webhooksRepo.remove(tx, webhook))).toBe(true);
      expect(await store.withTenant(tenant, (tx) => alertsRepo.deliveries(tx, raised?.id ?? ''))).toHaveLength(0);
      // Retention may delete resolved alerts only (migration 0019's restrictive policy): nothing here.
      expect((await store.withTenant(tenant, (tx) => tx.query('DELETE FROM alerts WHERE tenant_id = $1', [tenant]))).rowCount).toBe(0);
      expect(await store.withTenant(tenant, (tx) => alertsRepo.get(tx, raised?.id ?? ''))).not.toBeNull();
    });

    it('the outbound SSRF guard refuses a loopback webhook URL: nothing is sent, the attempt is recorded', async () => {
      const { tenant } = await seedTenant(store, rx.url);
      const raised = await store.withTenant(tenant, (tx) => raiseAlert(tx, 'budget.threshold', 'ssrf', {}));
      const id = raised?.id ?? '';
      const guard = outboundGuard(compileOutboundPolicy());
      const worker = createDeliveryWorker({ store, sealer, backoff: { baseMs: 10, maxMs: 10, maxAttempts: 2 }, intervalMs: 10, timeoutMs: 2000, guard });
      for (let i = 0; i < 10; i++) {
        await worker.runOnce();
        await sleep(15);
      }
      expect(rx.received.filter((r) => r.eventId === id)).toHaveLength(0);
      const [d] = await store.withTenant(tenant, (tx) => alertsRepo.deliveries(tx, id));
      expect(d).toMatchObject({ state: 'failed', attempts: 2, lastStatus: null });
      expect(d?.lastError).toMatch(/outbound policy/);
      // Allowed by the operator: delivered.
      const allowed = outboundGuard(compileOutboundPolicy({ allowPrivate: false, allowHosts: ['127.0.0.1'], allowCidrs: [] }));
      const again = await store.withTenant(tenant, (tx) => raiseAlert(tx, 'budget.threshold', 'ssrf-allowed', {}));
      const w2 = createDeliveryWorker({ store, sealer, backoff: FAST, intervalMs: 10, timeoutMs: 2000, guard: allowed });
      await w2.runOnce();
      expect(rx.received.filter((r) => r.eventId === again?.id).map((r) => r.status)).toEqual([200]);
    });

    it('two workers on one database deliver a crossing once', async () => {
      const { tenant } = await seedTenant(store, rx.url);
      const raised = await store.withTenant(tenant, (tx) => raiseAlert(tx, 'budget.threshold', 'two-workers', {}));
      const id = raised?.id ?? '';
      const w1 = createDeliveryWorker({ store, sealer, backoff: FAST, intervalMs: 10, timeoutMs: 2000 });
      const w2 = createDeliveryWorker({ store, sealer, backoff: FAST, intervalMs: 10, timeoutMs: 2000 });
      for (let i = 0; i < 5; i++) await Promise.all([w1.runOnce(), w2.runOnce(), w1.runOnce(), w2.runOnce()]);
      expect(rx.received.filter((r) => r.eventId === id)).toHaveLength(1);
    });

    it('gives up after the last attempt: failed, audited', async () => {
      const { tenant } = await seedTenant(store, rx.url);
      rx.plan = [500, 500, 500];
      const raised = await store.withTenant(tenant, (tx) => raiseAlert(tx, 'budget.threshold', 'gives-up', {}));
      const id = raised?.id ?? '';
      const backoff = { baseMs: 10, maxMs: 20, maxAttempts: 3 };
      await drain(store, () => rx.received.filter((r) => r.eventId === id).length >= 3, backoff);
      await drain(store, () => false, backoff, 10);
      expect(rx.received.filter((r) => r.eventId === id)).toHaveLength(3);
      const [d] = await store.withTenant(tenant, (tx) => alertsRepo.deliveries(tx, id));
      expect(d).toMatchObject({ state: 'failed', attempts: 3, lastStatus: 500 });
      expect(await auditActions(store, tenant)).toContain('alert.delivery_failed');
    });

    it.skipIf(f.label !== 'PostgreSQL')('a queued delivery survives a restart', async () => {
      const { tenant } = await seedTenant(store, rx.url);
      rx.plan = [];
      const raised = await store.withTenant(tenant, (tx) => raiseAlert(tx, 'budget.threshold', 'restart', {}));
      const id = raised?.id ?? '';
      await store.close();
      store = await (reopen as () => Promise<Store>)();
      await drain(store, () => rx.received.some((r) => r.eventId === id));
      expect(rx.received.filter((r) => r.eventId === id).map((r) => r.status)).toEqual([200]);
    });
  });
}
