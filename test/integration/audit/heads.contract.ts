/**
 * Signed heads kept outside the database (issue 4): what the database's own checkpoint cannot
 * show once the owner rewinds or rewrites it, checking against exported heads does.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkHeads, entryHash, GENESIS_HASH, HEADS_FILE, headLine, parseHeadLines, runAuditExportHeads, runAuditVerifyHeads, signedHeads, startHeadExport,
  verifyAuditChain,
  type SignedAuditHead,
} from '../../../src/audit/index.js';
import { auditHeadSigner, auditHeadVerifier } from '../../../src/crypto/audit-head-key.js';
import { PLATFORM_SCOPE_ID } from '../../../src/identity/roles.js';
import type { AdminTx, AuditRecord, Store } from '../../../src/store/index.js';
import type { StoreFactory, StoreHandle } from '../store/factory.js';
import { appendMany, asOwner, newTenant } from './helpers.js';

const signer = auditHeadSigner(randomBytes(32));
const verifier = auditHeadVerifier([signer]);

async function exportHead(store: Store, tenantId: string): Promise<SignedAuditHead> {
  const [head] = await signedHeads(store, signer, [tenantId]);
  if (head === undefined) throw new Error('no head');
  return head;
}

/**
 * Moves the checkpoint as only the owner can: the forward-only trigger is off for this
 * transaction alone (DDL takes a lock that holds until commit, so no other session sees it off).
 */
async function setCheckpoint(tx: AdminTx, tenantId: string, seq: number, hash: Buffer): Promise<void> {
  await tx.query('ALTER TABLE audit_checkpoints DISABLE TRIGGER audit_checkpoint_forward_only');
  await tx.query('UPDATE audit_checkpoints SET seq = $2, hash = $3 WHERE tenant_id = $1', [tenantId, seq, hash]);
  await tx.query('ALTER TABLE audit_checkpoints ENABLE TRIGGER audit_checkpoint_forward_only');
}

/** Cuts the chain after entry `keep` and rewinds the checkpoint to match: the database alone sees nothing. */
async function cutTail(store: Store, tenantId: string, keep: number): Promise<void> {
  await asOwner(store, tenantId, async (tx) => {
    await tx.query('DELETE FROM audit_entries WHERE tenant_id = $1 AND seq > $2', [tenantId, keep]);
    const { rows } = await tx.query<{ hash: Buffer }>('SELECT hash FROM audit_entries WHERE tenant_id = $1 AND seq = $2', [tenantId, keep]);
    await setCheckpoint(tx, tenantId, keep, keep === 0 ? GENESIS_HASH : Buffer.from(rows[0]?.hash ?? Buffer.alloc(0)));
  });
}

/** Replaces entries from `from` on with forged ones, correctly chained and hashed, and moves the checkpoint to them. */
async function rewriteFrom(store: Store, tenantId: string, from: number): Promise<void> {
  await asOwner(store, tenantId, async (tx) => {
    const { rows } = await tx.query<{ seq: string | number; prev_hash: Buffer }>(
      'SELECT seq, prev_hash FROM audit_entries WHERE tenant_id = $1 AND seq >= $2 ORDER BY seq',
      [tenantId, from],
    );
    let prev: Buffer = Buffer.from(rows[0]?.prev_hash ?? GENESIS_HASH);
    await tx.query('DELETE FROM audit_entries WHERE tenant_id = $1 AND seq >= $2', [tenantId, from]);
    for (const r of rows) {
      const seq = Number(r.seq);
      const forged: Omit<AuditRecord, 'hash'> = {
        tenantId, seq, id: randomUUID(), at: new Date(), actorKind: 'system', actorId: null, action: 'test.noop',
        targetKind: null, targetId: null, outcome: 'success', sourceIp: null, requestId: null, before: null, after: null, prevHash: prev, version: 1,
      };
      const hash = entryHash(forged) ?? Buffer.alloc(32);
      await tx.query(
        `INSERT INTO audit_entries (tenant_id, seq, id, at, actor_kind, action, outcome, prev_hash, hash, version)
         VALUES ($1, $2, $3, $4, 'system', 'test.noop', 'success', $5, $6, 1)`,
        [tenantId, seq, forged.id, forged.at, prev, hash],
      );
      prev = hash;
    }
    await setCheckpoint(tx, tenantId, Number(rows[rows.length - 1]?.seq ?? 0), prev);
  });
}

