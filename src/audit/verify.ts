/**
 * Verifying a tenant's chain: every entry hashes to its stored hash, links to the one before,
 * seq has no gaps, and the last entry is the checkpointed head (so a cut tail shows).
 *
 * What it cannot show: SHA-256 is unkeyed, so someone with owner rights who rewrites an entry,
 * every hash after it and the checkpoint together leaves a valid chain. Against that, record
 * the head hash this returns somewhere the database owner cannot write (DESIGN §3.4).
 */
import { auditRepo } from '../store/index.js';
import type { AuditHead, AuditRecord, Store } from '../store/index.js';
import { entryHash, GENESIS_HASH, KNOWN_VERSIONS } from './canonical.js';

export type AuditBreakReason =
  /** The entry's content does not hash to its stored hash: it was altered after it was written. */
  | 'hash_mismatch'
  /** The entry's prev_hash is not the previous entry's hash: one of the two was rewritten. */
  | 'prev_hash_mismatch'
  /** An entry is missing from the middle of the chain. */
  | 'seq_gap'
  /** Entries the checkpoint vouches for are missing at the end: the tail was cut. */
  | 'tail_cut'
  /** The last entry is not the one the checkpoint recorded: the tail was replaced. */
  | 'checkpoint_mismatch'
  /** Entries exist past the checkpoint: written without moving it (not by appendAudit). */
  | 'checkpoint_behind'
  /** Entries exist but the checkpoint row is gone: a cut tail could not be seen. */
  | 'checkpoint_missing'
  /** An envelope version this code does not know: cannot be checked, so not trusted. */
  | 'unknown_version';

export interface AuditChainHead {
  seq: number;
  /** Hex. Record it outside the database to detect a rewrite of the whole chain. */
  hash: string;
}

export type VerifyAuditResult =
  | { ok: true; entries: number; head: AuditChainHead }
  | {
      ok: false;
      /** The first entry that fails (for a missing entry: the seq that should be there). */
      firstBrokenSeq: number;
      reason: AuditBreakReason;
      detail: string;
      /** Entries before firstBrokenSeq that verified. */
      verified: number;
    };

type Break = Extract<VerifyAuditResult, { ok: false }>;

const PAGE = 1000;

/** Checks entries fed in seq order; pure, so it is unit-testable without a database. */
export class ChainVerifier {
  private expected = 1;
  private prevHash: Buffer = GENESIS_HASH;

  /** Entries that verified so far. */
  get count(): number {
    return this.expected - 1;
  }

  get lastHash(): Buffer {
    return this.prevHash;
  }

  private broken(seq: number, reason: Break['reason'], detail: string): Break {
    return { ok: false, firstBrokenSeq: seq, reason, detail, verified: this.count };
  }

  push(r: AuditRecord): Break | null {
    if (r.seq !== this.expected) {
      return this.broken(this.expected, 'seq_gap', `entry ${this.expected} is missing (the next entry is ${r.seq})`);
    }
    if (!KNOWN_VERSIONS.has(r.version)) {
      return this.broken(r.seq, 'unknown_version', `entry ${r.seq} has envelope version ${r.version}, unknown to this version of Gatehouse`);
    }
    if (!r.prevHash.equals(this.prevHash)) {
      return this.broken(
        r.seq,
        'prev_hash_mismatch',
        r.seq === 1
          ? 'entry 1 does not start from the genesis hash'
          : `entry ${r.seq} does not link to entry ${r.seq - 1}: one of them was rewritten`,
      );
    }
    const computed = entryHash(r);
    if (computed === undefined || !computed.equals(r.hash)) {
      return this.broken(r.seq, 'hash_mismatch', `entry ${r.seq} does not match its hash: it was altered after it was written`);
    }
    this.prevHash = r.hash;
    this.expected++;
    return null;
  }

  /** After the last entry up to the head: does the chain end where the checkpoint says? */
  finish(head: AuditHead): Break | null {
    if (this.count < head.seq) {
      return this.broken(this.expected, 'tail_cut', `the checkpoint is at entry ${head.seq} but the chain ends at entry ${this.count}: entries were deleted`);
    }
    if (!this.prevHash.equals(head.hash)) {
      return this.broken(head.seq, 'checkpoint_mismatch', `entry ${head.seq} is not the entry the checkpoint recorded: the tail was replaced`);
    }
    return null;
  }
}

/**
 * Verifies the tenant's whole chain, as gatehouse_app under row-level security (so it sees what
 * the tenant's auditors see). Reads in pages; does not hold up appenders: it checks the entries
 * up to the head read at the start (each was committed together with a head at or before it),
 * and entries appended meanwhile are left for the next run.
 */
export async function verifyAuditChain(store: Pick<Store, 'withTenant'>, tenantId: string): Promise<VerifyAuditResult> {
  return store.withTenant(tenantId, async (tx) => {
    const head = await auditRepo.readHead(tx);
    const verifier = new ChainVerifier();
    const upto = head?.seq ?? Number.MAX_SAFE_INTEGER;
    for (let after = 0; ; ) {
      const page = await auditRepo.readChain(tx, after, upto, PAGE);
      for (const r of page) {
        const broken = verifier.push(r);
        if (broken !== null) return broken;
      }
      const last = page[page.length - 1];
      if (page.length < PAGE || last === undefined) break;
      after = last.seq;
    }
    if (head === null) {
      if (verifier.count === 0) return { ok: true, entries: 0, head: { seq: 0, hash: GENESIS_HASH.toString('hex') } };
      return {
        ok: false,
        firstBrokenSeq: verifier.count + 1,
        reason: 'checkpoint_missing',
        detail: `${verifier.count} entries but no checkpoint: whether entries after ${verifier.count} were deleted cannot be told`,
        verified: verifier.count,
      };
    }
    const end = verifier.finish(head);
    if (end !== null) return end;
    // Anything visible past the head now must be covered by the head as re-read after it: an
    // append commits its entry and its head together.
    const max = await auditRepo.maxSeq(tx);
    const now = await auditRepo.readHead(tx);
    if (max !== null && now !== null && max > now.seq) {
      return {
        ok: false,
        firstBrokenSeq: now.seq + 1,
        reason: 'checkpoint_behind',
        detail: `entries up to ${max} exist past the checkpoint at ${now.seq}: they were not written by appendAudit`,
        verified: verifier.count,
      };
    }
    return { ok: true, entries: verifier.count, head: { seq: head.seq, hash: head.hash.toString('hex') } };
  });
}
