/**
 * The request log's writer, quota, retention and crypto-shredding against both stores, below the
 * HTTP layer: content is sealed with the tenant key and bound to its row; the log_bytes quota is
 * never overshot, not even by two writers (replicas) at once; a full queue and a failed write
 * drop entries and count them; retention deletes what is past the tenant's retention (capped by
 * its plan) and gives the bytes back; after the tenant's keys are destroyed the content does not
 * decrypt.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRequestLog } from '../../../src/admin/services/request-logs.js';
import { tenantSealer } from '../../../src/crypto/envelope.js';
import { createKeyring } from '../../../src/crypto/keyring.js';
import { localKms } from '../../../src/crypto/kms.js';
import { scheduleTenantShred, shredDueTenants } from '../../../src/crypto/shredding.js';
import { DecryptError } from '../../../src/crypto/tenant-crypto-errors.js';
import { newCapture } from '../../../src/logs/capture.js';
import type { PendingLog } from '../../../src/logs/entry.js';
import { expireLogs } from '../../../src/logs/retention.js';
import { createLogWriter, ENTRY_META_BYTES, type LogOutcome } from '../../../src/logs/writer.js';
import { plansRepo, requestLogsRepo, tenantsRepo, upsertTenantBySlug, type Store } from '../../../src/store/index.js';
import type { Actor } from '../../../src/admin/context.js';
import { bothStores } from '../../helpers/stores.js';

const DAY = 24 * 3600 * 1000;
const HOUR = 3600 * 1000;

const factories = await bothStores();

const ACTOR: Actor = { principal: { kind: 'cli', id: 'cli', label: 'test', keyId: null, scope: 'platform', role: 'platform_admin' }, requestId: null, sourceIp: null };

/** A finished chat request with content: the prompt in the body, a JSON answer captured. */
function pending(tenantId: string, prompt: string, over: Partial<PendingLog> = {}): PendingLog {
  const capture = newCapture();
  const answer = Buffer.from(JSON.stringify({ object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: `echo ${prompt}` } }] }));
  capture.chunks.push(answer);
  capture.bytes = answer.length;
  capture.complete = true;
  return {
    tenantId,
    requestId: `req-${randomUUID()}`,
    occurredAt: Date.now(),
    keyId: null,
    teamId: null,
    endUser: null,
    operation: 'chat',
    model: 'gpt-4o-mini',
    deploymentId: 'd1',
    status: 200,
    latencyMs: 12,
    inputTokens: 3,
    outputTokens: 5,
    streamed: false,
    clientAborted: false,
    cacheHit: false,
    quotaBytes: undefined,
    content: { body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] }, response: { capture, streamed: false } },
    heldBytes: 1024,
    ...over,
  };
}