export function headsContract(factory: StoreFactory): void {
  describe(`audit heads outside the database [${factory.label}]`, () => {
    let h: StoreHandle;
    beforeAll(async () => {
      h = await factory.open();
    });
    afterAll(async () => h?.close());

    const verifyWith = (heads: readonly SignedAuditHead[], tenantRef?: string) =>
      runAuditVerifyHeads(h.store, verifier, heads.map(headLine).join(''), tenantRef === undefined ? {} : { tenantRef });

    it('heads exported as the chain grows all agree with an intact chain (exit 0)', async () => {
      const t = await newTenant(h.store);
      const heads = [await exportHead(h.store, t)]; // the genesis head: an empty chain
      expect(heads[0]).toMatchObject({ tenant_id: t, seq: 0, hash: GENESIS_HASH.toString('hex'), at: null });
      await appendMany(h.store, t, 3);
      heads.push(await exportHead(h.store, t));
      await appendMany(h.store, t, 4, 3);
      heads.push(await exportHead(h.store, t));
      expect(heads.map((x) => x.seq)).toEqual([0, 3, 7]);
      const checked = await checkHeads(h.store, verifier, heads);
      expect(checked).toMatchObject({ matched: 3, failures: [] });
      const r = await verifyWith(heads);
      expect(r.exitCode, r.report).toBe(0);
      expect(r.report).toMatch(/OK, 7 entries verified; 3 heads agree \(up to entry 7\)/);
    });

    it('a tail cut as the owner, checkpoint rewound with it: the chain alone verifies, the heads show the cut', async () => {
      const t = await newTenant(h.store);
      await appendMany(h.store, t, 8);
      const head = await exportHead(h.store, t);
      await cutTail(h.store, t, 5);
      // What the database alone says: a consistent chain of 5 entries.
      expect(await verifyAuditChain(h.store, t)).toMatchObject({ ok: true, entries: 5 });
      const checked = await checkHeads(h.store, verifier, [head]);
      expect(checked.failures).toEqual([expect.objectContaining({ tenantId: t, seq: 8, reason: 'tail_cut' })]);
      const r = await verifyWith([head]);
      expect(r.exitCode).toBe(1);
      expect(r.report).toMatch(/CUT TAIL DETECTED/);
      expect(r.report).toMatch(/vouches for entry 8, but the chain ends at entry 5: entries 6\.\.8 were deleted/);
    });

    it("every entry of a tenant deleted (a truncated chain) is a cut tail too", async () => {
      const t = await newTenant(h.store);
      await appendMany(h.store, t, 3);
      const head = await exportHead(h.store, t);
      await asOwner(h.store, t, async (tx) => {
        await tx.query('DELETE FROM audit_entries WHERE tenant_id = $1', [t]);
        await tx.query('DELETE FROM audit_checkpoints WHERE tenant_id = $1', [t]);
      });
      expect(await verifyAuditChain(h.store, t)).toMatchObject({ ok: true, entries: 0 });
      const r = await verifyWith([head], t);
      expect(r.exitCode).toBe(1);
      expect(r.report).toMatch(/CUT TAIL DETECTED[\s\S]*entries 1\.\.3 were deleted/);
    });

    it('a chain rewritten from an entry on, hashes and checkpoint recomputed, mismatches the head', async () => {
      const t = await newTenant(h.store);
      await appendMany(h.store, t, 6);
      const head = await exportHead(h.store, t);
      await rewriteFrom(h.store, t, 3);
      expect(await verifyAuditChain(h.store, t)).toMatchObject({ ok: true, entries: 6 });
      const r = await verifyWith([head]);
      expect(r.exitCode).toBe(1);
      expect(r.report).toMatch(/REWRITTEN CHAIN DETECTED/);
      expect(r.report).toMatch(/entry 6 does not have the hash a head signed at .* recorded/);
    });

    it('a forged head is refused for its signature, and vouches for nothing', async () => {
      const t = await newTenant(h.store);
      await appendMany(h.store, t, 2);
      const real = await exportHead(h.store, t);
      // Claims entries that never existed, keeping the real signature.
      const altered = { ...real, seq: 50 };
      // Signed, but by a key the verifier does not trust.
      const other = auditHeadSigner(randomBytes(32));
      const [foreign] = await signedHeads(h.store, other, [t]);
      const checked = await checkHeads(h.store, verifier, [altered, foreign as SignedAuditHead]);
      expect(checked.failures.map((f) => f.reason).sort()).toEqual(['bad_signature', 'unknown_key']);
      expect(checked.failures.some((f) => f.reason === 'tail_cut')).toBe(false);
      const r = await verifyWith([real, altered]);
      expect(r.exitCode).toBe(1);
      expect(r.report).toMatch(/FORGED HEADS in the heads file/);
      expect(r.report).toMatch(/line 2: the head for entry 50 does not match its signature/);
      expect(r.report).not.toMatch(/CUT TAIL/);
      // A head of a previous master key verifies while that key is trusted.
      expect((await checkHeads(h.store, auditHeadVerifier([signer, other]), [foreign as SignedAuditHead])).failures).toEqual([]);
    });

    it('a line that is not a head fails the check; a file without heads checks nothing and says so', async () => {
      const t = await newTenant(h.store);
      await appendMany(h.store, t, 1);
      const head = await exportHead(h.store, t);
      const r = await runAuditVerifyHeads(h.store, verifier, `${headLine(head)}{"oops":1}\n`);
      expect(r.exitCode).toBe(1);
      expect(r.report).toMatch(/heads file line 2: not a signed audit head/);
      expect((await runAuditVerifyHeads(h.store, verifier, '')).exitCode).toBe(1);
      expect((await runAuditVerifyHeads(h.store, verifier, headLine(head), { tenantRef: 'no-such-tenant' })).exitCode).toBe(2);
    });

    it('export-head --all covers every tenant and the platform scope; --tenant one chain', async () => {
      const t = await newTenant(h.store);
      await appendMany(h.store, t, 2);
      const all = await runAuditExportHeads(h.store, signer);
      const { heads, problems } = parseHeadLines(all.lines);
      expect(problems).toEqual([]);
      expect(heads.map((x) => x.tenant_id)).toEqual(expect.arrayContaining([PLATFORM_SCOPE_ID, t]));
      expect(heads.find((x) => x.tenant_id === t)).toMatchObject({ seq: 2 });
      const one = await runAuditExportHeads(h.store, signer, { tenantRef: t });
      expect(parseHeadLines(one.lines).heads.map((x) => x.tenant_id)).toEqual([t]);
      expect((await runAuditExportHeads(h.store, signer, { tenantRef: 'no-such-tenant' })).exitCode).toBe(2);
      const r = await runAuditVerifyHeads(h.store, verifier, all.lines, { tenantRef: t });
      expect(r.exitCode, r.report).toBe(0);
    });

    it('the periodic export appends every chain once, then only the chains that moved; the file verifies', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'gatehouse-heads-'));
      const job = startHeadExport({ store: h.store, signer, dir: join(dir, 'out'), intervalMs: 3_600_000, logger: pino({ level: 'silent' }) });
      try {
        const t = await newTenant(h.store);
        await appendMany(h.store, t, 2);
        await job.runOnce(); // after the first round (started with the job): the new tenant is there
        const first = parseHeadLines(await readFile(join(dir, 'out', HEADS_FILE), 'utf8')).heads;
        expect(first.filter((x) => x.tenant_id === t).at(-1)).toMatchObject({ seq: 2 });
        const lines = first.length;
        expect(await job.runOnce()).toBe(0); // nothing moved
        await appendMany(h.store, t, 1, 2);
        expect(await job.runOnce()).toBe(1);
        const text = await readFile(join(dir, 'out', HEADS_FILE), 'utf8');
        const all = parseHeadLines(text).heads;
        expect(all).toHaveLength(lines + 1);
        expect(all.at(-1)).toMatchObject({ tenant_id: t, seq: 3 });
        const r = await runAuditVerifyHeads(h.store, verifier, text, { tenantRef: t });
        expect(r.exitCode, r.report).toBe(0);
      } finally {
        await job.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}
