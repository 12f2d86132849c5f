/** The chain checks without a database: each kind of break, on hand-built chains. */
import { describe, expect, it } from 'vitest';
import { ChainVerifier, entryHash, GENESIS_HASH } from '../../../src/audit/index.js';
import type { AuditRecord } from '../../../src/store/index.js';
import { record } from './fixtures.js';

function chain(n: number): AuditRecord[] {
  const out: AuditRecord[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const r = record({ seq, prevHash: prev, after: { n: seq } });
    const hash = entryHash(r) ?? Buffer.alloc(32);
    out.push({ ...r, hash });
    prev = hash;
  }
  return out;
}

function run(records: AuditRecord[], head?: { seq: number; hash: Buffer }) {
  const v = new ChainVerifier();
  for (const r of records) {
    const broken = v.push(r);
    if (broken !== null) return broken;
  }
  return head === undefined ? null : v.finish({ ...head, at: new Date() });
}

const headOf = (records: AuditRecord[]) => {
  const last = records[records.length - 1];
  return { seq: last?.seq ?? 0, hash: last?.hash ?? GENESIS_HASH };
};

describe('ChainVerifier', () => {
  it('accepts an intact chain ending at the head', () => {
    const c = chain(5);
    expect(run(c, headOf(c))).toBeNull();
    expect(run([], { seq: 0, hash: GENESIS_HASH })).toBeNull();
  });

  it('hash mismatch: content changed after hashing', () => {
    const c = chain(5);
    c[2] = { ...(c[2] as AuditRecord), after: { n: 99 } };
    expect(run(c, headOf(c))).toMatchObject({ firstBrokenSeq: 3, reason: 'hash_mismatch', verified: 2 });
  });

  it('prev_hash mismatch: an entry rewritten with a fresh hash breaks the next link', () => {
    const c = chain(5);
    const forged = record({ seq: 3, prevHash: c[1]?.hash ?? GENESIS_HASH, after: { n: -1 } });
    c[2] = { ...forged, hash: entryHash(forged) ?? Buffer.alloc(32) };
    expect(run(c, headOf(c))).toMatchObject({ firstBrokenSeq: 4, reason: 'prev_hash_mismatch' });
    const first = chain(1);
    first[0] = { ...(first[0] as AuditRecord), prevHash: Buffer.alloc(32, 1) };
    expect(run(first)).toMatchObject({ firstBrokenSeq: 1, reason: 'prev_hash_mismatch' });
  });

  it('gap: a missing middle or first entry', () => {
    const c = chain(5);
    expect(run([...c.slice(0, 2), ...c.slice(3)], headOf(c))).toMatchObject({ firstBrokenSeq: 3, reason: 'seq_gap', verified: 2 });
    expect(run(c.slice(1), headOf(c))).toMatchObject({ firstBrokenSeq: 1, reason: 'seq_gap', verified: 0 });
  });

  it('tail cut and replaced tail, against the head', () => {
    const c = chain(5);
    expect(run(c.slice(0, 3), headOf(c))).toMatchObject({ firstBrokenSeq: 4, reason: 'tail_cut', verified: 3 });
    expect(run(c, { seq: 5, hash: Buffer.alloc(32, 9) })).toMatchObject({ firstBrokenSeq: 5, reason: 'checkpoint_mismatch' });
  });

  it('an unknown version is not trusted', () => {
    const c = chain(2);
    c[1] = { ...(c[1] as AuditRecord), version: 7 };
    expect(run(c)).toMatchObject({ firstBrokenSeq: 2, reason: 'unknown_version' });
  });
});