for (const f of factories) {
  describe.skipIf(f.skip)(`request log writer and retention [${f.label}]`, () => {
    let store: Store;
    let close: () => Promise<void>;
    const keyring = createKeyring(localKms(randomBytes(32)));
    const sealer = tenantSealer(keyring);
    const events: Record<string, number> = {};
    const onEvent = (o: LogOutcome, n: number) => void (events[o] = (events[o] ?? 0) + n);

    const writer = (over: Partial<Parameters<typeof createLogWriter>[0]> = {}) =>
      createLogWriter({ store, sealer, maxEntryBytes: 4096, maxQueued: 1000, maxQueuedBytes: 64 * 1024 * 1024, batchSize: 50, intervalMs: 60_000, onEvent, ...over });

    async function tenant(label: string, plan: string | null, logs: { enabled: boolean; content: boolean; retentionDays?: number }): Promise<string> {
      const { tenant: t } = await upsertTenantBySlug(store, { slug: `${label}-${randomBytes(3).toString('hex')}`, name: label });
      await store.withTenant(t.id, async (tx) => {
        const p = plan === null ? null : await plansRepo.getByName(tx, plan);
        await tenantsRepo.update(tx, { planId: p?.id ?? null });
        await tenantsRepo.setLogSettings(tx, logs);
      });
      return t.id;
    }

    beforeAll(async () => {
      ({ store, close } = await f.open());
    });
    afterAll(async () => close?.());

    it('seals content with the tenant key, bound to its row: readable through the admin service, not in the table, not when moved', async () => {
      const a = await tenant('seal', null, { enabled: true, content: true });
      const w = writer();
      const one = pending(a, 'CANARY-PROMPT-1');
      const two = pending(a, 'CANARY-PROMPT-2');
      w.offer(one);
      w.offer(two);
      await w.close();
      const raw = await store.withTenant(a, async (tx) => (await tx.query<{ content: Buffer; id: string; request_id: string }>('SELECT id, request_id, content FROM request_logs ORDER BY request_id')).rows);
      expect(raw).toHaveLength(2);
      for (const r of raw) expect(Buffer.from(r.content).includes('CANARY-PROMPT')).toBe(false);

      const detail = await store.withTenant(a, (tx) => readRequestLog(tx, sealer, ACTOR, one.requestId));
      if (detail.content === null || detail.content === 'unreadable') throw new Error('no content');
      expect(JSON.parse(detail.content.request ?? 'null')).toEqual(one.content?.body);
      expect(detail.content.response).toContain('echo CANARY-PROMPT-1');
      expect(detail.meta).toMatchObject({ status: 200, latencyMs: 12, inputTokens: 3, hasContent: true, contentTruncated: false });

      // A ciphertext copied onto another row does not open: the row id is in the associated data.
      const [r1, r2] = raw;
      if (r1 === undefined || r2 === undefined) throw new Error('rows');
      await store.withTenant(a, async (tx) => {
        await expect(sealer.open(tx, { table: 'request_logs', recordId: r2.id, column: 'content' }, Buffer.from(r1.content))).rejects.toBeInstanceOf(DecryptError);
      });
      const usage = await store.withTenant(a, (tx) => requestLogsRepo.usage(tx));
      expect(usage.entries).toBe(2);
      expect(usage.bytes).toBe(2 * ENTRY_META_BYTES + Buffer.from(r1.content).length + Buffer.from(r2.content).length);
    });

    it('sealMany counts a batch of key uses in one step, opens per field, and creates the first key one by one', async () => {
      const a = await tenant('many', null, { enabled: true, content: true });
      const field = (i: number) => ({ table: 'request_logs', recordId: `00000000-0000-4000-8000-00000000000${i}`, column: 'content' });
      const uses = () => store.withTenant(a, async (tx) => (await tx.query<{ n: string }>("SELECT coalesce(sum(encryptions), 0)::text AS n FROM tenant_data_keys")).rows[0]?.n);
      expect(await uses()).toBe('0');
      // No key yet: the batch falls back to one at a time, which creates it.
      const first = await store.withTenant(a, (tx) => sealer.sealMany(tx, [1, 2].map((i) => ({ field: field(i), plaintext: Buffer.from(`p${i}`) }))));
      expect(await uses()).toBe('2');
      const counted: string[] = [];
      const many = await store.withTenant(a, async (tx) => {
        const queries = tx.query.bind(tx);
        const spy = Object.assign(Object.create(tx) as typeof tx, {
          query: ((sql: string, params?: unknown[]) => {
            if (sql.includes('UPDATE tenant_data_keys SET encryptions')) counted.push(sql);
            return queries(sql, params);
          }) as typeof tx.query,
        });
        return sealer.sealMany(spy, [3, 4, 5, 6].map((i) => ({ field: field(i), plaintext: Buffer.from(`p${i}`) })));
      });
      expect(counted).toHaveLength(1);
      expect(await uses()).toBe('6');
      await store.withTenant(a, async (tx) => {
        for (const [i, c] of [[1, first[0]], [2, first[1]], [3, many[0]], [6, many[3]]] as const) {
          if (c === undefined) throw new Error('missing');
          expect((await sealer.open(tx, field(i), c.ciphertext)).toString()).toBe(`p${i}`);
        }
        if (many[1] === undefined) throw new Error('missing');
        await expect(sealer.open(tx, field(3), many[1].ciphertext)).rejects.toBeInstanceOf(DecryptError);
      });
    });

    it('cuts content to maxEntryBytes and flags it', async () => {
      const a = await tenant('cut', null, { enabled: true, content: true });
      const w = writer({ maxEntryBytes: 1024 });
      const big = pending(a, 'x'.repeat(5000));
      w.offer(big);
      await w.close();
      const detail = await store.withTenant(a, (tx) => readRequestLog(tx, sealer, ACTOR, big.requestId));
      if (detail.content === null || detail.content === 'unreadable') throw new Error('no content');
      expect(detail.meta.contentTruncated).toBe(true);
      expect(detail.content.request_truncated).toBe(true);
      expect(Buffer.byteLength(detail.content.request ?? '') + Buffer.byteLength(detail.content.response ?? '')).toBeLessThanOrEqual(1024);
    });

    it('never overshoots the log_bytes quota, even with two writers (replicas) at once; the rest is dropped and counted', async () => {
      const a = await tenant('quota', null, { enabled: true, content: true });
      const quota = 6000;
      const before = events.quota ?? 0;
      const w1 = writer({ batchSize: 3 });
      const w2 = writer({ batchSize: 3 });
      for (let i = 0; i < 10; i++) {
        w1.offer(pending(a, `one ${i}`, { quotaBytes: quota }));
        w2.offer(pending(a, `two ${i}`, { quotaBytes: quota }));
      }
      await Promise.all([w1.close(), w2.close()]);
      const usage = await store.withTenant(a, (tx) => requestLogsRepo.usage(tx));
      const stored = await store.withTenant(a, async (tx) => (await tx.query<{ n: number; b: number }>('SELECT count(*)::int AS n, coalesce(sum(bytes), 0)::int AS b FROM request_logs')).rows[0]);
      expect(usage.bytes).toBeLessThanOrEqual(quota);
      expect(usage).toEqual({ bytes: stored?.b, entries: stored?.n });
      expect(stored?.n).toBeGreaterThan(0);
      expect((events.quota ?? 0) - before).toBe(20 - (stored?.n ?? 0));
    });

    it("one tenant's flood cannot take the queue: past half full, a tenant holding a quarter adds nothing more", async () => {
      const [a, b] = [randomUUID(), randomUUID()];
      const w = writer({ maxQueued: 100, maxQueuedBytes: 100_000 });
      let taken = 0;
      for (let i = 0; i < 100; i++) if (w.offer(pending(a, `a${i}`, { content: undefined, heldBytes: 100 }))) taken++;
      expect(taken).toBe(51); // up to just past half the entries
      // The other tenant still gets its quarter, and so would a third.
      let second = 0;
      for (let i = 0; i < 40; i++) if (w.offer(pending(b, `b${i}`, { content: undefined, heldBytes: 100 }))) second++;
      expect(second).toBe(25);
      expect(w.offer(pending(randomUUID(), 'c', { content: undefined, heldBytes: 100 }))).toBe(true);
      // By bytes as well: a few large entries of one tenant.
      const byBytes = writer({ maxQueued: 100, maxQueuedBytes: 100_000 });
      let big = 0;
      while (big < 10 && byBytes.offer(pending(a, `big${big}`, { content: undefined, heldBytes: 20_000 }))) big++;
      expect(big).toBe(2);
      expect(byBytes.offer(pending(b, 'small', { content: undefined, heldBytes: 20_000 }))).toBe(true);
      // Those tenants do not exist: their writes fail (counted), which is all this test needs.
      await Promise.all([w.close(), byBytes.close()]);
    });

    it('a full queue drops and counts; a failed write drops its batch and counts it, never throws', async () => {
      const a = await tenant('queue', null, { enabled: true, content: false });
      const full = events.queue_full ?? 0;
      const w = writer({ maxQueued: 2 });
      expect(w.offer(pending(a, '1', { content: undefined }))).toBe(true);
      expect(w.offer(pending(a, '2', { content: undefined }))).toBe(true);
      expect(w.offer(pending(a, '3', { content: undefined }))).toBe(false);
      expect(events.queue_full).toBe(full + 1);
      const byBytes = writer({ maxQueuedBytes: 1500 });
      expect(byBytes.offer(pending(a, '4', { heldBytes: 1000 }))).toBe(true);
      expect(byBytes.offer(pending(a, '5', { heldBytes: 1000 }))).toBe(false);
      await Promise.all([w.close(), byBytes.close()]);
      expect((await store.withTenant(a, (tx) => requestLogsRepo.usage(tx))).entries).toBe(3);

      const errors = events.error ?? 0;
      const broken = writer();
      broken.offer(pending(randomUUID(), 'tenant that does not exist'));
      await expect(broken.close()).resolves.toBeUndefined();
      expect(events.error).toBe(errors + 1);
    });

    it('an entry the database refuses is dropped alone and counted; the rest of its batch is written', async () => {
      const a = await tenant('refuse', null, { enabled: true, content: true });
      const refused = events.refused ?? 0;
      const errors = events.error ?? 0;
      const written = events.written ?? 0;
      const w = writer({ batchSize: 10 });
      const good = Array.from({ length: 7 }, (_, i) => pending(a, `ok-${i}`));
      // Text PostgreSQL will not store (NUL, a lone surrogate): the insert statement fails on it.
      const bad = [pending(a, 'bad-1', { endUser: 'a\u0000b' }), pending(a, 'bad-2', { model: 'gpt-\ud800' })];
      for (const e of [...good.slice(0, 3), bad[0], ...good.slice(3, 6), bad[1], good[6]]) expect(w.offer(e as PendingLog)).toBe(true);
      await w.close();
      const rows = await store.withTenant(a, async (tx) => (await tx.query<{ request_id: string }>('SELECT request_id FROM request_logs')).rows);
      expect(rows.map((r) => r.request_id).sort()).toEqual(good.map((e) => e.requestId).sort());
      expect((await store.withTenant(a, (tx) => requestLogsRepo.usage(tx))).entries).toBe(7);
      expect(events.refused).toBe(refused + 2);
      expect(events.written).toBe(written + 7);
      expect(events.error ?? 0).toBe(errors);
      expect(w.stats()).toMatchObject({ written: 7, dropped: 2 });
    });

    it("retention deletes what is past the tenant's retention, capped by its plan, and gives the bytes back", async () => {
      const now = Date.now();
      const week = await tenant('week', 'standard', { enabled: true, content: true, retentionDays: 7 });
      const asked = await tenant('long', 'standard', { enabled: true, content: false, retentionDays: 3650 });
      const free = await tenant('free', 'free', { enabled: false, content: false });
      const w = writer();
      const at = (days: number) => ({ occurredAt: now - days * DAY });
      for (const [t, days] of [[week, 1], [week, 8], [asked, 29], [asked, 31], [free, 0.01]] as const) w.offer(pending(t, `${days}`, at(days)));
      await w.close();
      const kept = async (t: string) => (await store.withTenant(t, (tx) => requestLogsRepo.list(tx, { from: null, to: null, keyId: null, model: null, status: null, before: null, limit: 10 }))).map((e) => Math.round((now - e.occurredAt.getTime()) / DAY));

      await expireLogs({ store, intervalMs: HOUR, now: () => now });
      expect(await kept(week)).toEqual([1]);
      // 3650 days asked, the standard plan keeps 30.
      expect(await kept(asked)).toEqual([29]);
      // The free plan keeps none.
      expect(await kept(free)).toEqual([]);
      const usage = await store.withTenant(week, (tx) => requestLogsRepo.usage(tx));
      const left = await store.withTenant(week, async (tx) => (await tx.query<{ b: number }>('SELECT coalesce(sum(bytes), 0)::int AS b FROM request_logs')).rows[0]?.b);
      expect(usage).toEqual({ bytes: left, entries: 1 });
    });

    it('retention deletes in slices until nothing is past it', async () => {
      const t = await tenant('slices', null, { enabled: true, content: false, retentionDays: 1 });
      const w = writer();
      for (let i = 0; i < 7; i++) w.offer(pending(t, `${i}`, { content: undefined, occurredAt: Date.now() - 2 * DAY }));
      await w.close();
      await expireLogs({ store, intervalMs: HOUR, sliceSize: 3 });
      expect((await store.withTenant(t, (tx) => requestLogsRepo.usage(tx))).entries).toBe(0);
    });

    it("after the tenant's data keys are destroyed (crypto-shredding) the content does not decrypt", async () => {
      const a = await tenant('shred', null, { enabled: true, content: true });
      const w = writer();
      const entry = pending(a, 'CANARY-SHRED');
      w.offer(entry);
      await w.close();
      const readable = await store.withTenant(a, (tx) => readRequestLog(tx, sealer, ACTOR, entry.requestId));
      expect(readable.content).not.toBe('unreadable');
      const row = await store.withTenant(a, async (tx) => (await tx.query<{ id: string; content: Buffer }>('SELECT id, content FROM request_logs')).rows[0]);
      if (row === undefined) throw new Error('no row');

      const now = new Date();
      await store.withTenant(a, (tx) => scheduleTenantShred(tx, { graceMs: HOUR, now }));
      const done = await shredDueTenants(store, { now: new Date(now.getTime() + 2 * HOUR), keyrings: [keyring] });
      expect(done.shredded.map((s) => s.tenantId)).toContain(a);

      await store.withTenant(a, async (tx) => {
        const err = await sealer.open(tx, { table: 'request_logs', recordId: row.id, column: 'content' }, Buffer.from(row.content)).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(DecryptError);
        expect((err as DecryptError).reason).toBe('key_destroyed');
      });
      // The admin API's read says so instead of failing; the metadata is still there until retention.
      const after = await store.withTenant(a, (tx) => readRequestLog(tx, sealer, ACTOR, entry.requestId));
      expect(after.content).toBe('unreadable');
      expect(after.meta.requestId).toBe(entry.requestId);
    });
  });
}
