/**
 * The asynchronous audit queue (src/audit/async-appender.ts) against a real store: entries land
 * in the right tenant's chain only when flushed, the chain verifies, throttling turns a flood
 * into one entry per window with the count, the queue is bounded, and a failed flush retries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditQueue, recordToEntry, verifyAuditChain, type AuditEntry, type AuditEvent } from '../../../src/audit/index.js';
import { auditRepo, type Store } from '../../../src/store/index.js';
import type { StoreFactory, StoreHandle } from '../store/factory.js';
import { newTenant } from './helpers.js';

const HOUR = 3_600_000;

function failedKey(n: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return {
    actor: { kind: 'api_key', id: `key-${n}` },
    action: 'api_key.auth_failed',
    target: { kind: 'api_key', id: `key-${n}` },
    outcome: 'failure',
    sourceIp: `192.0.2.${n}`,
    requestId: `req-${n}`,
    after: { reason: 'wrong_secret' },
    ...over,
  };
}

async function entries(store: Store, tenantId: string): Promise<AuditEntry[]> {
  const rows = await store.withTenant(tenantId, (tx) => auditRepo.readChain(tx, 0, Number.MAX_SAFE_INTEGER, 1000));
  return rows.map(recordToEntry);
}

export function queueContract(factory: StoreFactory): void {
  describe(`audit queue: batched, throttled, bounded [${factory.label}]`, () => {
    let h: StoreHandle;
    beforeAll(async () => {
      h = await factory.open();
    });
    afterAll(async () => h?.close());

    it('writes nothing until a flush, then each event to its own tenant chain, which verifies', async () => {
      const a = await newTenant(h.store, 'qa');
      const b = await newTenant(h.store, 'qb');
      const q = createAuditQueue(h.store, { intervalMs: HOUR });
      try {
        for (let i = 1; i <= 3; i++) expect(q.enqueue(a, failedKey(i))).toBe(true);
        expect(q.enqueue(b, failedKey(9))).toBe(true);
        expect(await entries(h.store, a)).toEqual([]);
        expect(q.stats().queued).toBe(4);
        await q.flush();
        const ea = await entries(h.store, a);
        expect(ea.map((e) => [e.seq, e.actor.id, e.sourceIp, e.requestId])).toEqual([
          [1, 'key-1', '192.0.2.1', 'req-1'],
          [2, 'key-2', '192.0.2.2', 'req-2'],
          [3, 'key-3', '192.0.2.3', 'req-3'],
        ]);
        expect((await entries(h.store, b)).map((e) => e.actor.id)).toEqual(['key-9']);
        expect(await verifyAuditChain(h.store, a)).toMatchObject({ ok: true, entries: 3 });
        expect(q.stats()).toMatchObject({ queued: 0, written: 4, dropped: 0 });
      } finally {
        await q.close();
      }
    });

    it('throttles per key: the first attempt at once, the rest counted into one entry per window', async () => {
      const t = await newTenant(h.store, 'qt');
      let now = 1_800_000_000_000;
      const q = createAuditQueue(h.store, { intervalMs: HOUR, throttleMs: 10_000, now: () => now });
      try {
        expect(q.enqueue(t, failedKey(1), 'key-1/wrong_secret')).toBe(true);
        for (let i = 0; i < 50; i++) {
          now += 100;
          expect(q.enqueue(t, failedKey(1, { requestId: `flood-${i}` }), 'key-1/wrong_secret')).toBe(false);
        }
        // Another key, or another reason, has its own window.
        expect(q.enqueue(t, failedKey(2), 'key-2/wrong_secret')).toBe(true);
        await q.flush();
        let es = await entries(h.store, t);
        expect(es.map((e) => [e.actor.id, (e.after as { attempts: number }).attempts])).toEqual([
          ['key-1', 1],
          ['key-2', 1],
        ]);
        expect(q.stats().suppressed).toBe(50);

        now += 10_000; // both windows over: key-1 counted 50 attempts, key-2 none
        await q.flush();
        es = await entries(h.store, t);
        expect(es).toHaveLength(3);
        const summary = es[2];
        expect(summary).toMatchObject({ actor: { id: 'key-1' }, action: 'api_key.auth_failed', requestId: 'flood-49' });
        expect(summary?.after).toEqual({
          reason: 'wrong_secret',
          attempts: 50,
          first_at: new Date(1_800_000_000_100).toISOString(),
          last_at: new Date(1_800_000_005_000).toISOString(),
        });
        // A sustained flood goes on writing one entry per window; a quiet window is forgotten.
        expect(q.stats().throttled).toBe(1);
        now += 10_000;
        await q.flush();
        expect(q.stats().throttled).toBe(0);
        expect(await entries(h.store, t)).toHaveLength(3);
        expect(await verifyAuditChain(h.store, t)).toMatchObject({ ok: true, entries: 3 });
      } finally {
        await q.close();
      }
    });

    it('close ends open windows: counted attempts are written, not lost', async () => {
      const t = await newTenant(h.store, 'qc');
      const q = createAuditQueue(h.store, { intervalMs: HOUR, throttleMs: HOUR });
      for (let i = 0; i < 7; i++) q.enqueue(t, failedKey(4), 'k4');
      await q.close();
      const es = await entries(h.store, t);
      expect(es.map((e) => (e.after as { attempts: number }).attempts)).toEqual([1, 6]);
      expect(q.enqueue(t, failedKey(4))).toBe(false); // closed
    });

    it('is bounded: beyond maxQueued and maxThrottled events are dropped and counted', async () => {
      const t = await newTenant(h.store, 'qb');
      const q = createAuditQueue(h.store, { intervalMs: HOUR, maxQueued: 5, maxThrottled: 3 });
      try {
        const accepted = Array.from({ length: 8 }, (_, i) => q.enqueue(t, failedKey(i + 1)));
        expect(accepted).toEqual([true, true, true, true, true, false, false, false]);
        await q.flush();
        const throttled = Array.from({ length: 5 }, (_, i) => q.enqueue(t, failedKey(i + 1), `k${i}`));
        expect(throttled).toEqual([true, true, true, false, false]);
        await q.flush();
        expect(await entries(h.store, t)).toHaveLength(8);
        expect(q.stats()).toMatchObject({ dropped: 5, written: 8 });
      } finally {
        await q.close();
      }
    });

    it('keeps the entries of a failed flush for the next one, and skips a malformed event without losing the batch', async () => {
      const t = await newTenant(h.store, 'qr');
      let failNext = true;
      // The database refusing one transaction (an outage), then recovering.
      const flaky: Pick<Store, 'withTenant'> = {
        withTenant(tenantId, fn) {
          if (failNext) {
            failNext = false;
            return Promise.reject(new Error('connection refused'));
          }
          return h.store.withTenant(tenantId, fn);
        },
      };
      const q = createAuditQueue(flaky, { intervalMs: HOUR });
      try {
        q.enqueue(t, failedKey(1));
        q.enqueue(t, failedKey(2, { action: 'Not A Dotted Name' }));
        q.enqueue(t, failedKey(3));
        await q.flush();
        expect(q.stats()).toMatchObject({ failedFlushes: 1, queued: 3, written: 0 });
        await q.flush();
        expect((await entries(h.store, t)).map((e) => e.actor.id)).toEqual(['key-1', 'key-3']);
        expect(q.stats()).toMatchObject({ queued: 0, written: 2, dropped: 1 });
      } finally {
        await q.close();
      }
    });
  });
}
