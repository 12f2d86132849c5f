/**
 * Signed chain heads: what is kept outside the database so that a cut tail or a rewritten chain
 * shows (DESIGN §12 "Audit"). The database's own checkpoint (audit_checkpoints) catches an
 * attacker who only deletes entries; an owner who also rewinds or rewrites the checkpoint leaves
 * a chain that verifies on its own. A head signed by a key derived from the master key, kept in
 * a file or by the tenant, cannot be made to agree with such a chain.
 *
 * One head is one JSON line: {v, kind, tenant_id, seq, hash, at, signed_at, key_id, signature}.
 * The signature is Ed25519 over `gatehouse.audit_head.v1\n` + the canonical JSON (RFC 8785, as
 * the entry hashes) of every other field, so field order and whitespace in the file do not
 * matter and no field can be changed or added without breaking it.
 */
import { z } from 'zod';
import type { AuditHeadSigner, AuditHeadVerifier } from '../crypto/audit-head-key.js';
import { auditRepo } from '../store/index.js';
import type { TenantTx } from '../store/index.js';
import { canonicalJson, GENESIS_HASH } from './canonical.js';

export const SIGNED_HEAD_KIND = 'gatehouse.audit_head';
const SIGNING_CONTEXT = 'gatehouse.audit_head.v1\n';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The wire form; parsed strictly, so an unknown field is refused rather than silently unsigned. */
export const signedHeadSchema = z.strictObject({
  v: z.literal(1),
  kind: z.literal(SIGNED_HEAD_KIND),
  tenant_id: z.string().regex(UUID, 'a lower-case uuid'),
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  hash: z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits'),
  /** When the head's entry was appended; null for a chain with no entry yet. */
  at: z.iso.datetime().nullable(),
  signed_at: z.iso.datetime(),
  key_id: z.string().regex(/^ed25519:[0-9a-f]{16}$/),
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, 'base64url of 64 bytes'),
});

export type SignedAuditHead = z.infer<typeof signedHeadSchema>;

export interface HeadToSign {
  tenantId: string;
  seq: number;
  hash: Buffer;
  at: Date | null;
}

function signingInput(h: Omit<SignedAuditHead, 'signature'>): Buffer {
  return Buffer.from(SIGNING_CONTEXT + canonicalJson(h), 'utf8');
}

export function signHead(signer: AuditHeadSigner, head: HeadToSign, now: Date): SignedAuditHead {
  const unsigned: Omit<SignedAuditHead, 'signature'> = {
    v: 1,
    kind: SIGNED_HEAD_KIND,
    tenant_id: head.tenantId.toLowerCase(),
    seq: head.seq,
    hash: head.hash.toString('hex'),
    at: head.at === null ? null : head.at.toISOString(),
    signed_at: now.toISOString(),
    key_id: signer.keyId,
  };
  return { ...unsigned, signature: signer.sign(signingInput(unsigned)).toString('base64url') };
}

/** Only the record's own fields are signed: anything a reader attached (a line number) is not. */
export function headSignatureValid(verifier: AuditHeadVerifier, head: SignedAuditHead): boolean {
  const { v, kind, tenant_id, seq, hash, at, signed_at, key_id, signature } = head;
  const unsigned = { v, kind, tenant_id, seq, hash, at, signed_at, key_id };
  return verifier.verify(key_id, signingInput(unsigned), Buffer.from(signature, 'base64url'));
}

/**
 * The transaction tenant's current head, signed. A chain without a checkpoint yet is the genesis
 * head (seq 0): signing it still proves the chain was empty at that time.
 */
export async function readSignedHead(tx: TenantTx, signer: AuditHeadSigner, now: Date): Promise<SignedAuditHead> {
  const head = await auditRepo.readHead(tx);
  if (head === null || head.seq === 0) return signHead(signer, { tenantId: tx.tenantId, seq: 0, hash: GENESIS_HASH, at: null }, now);
  return signHead(signer, { tenantId: tx.tenantId, seq: head.seq, hash: head.hash, at: head.at }, now);
}

export interface HeadFileProblem {
  line: number;
  message: string;
}

/** Parses a heads file (JSON lines; blank lines ignored). Lines that are not head records are problems, not skipped. */
export function parseHeadLines(text: string): { heads: Array<SignedAuditHead & { line: number }>; problems: HeadFileProblem[] } {
  const heads: Array<SignedAuditHead & { line: number }> = [];
  const problems: HeadFileProblem[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      problems.push({ line: i + 1, message: 'not JSON' });
      return;
    }
    const parsed = signedHeadSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      problems.push({ line: i + 1, message: `not a signed audit head (${issue?.path.join('.') || 'record'}: ${issue?.message ?? 'invalid'})` });
      return;
    }
    heads.push({ ...parsed.data, line: i + 1 });
  });
  return { heads, problems };
}

export function headLine(head: SignedAuditHead): string {
  return `${JSON.stringify(head)}\n`;
}
