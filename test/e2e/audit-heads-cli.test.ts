/**
 * Signed audit heads and the tenant purge through the real CLI on an embedded store:
 * `audit public-key`, `audit export-head`, `audit verify --heads` (a tail cut by the owner, with
 * the checkpoint rewound so the database alone sees nothing, exits 1), and `tenants purge-due`.
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, GENESIS_HASH, headLine, parseHeadLines, signHead, verifyAuditChain } from '../../src/audit/index.js';
import { auditHeadSigner } from '../../src/crypto/audit-head-key.js';
import { scheduleTenantShred } from '../../src/crypto/shredding.js';
import { openStore, tenantsManageRepo, upsertTenantBySlug, usageRepo, type Store } from '../../src/store/index.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'gatehouse.js');
let dir: string;
let acme: string;

function cli(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, GATEHOUSE_DATA_DIR: dir, GATEHOUSE_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out, err })));
}

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ dataDir: dir });
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-heads-'));
  acme = await withStore(async (store) => {
    const { tenant } = await upsertTenantBySlug(store, { slug: 'acme', name: 'Acme' });
    await store.withTenant(tenant.id, async (tx) => {
      for (let i = 0; i < 6; i++) await appendAudit(tx, { actor: { kind: 'system', id: null }, action: `test.step${i}`, outcome: 'success' });
    });
    return tenant.id;
  });
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('gatehouse audit heads', () => {
  it('prints the public key, exports heads, and verifies an intact chain against them', async () => {
    const key = await cli('audit', 'public-key');
    expect(key.code, key.err).toBe(0);
    expect(key.out).toMatch(/^# audit head signing key ed25519:[0-9a-f]{16}\n-----BEGIN PUBLIC KEY-----\n/);
    await writeFile(join(dir, 'head.pem'), key.out); // as `audit public-key > head.pem` saves it

    const heads = join(dir, 'heads.jsonl');
    const one = await cli('audit', 'export-head', '--tenant', 'acme', '--out', heads);
    expect(one.code, one.err).toBe(0);
    const all = await cli('audit', 'export-head', '--all', '--out', heads);
    expect(all.code, all.err).toBe(0);
    const parsed = parseHeadLines(await readFile(heads, 'utf8'));
    expect(parsed.problems).toEqual([]);
    expect(parsed.heads.filter((h) => h.tenant_id === acme).map((h) => h.seq)).toEqual([6, 6]); // appended, not overwritten
    expect((await cli('audit', 'export-head', '--out', heads)).code).toBe(1); // neither --tenant nor --all

    const ok = await cli('audit', 'verify', '--heads', heads);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/tenant acme .*: OK, 6 entries verified/);
    expect(key.out).toContain((await readFile(join(dir, 'head.pem'), 'utf8')).trim());

    // A head signed under a master key this installation no longer has (rotated out long ago):
    // untrusted, unless its public key is given.
    const old = auditHeadSigner(randomBytes(32));
    const oldHeads = join(dir, 'old-heads.jsonl');
    await writeFile(oldHeads, headLine(signHead(old, { tenantId: acme, seq: 0, hash: GENESIS_HASH, at: null }, new Date())));
    await writeFile(join(dir, 'old.pem'), old.publicKeyPem);
    const untrusted = await cli('audit', 'verify', '--heads', oldHeads);
    expect(untrusted.code).toBe(1);
    expect(untrusted.err).toMatch(/FORGED HEADS[\s\S]*not a trusted key/);
    const trusted = await cli('audit', 'verify', '--heads', oldHeads, '--public-key', join(dir, 'old.pem'), join(dir, 'head.pem'));
    expect(trusted.code, trusted.err).toBe(0);
  }, 300_000);

  it('exits 1 with "cut tail" once the owner deleted the last entries and rewound the checkpoint', async () => {
    const heads = join(dir, 'heads.jsonl');
    await withStore((store) =>
      store.admin(async (tx) => {
        await tx.query("SELECT set_config('app.tenant_id', $1, true)", [acme]);
        await tx.query('DELETE FROM audit_entries WHERE tenant_id = $1 AND seq > 4', [acme]);
        const { rows } = await tx.query<{ hash: Buffer }>('SELECT hash FROM audit_entries WHERE tenant_id = $1 AND seq = 4', [acme]);
        await tx.query('ALTER TABLE audit_checkpoints DISABLE TRIGGER audit_checkpoint_forward_only');
        await tx.query('UPDATE audit_checkpoints SET seq = 4, hash = $2 WHERE tenant_id = $1', [acme, rows[0]?.hash]);
        await tx.query('ALTER TABLE audit_checkpoints ENABLE TRIGGER audit_checkpoint_forward_only');
      }),
    );
    expect(await withStore((store) => verifyAuditChain(store, acme))).toMatchObject({ ok: true, entries: 4 });
    expect((await cli('audit', 'verify', '--tenant', 'acme')).code).toBe(0); // the database alone cannot tell
    const cut = await cli('audit', 'verify', '--heads', heads, '--tenant', 'acme');
    expect(cut.code).toBe(1);
    expect(cut.err).toMatch(/CUT TAIL DETECTED/);
    expect(cut.err).toMatch(/entries 5\.\.6 were deleted/);
  }, 300_000);
});

describe('gatehouse tenants purge-due', () => {
  it('purges a deleted, shredded tenant; one with unbilled usage waits (exit 1) unless --include-unbilled', async () => {
    const gone = await withStore(async (store) => {
      const { tenant } = await upsertTenantBySlug(store, { slug: 'gone', name: 'Gone' });
      await store.withTenant(tenant.id, async (tx) => {
        await usageRepo.ingest(tx, [
          {
            tenantId: tenant.id, eventId: '0b8f5a52-6a5e-4d8e-9a57-3d7c1c6f0a11', requestId: 'r1', occurredAt: Date.now(), teamId: null, keyId: null,
            endUser: null, tags: [], model: 'gpt-4o', deploymentId: null, provider: null, region: null, inputTokens: 1, outputTokens: 1,
            cachedTokens: 0, costMicros: 1, priceVersion: null, latencyMs: 1, ttftMs: null, status: 200, streamed: false,
            clientAborted: false, usageEstimated: false, cacheHit: false,
          },
        ]);
        await tenantsManageRepo.markForDeletion(tx);
        await scheduleTenantShred(tx, { graceMs: 0 });
      });
      return tenant.id;
    });
    const shred = await cli('keys', 'shred-due');
    expect(shred.code, shred.err).toBe(0);
    expect(shred.out).toMatch(new RegExp(`tenant ${gone}: 0 data keys destroyed`));
    const waits = await cli('tenants', 'purge-due');
    expect(waits.code).toBe(1);
    expect(waits.err).toMatch(new RegExp(`tenant ${gone}: not purged, it has usage no issued invoice covers`));
    const purged = await cli('tenants', 'purge-due', '--include-unbilled');
    expect(purged.code, purged.err).toBe(0);
    expect(purged.out).toMatch(new RegExp(`tenant ${gone}: \\d+ rows deleted from \\d+ tables`));
    expect((await cli('tenants', 'purge-due')).out).toMatch(/no shredded tenant is waiting to be purged/);
    const left = await withStore((store) =>
      store.admin(async (tx) => {
        await tx.query("SELECT set_config('app.tenant_id', $1, true)", [gone]);
        return (await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM usage_events WHERE tenant_id = $1', [gone])).rows[0]?.n;
      }),
    );
    expect(left).toBe(0);
  }, 300_000);
});
