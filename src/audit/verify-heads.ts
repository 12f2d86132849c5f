/**
 * Checking a chain against heads kept outside the database (signed-head.ts). Each head that was
 * signed by a trusted key vouches for one entry: it must still be there, with the hash it had.
 * Because each entry's hash covers the one before it, a matching hash at seq N vouches for
 * entries 1..N as well (the chain verifier checks the links).
 *
 * - a head whose seq is past the chain's last entry: the tail was cut (or the database was
 *   restored from an older backup, which loses the same entries);
 * - a head whose entry has another hash: the chain was rewritten from that entry on, or before;
 * - a head whose signature does not verify, or that names a key nobody trusts: the head file was
 *   forged or altered, and the head vouches for nothing.
 */
import type { AuditHeadVerifier } from '../crypto/audit-head-key.js';
import { auditRepo } from '../store/index.js';
import type { Store } from '../store/index.js';
import { headSignatureValid, type SignedAuditHead } from './signed-head.js';

export type HeadCheckReason =
  /** The head's entry is past the last entry in the table. */
  | 'tail_cut'
  /** The head's entry is missing although later entries exist. */
  | 'entry_missing'
  /** The entry at the head's seq has another hash. */
  | 'hash_mismatch'
  /** The signature does not verify under the key the head names. */
  | 'bad_signature'
  /** The head names a key that is not trusted (not the current or a previous master key's, nor given). */
  | 'unknown_key';

export interface HeadCheckFailure {
  tenantId: string;
  seq: number;
  /** Line in the heads file, when it came from one. */
  line: number | null;
  reason: HeadCheckReason;
  detail: string;
}

export interface HeadCheckResult {
  /** Heads whose signature verified and whose entry is in place. */
  matched: number;
  failures: HeadCheckFailure[];
  /** The highest seq a valid head vouches for, per tenant (matched or not). */
  highest: Map<string, number>;
}

type Head = SignedAuditHead & { line?: number };

/** How many seqs one query asks for. */
const BATCH = 1000;

export async function checkHeads(
  store: Pick<Store, 'withTenant'>,
  verifier: AuditHeadVerifier,
  heads: readonly Head[],
): Promise<HeadCheckResult> {
  const result: HeadCheckResult = { matched: 0, failures: [], highest: new Map() };
  const byTenant = new Map<string, Head[]>();
  for (const h of heads) {
    const line = h.line ?? null;
    if (!verifier.keyIds.includes(h.key_id)) {
      result.failures.push({
        tenantId: h.tenant_id, seq: h.seq, line, reason: 'unknown_key',
        detail: `the head for entry ${h.seq} is signed by ${h.key_id}, which is not a trusted key (trusted: ${verifier.keyIds.join(', ') || 'none'})`,
      });
      continue;
    }
    if (!headSignatureValid(verifier, h)) {
      result.failures.push({
        tenantId: h.tenant_id, seq: h.seq, line, reason: 'bad_signature',
        detail: `the head for entry ${h.seq} does not match its signature: the head file was forged or altered`,
      });
      continue;
    }
    result.highest.set(h.tenant_id, Math.max(result.highest.get(h.tenant_id) ?? 0, h.seq));
    const list = byTenant.get(h.tenant_id);
    if (list === undefined) byTenant.set(h.tenant_id, [h]);
    else list.push(h);
  }

  for (const [tenantId, list] of byTenant) {
    await store.withTenant(tenantId, async (tx) => {
      const last = (await auditRepo.maxSeq(tx)) ?? 0;
      const wanted = [...new Set(list.map((h) => h.seq).filter((s) => s > 0 && s <= last))];
      const stored = new Map<number, Buffer>();
      for (let i = 0; i < wanted.length; i += BATCH) {
        for (const [seq, hash] of await auditRepo.hashesAt(tx, wanted.slice(i, i + BATCH))) stored.set(seq, hash);
      }
      for (const h of list) {
        const line = h.line ?? null;
        const signedAt = `signed at ${h.signed_at}`;
        if (h.seq === 0) {
          result.matched++; // the genesis head: an empty chain at that time; nothing to compare
        } else if (h.seq > last) {
          result.failures.push({
            tenantId, seq: h.seq, line, reason: 'tail_cut',
            detail: `a head ${signedAt} vouches for entry ${h.seq}, but the chain ends at entry ${last}: entries ${last + 1}..${h.seq} were deleted`,
          });
        } else {
          const hash = stored.get(h.seq);
          if (hash === undefined) {
            result.failures.push({ tenantId, seq: h.seq, line, reason: 'entry_missing', detail: `entry ${h.seq}, vouched for by a head ${signedAt}, is missing` });
          } else if (hash.toString('hex') !== h.hash) {
            result.failures.push({
              tenantId, seq: h.seq, line, reason: 'hash_mismatch',
              detail: `entry ${h.seq} does not have the hash a head ${signedAt} recorded: the chain was rewritten at or before entry ${h.seq}`,
            });
          } else {
            result.matched++;
          }
        }
      }
    });
  }
  return result;
}
