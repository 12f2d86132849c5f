/**
 * `gatehouse billing close-period` through the real CLI on an embedded store: it issues the
 * ended month's invoice from the rollups, is idempotent, leaves out a tenant created after the
 * month ended (and says so), and refuses a malformed period.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { billingRepo, openStore, upsertTenantBySlug, usageRepo } from '../../src/store/index.js';
import { BIN } from '../helpers/cli.js';

let dir: string;
let tenantId: string;
let lateId: string;

function closePeriod(...args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [BIN, 'billing', 'close-period', ...args], {
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
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-billing-'));
  await withStore(async (store) => {
    const { tenant } = await upsertTenantBySlug(store, { slug: 'acme', name: 'Acme' });
    tenantId = tenant.id;
    // acme existed in January 2026; `late` was created after it ended.
    lateId = (await upsertTenantBySlug(store, { slug: 'late', name: 'Late' })).tenant.id;
    await store.admin(async (tx) => {
      await tx.query("UPDATE tenants SET created_at = '2025-12-15T00:00:00Z' WHERE id = $1", [tenant.id]);
      await tx.query("UPDATE tenants SET created_at = '2026-02-01T00:00:00Z' WHERE id = $1", [lateId]);
    });
    await store.withTenant(tenant.id, (tx) =>
      usageRepo.ingest(tx, [
        {
          tenantId: tenant.id, eventId: randomUUID(), requestId: 'r1', occurredAt: Date.parse('2026-01-15T12:00:00Z'), teamId: null,
          keyId: null, endUser: null, tags: [], model: 'gpt-x', deploymentId: null, provider: null, region: null, inputTokens: 10,
          outputTokens: 10, cachedTokens: 0, costMicros: 1_234_567, priceVersion: null, latencyMs: 5, ttftMs: null, status: 200,
          streamed: false, clientAborted: false, usageEstimated: false, cacheHit: false,
        },
      ]),
    );
  });
}, 120_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('gatehouse billing close-period', () => {
  it('issues the ended month once, from the rollups', async () => {
    const first = await closePeriod('--period', '2026-01');
    expect(first.out).toMatch(/1 issued, 0 already issued/);
    expect(first.code).toBe(0);
    const again = await closePeriod('--period', '2026-01');
    expect(again.out).toMatch(/0 issued, 1 already issued/);
    const inv = await withStore((store) => store.withTenant(tenantId, (tx) => billingRepo.invoiceByPeriod(tx, '2026-01')));
    expect(inv?.totalCents).toBe(123); // 1,234,567 micros = 123.4567 cents, half-up once
  }, 180_000);

  it('leaves out a tenant created after the named month ended, and says so', async () => {
    const r = await closePeriod('--period', '2026-01');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/2026-01: 0 issued, 1 already issued, 0 not ended yet, 1 not billed \(created after the month ended\) \(2 tenants\)/);
    const invoices = await withStore((store) => store.withTenant(lateId, (tx) => billingRepo.invoices(tx)));
    expect(invoices).toEqual([]);
  }, 120_000);

  it('refuses a malformed period', async () => {
    const bad = await closePeriod('--period', '2026-13');
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/YYYY-MM/);
  }, 120_000);
});
