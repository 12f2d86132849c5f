/** Appending and verifying, and every way of tampering that verification must catch. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, AuditIntegrityError, entryHash, GENESIS_HASH, verifyAuditChain } from '../../../src/audit/index.js';
import type { AuditRecord } from '../../../src/store/index.js';
import type { StoreFactory, StoreHandle } from '../store/factory.js';
import { appendMany, asApp, asOwner, event, newTenant } from './helpers.js';

class Abort extends Error {}

export function chainContract(factory: StoreFactory): void {
  describe(`audit chain: append and verify [${factory.label}]`, () => {
    let h: StoreHandle;
    beforeAll(async () => {
      h = await factory.open();
    });
    afterAll(async () => h?.close());

    const verify = (tenantId: string) => verifyAuditChain(h.store, tenantId);

    it('appends a gapless, linked chain that verifies', async () => {
      const t = await newTenant(h.store);
      expect(await verify(t)).toEqual({ ok: true, entries: 0, head: { seq: 0, hash: GENESIS_HASH.toString('hex') } });
      const entries = await appendMany(h.store, t, 12);
      expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      expect(entries[0]?.prevHash.equals(GENESIS_HASH)).toBe(true);
      for (let i = 1; i < entries.length; i++) expect(entries[i]?.prevHash.equals(entries[i - 1]?.hash ?? Buffer.alloc(0))).toBe(true);
      expect(entries[0]).toMatchObject({
        version: 1,
        tenantId: t,
        actor: { kind: 'user', id: 'user-0' },
        action: 'test.create',
        target: { kind: 'team', id: 'team-0' },
        outcome: 'success',
        sourceIp: '2001:db8::1', // PostgreSQL's form, which is what is hashed
        requestId: 'req-0',
        before: null,
      });
      const last = entries[11];
      expect(await verify(t)).toEqual({ ok: true, entries: 12, head: { seq: 12, hash: last?.hash.toString('hex') } });
    });

    it('writes in the caller transaction: a rollback takes the entry with it and leaves no gap', async () => {
      const t = await newTenant(h.store);
      await appendMany(h.store, t, 2);
      await expect(
        h.store.withTenant(t, async (tx) => {
          await appendAudit(tx, event(2));
          throw new Abort();
        }),
      ).rejects.toThrow(Abort);
      const [third] = await appendMany(h.store, t, 1, 3);
      expect(third?.seq).toBe(3);
      expect(await verify(t)).toMatchObject({ ok: true, entries: 3 });
    });

    it('several entries in one transaction chain to each other', async () => {
      const t = await newTenant(h.store);
      const seqs = await h.store.withTenant(t, async (tx) => {
        const out: number[] = [];
        for (let i = 0; i < 5; i++) out.push((await appendAudit(tx, event(i))).seq);
        return out;
      });
      expect(seqs).toEqual([1, 2, 3, 4, 5]);
      expect(await verify(t)).toMatchObject({ ok: true, entries: 5 });
    });

    it('concurrent appends from many transactions give one gapless, valid chain', async () => {
      const t = await newTenant(h.store); // no head yet: the first appenders also race to create it
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          h.store.withTenant(t, async (tx) => {
            const a = await appendAudit(tx, event(i));
            if (i % 5 === 4) throw new Abort(); // some roll back after appending
            const b = i % 3 === 0 ? await appendAudit(tx, event(100 + i)) : undefined;
            return [a.seq, ...(b === undefined ? [] : [b.seq])];
          }),
        ),
      );
      const seqs = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : [])).sort((x, y) => x - y);
      const failures = results.filter((r) => r.status === 'rejected');
      expect(failures.every((r) => r.status === 'rejected' && r.reason instanceof Abort)).toBe(true);
      expect(failures).toHaveLength(8);
      // 32 committed transactions, 11 of them (i % 3 === 0, not rolled back) wrote two entries.
      expect(seqs).toEqual(Array.from({ length: 43 }, (_, i) => i + 1));
      expect(await verify(t)).toMatchObject({ ok: true, entries: 43 });
    });

    describe('tampering as the database owner', () => {
      it('an altered after or action fails verification at that entry (hash mismatch)', async () => {
        const t = await newTenant(h.store);
        await appendMany(h.store, t, 6);
        await asOwner(h.store, t, (tx) => tx.query(`UPDATE audit_entries SET after = '{"name":"forged"}' WHERE tenant_id = $1 AND seq = 4`, [t]));
        expect(await verify(t)).toMatchObject({ ok: false, firstBrokenSeq: 4, reason: 'hash_mismatch', verified: 3 });

        const u = await newTenant(h.store);
        await appendMany(h.store, u, 6);
        await asOwner(h.store, u, (tx) => tx.query("UPDATE audit_entries SET action = 'test.harmless' WHERE tenant_id = $1 AND seq = 2", [u]));
        expect(await verify(u)).toMatchObject({ ok: false, firstBrokenSeq: 2, reason: 'hash_mismatch' });
      });

      it('every hashed column is covered (outcome, actor, ip, time, tenant copy)', async () => {
        const edits = [
          "outcome = 'failure'",
          "actor_id = 'someone-else'",
          "source_ip = '203.0.113.9'",
          "at = at + interval '1 second'",
          "before = NULL",
          "target_id = NULL, target_kind = NULL",
        ];
        for (const edit of edits) {
          const t = await newTenant(h.store);
          await appendMany(h.store, t, 3);
          await asOwner(h.store, t, (tx) => tx.query(`UPDATE audit_entries SET ${edit} WHERE tenant_id = $1 AND seq = 2`, [t]));
          expect({ edit, r: await verify(t) }).toMatchObject({ edit, r: { ok: false, firstBrokenSeq: 2, reason: 'hash_mismatch' } });
        }
      });

      it('a rewritten entry with a recomputed hash breaks the link to the next one', async () => {
        const t = await newTenant(h.store);
        await appendMany(h.store, t, 5);
        await asOwner(h.store, t, async (tx) => {
          const { rows } = await tx.query<{ prev_hash: Buffer; at: Date; id: string }>(
            'SELECT prev_hash, at, id FROM audit_entries WHERE tenant_id = $1 AND seq = 3',
            [t],
          );
          const row = rows[0];
          if (row === undefined) throw new Error('no row');
          const forged: Omit<AuditRecord, 'hash'> = {
            tenantId: t, seq: 3, id: row.id, at: row.at, actorKind: 'user', actorId: 'mallory', action: 'test.create', // entry 3 is event(2)
            targetKind: null, targetId: null, outcome: 'success', sourceIp: null, requestId: null, before: null, after: null,
            prevHash: Buffer.from(row.prev_hash), version: 1,
          };
          await tx.query(
            `UPDATE audit_entries SET actor_id = 'mallory', target_kind = NULL, target_id = NULL, source_ip = NULL,
               request_id = NULL, before = NULL, after = NULL, hash = $2 WHERE tenant_id = $1 AND seq = 3`,
            [t, entryHash(forged)],
          );
        });
        expect(await verify(t)).toMatchObject({ ok: false, firstBrokenSeq: 4, reason: 'prev_hash_mismatch' });
      });

      it('deleting the last entries is detected through the checkpoint (tail cut)', async () => {
        const t = await newTenant(h.store);
        await appendMany(h.store, t, 7);
        await asOwner(h.store, t, (tx) => tx.query('DELETE FROM audit_entries WHERE tenant_id = $1 AND seq >= 6', [t]));
        expect(await verify(t)).toMatchObject({ ok: false, firstBrokenSeq: 6, reason: 'tail_cut', verified: 5 });
        // The cut stays visible after further appends: the next entry continues from the head.
        await appendMany(h.store, t, 1, 7);
        expect(await verify(t)).toMatchObject({ ok: false, firstBrokenSeq: 6, reason: 'seq_gap' });
      });

      it('deleting a middle entry is a gap', async () => {
        const t = await newTenant(h.store);
        await appendMany(h.store, t, 7);
        await asOwner(h.store, t, (tx) => tx.query('DELETE FROM audit_entries WHERE tenant_id = $1 AND seq = 3', [t]));
        expect(await verify(t)).toMatchObject({ ok: false, firstBrokenSeq: 3, reason: 'seq_gap', verified: 2 });
      });

      it('a replaced tail (last entry deleted and forged back, correctly hashed) misses the checkpoint', async () => {
        const t = await newTenant(h.store);
        const entries = await appendMany(h.store, t, 4);
        const prev = entries[2]?.hash ?? Buffer.alloc(32);
        await asOwner(h.store, t, async (tx) => {
          await tx.query('DELETE FROM audit_entries WHERE tenant_id = $1 AND seq = 4', [t]);
          const forged: Omit<AuditRecord, 'hash'> = {
            tenantId: t, seq: 4, id: randomUUID(), at: new Date(), actorKind: 'system', actorId: null, action: 'test.noop',
            targetKind: null, targetId: null, outcome: 'success', sourceIp: null, requestId: null, before: null, after: null,
            prevHash: prev, version: 1,
          };
          await tx.query(
            `INSERT INTO audit_entries (tenant_id, seq, id, at, actor_kind, action, outcome, prev_hash, hash, version)
             VALUES ($1, 4, $2, $3, 'system', 'test.noop', 'success', $4, $5, 1)`,
            [t, forged.id, forged.at, prev, entryHash(forged)],
          );
        });
        expect(await verify(t)).toMatchObject({ ok: false, firstBrokenSeq: 4, reason: 'checkpoint_mismatch' });
      });

      it('a deleted checkpoint is reported, and appending refuses to start a second chain', async () => {
        const t = await newTenant(h.store);
        await appendMany(h.store, t, 3);
        await asOwner(h.store, t, (tx) => tx.query('DELETE FROM audit_checkpoints WHERE tenant_id = $1', [t]));
        expect(await verify(t)).toMatchObject({ ok: false, firstBrokenSeq: 4, reason: 'checkpoint_missing' });
        await expect(h.store.withTenant(t, (tx) => appendAudit(tx, event(9)))).rejects.toThrow(AuditIntegrityError);
      });

      it('an entry written around appendAudit (valid hash, head not moved) is reported', async () => {
        const t = await newTenant(h.store);
        const entries = await appendMany(h.store, t, 2);
        const forged: Omit<AuditRecord, 'hash'> = {
          tenantId: t, seq: 3, id: randomUUID(), at: new Date(), actorKind: 'system', actorId: null, action: 'test.sneak',
          targetKind: null, targetId: null, outcome: 'success', sourceIp: null, requestId: null, before: null, after: null,
          prevHash: entries[1]?.hash ?? Buffer.alloc(32), version: 1,
        };
        // The gateway role itself may insert; only the head tells this entry apart.
        await asApp(h.store, t, (tx) =>
          tx.query(
            `INSERT INTO audit_entries (tenant_id, seq, id, at, actor_kind, action, outcome, prev_hash, hash, version)
             VALUES ($1, 3, $2, $3, 'system', 'test.sneak', 'success', $4, $5, 1)`,
            [t, forged.id, forged.at, forged.prevHash, entryHash(forged)],
          ),
        );
        expect(await verify(t)).toMatchObject({ ok: false, firstBrokenSeq: 3, reason: 'checkpoint_behind' });
      });

      it('an unknown envelope version is not trusted', async () => {
        const t = await newTenant(h.store);
        await appendMany(h.store, t, 2);
        await asOwner(h.store, t, (tx) => tx.query('UPDATE audit_entries SET version = 9 WHERE tenant_id = $1 AND seq = 2', [t]));
        expect(await verify(t)).toMatchObject({ ok: false, firstBrokenSeq: 2, reason: 'unknown_version' });
      });
    });
  });
}
