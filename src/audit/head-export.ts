/**
 * Exporting signed chain heads outside the database: once (`gatehouse audit export-head`) or
 * periodically from the gateway (`audit.headExport`), appending to a file the database owner is
 * not meant to reach (another volume, a WORM bucket mount, a log shipper's input).
 *
 * Each head is read in its tenant's own transaction as gatehouse_app: the platform role has no
 * grant on the audit tables (0004_audit.ts), and a head is cheap to read (one primary-key row).
 */
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { periodicRounds } from '../periodic.js';
import type { AuditHeadSigner } from '../crypto/audit-head-key.js';
import { PLATFORM_SCOPE_ID } from '../identity/roles.js';
import type { Logger } from '../observability/logger.js';
import { dataKeysAdminRepo } from '../store/index.js';
import type { Store } from '../store/index.js';
import { headLine, readSignedHead, type SignedAuditHead } from './signed-head.js';

/** The file the periodic export appends to, inside `audit.headExport.dir`. */
export const HEADS_FILE = 'audit-heads.jsonl';

/** Every chain there is: each tenant's (deleted and purged ones too: their rows stay) and the platform scope's. */
export async function auditChainIds(store: Pick<Store, 'platform'>): Promise<string[]> {
  const tenants = await store.platform((tx) => dataKeysAdminRepo.listTenantIds(tx));
  return [PLATFORM_SCOPE_ID, ...tenants.filter((id) => id !== PLATFORM_SCOPE_ID)];
}

export async function signedHeads(
  store: Pick<Store, 'withTenant'>,
  signer: AuditHeadSigner,
  chainIds: readonly string[],
  now: () => Date = () => new Date(),
): Promise<SignedAuditHead[]> {
  const out: SignedAuditHead[] = [];
  for (const id of chainIds) out.push(await store.withTenant(id, (tx) => readSignedHead(tx, signer, now())));
  return out;
}

/** Appends `text` with one write and syncs it: a head that was reported written is on disk. */
export async function appendDurably(file: string, text: string): Promise<void> {
  const fh = await open(file, 'a', 0o600);
  try {
    await fh.write(text);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

export interface HeadExportOptions {
  store: Pick<Store, 'withTenant' | 'platform'>;
  signer: AuditHeadSigner;
  dir: string;
  intervalMs: number;
  logger: Pick<Logger, 'info' | 'error'>;
  now?: () => Date;
}

export interface HeadExport {
  /** One round now: appends the heads that moved since the last round; resolves with how many. */
  runOnce(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Every `intervalMs`, appends the signed head of each chain that moved since this process last
 * wrote it (all of them on the first round), so the file grows with activity, not with time.
 */
export function startHeadExport(opts: HeadExportOptions): HeadExport {
  const file = join(opts.dir, HEADS_FILE);
  const written = new Map<string, number>();
  // Rounds run one after another, including runOnce() beside the timer's: two at once would
  // both see a head as unwritten and append it twice.
  let last: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = last.then(fn, fn);
    last = run.catch(() => undefined);
    return run;
  };
  const rounds = periodicRounds(
    (stopped) => serial(async () => {
      await mkdir(opts.dir, { recursive: true, mode: 0o700 });
      const lines: string[] = [];
      const moved: Array<[string, number]> = [];
      for (const id of await auditChainIds(opts.store)) {
        if (stopped()) break;
        const [head] = await signedHeads(opts.store, opts.signer, [id], opts.now);
        if (head === undefined || written.get(id) === head.seq) continue;
        lines.push(headLine(head));
        moved.push([id, head.seq]);
      }
      if (lines.length === 0) return 0;
      await appendDurably(file, lines.join(''));
      for (const [id, seq] of moved) written.set(id, seq);
      return lines.length;
    }),
    { intervalMs: opts.intervalMs, onError: (err) => opts.logger.error({ err }, 'audit head export failed; retried next round') },
  );
  rounds.start();
  return { runOnce: () => rounds.runOnce(), close: () => rounds.stop() };
}
