/**
 * `gatehouse audit verify` through the real CLI on an embedded store: an intact chain exits 0,
 * a row altered directly in the database exits 1 naming the first broken entry.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../src/audit/index.js';
import { openStore, upsertTenantBySlug } from '../../src/store/index.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'gatehouse.js');
let dir: string;

function verify(tenant: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [BIN, 'audit', 'verify', '--tenant', tenant], {
    env: { ...process.env, GATEHOUSE_DATA_DIR: dir, GATEHOUSE_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out })));
}

async function withStore<T>(fn: (store: Awaited<ReturnType<typeof openStore>>) => Promise<T>): Promise<T> {
  const store = await openStore({ dataDir: dir });
  try {
    await store.migrate();
    return await fn(store);
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-audit-'));
  await withStore(async (store) => {
    const { tenant } = await upsertTenantBySlug(store, { slug: 'acme', name: 'Acme' });
    await store.withTenant(tenant.id, async (tx) => {
      for (let i = 0; i < 3; i++) {
        await appendAudit(tx, { actor: { kind: 'system', id: null }, action: `test.step${i}`, outcome: 'success' });
      }
    });
  });
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('gatehouse audit verify', () => {
  it('exits 0 for an intact chain and 2 for an unknown tenant', async () => {
    const ok = await verify('acme');
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/acme/);
    expect((await verify('nobody')).code).toBe(2);
  }, 120_000);

  it('exits 1 naming the first broken entry after a row is altered in the database', async () => {
    await withStore((store) =>
      store.admin((tx) => tx.query("UPDATE audit_entries SET action = 'test.forged' WHERE seq = 2", [])),
    );
    const broken = await verify('acme');
    expect(broken.code).toBe(1);
    expect(broken.out).toMatch(/BROKEN at entry 2/);
  }, 120_000);
});
