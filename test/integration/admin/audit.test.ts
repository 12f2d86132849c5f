/**
 * Admin changes in the audit log (through src/audit): every change appends an entry with who,
 * what, target, source and request id, never a secret; auditors and tenant admins read their
 * tenant's log (and the read is itself audited); the JSON-lines export verifies as a chain.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { appendAudit, headLine, headSignatureValid, runAuditVerifyHeads, signedHeadSchema } from '../../../src/audit/index.js';
import { auditHeadSigner, auditHeadVerifier } from '../../../src/crypto/audit-head-key.js';
import { parseMasterKey } from '../../../src/crypto/master-key.js';
import type { TestGateway } from '../../helpers/gateway.js';
import { BOOTSTRAP_KEY, client, envelope, makeTenant, roleKey, startAdminGateway, str, type Client } from './helpers.js';

interface Entry {
  seq: number;
  action: string;
  actor_kind: string;
  actor_id: string | null;
  target_kind: string | null;
  target_id: string | null;
  request_id: string | null;
  source_ip: string | null;
  after: unknown;
}

let gw: TestGateway;
let platform: Client;
let tenant: { id: string; slug: string; admin: string };
let admin: Client;
let secret: string;

beforeAll(async () => {
  gw = await startAdminGateway();
  platform = client(gw, BOOTSTRAP_KEY);
  tenant = await makeTenant(platform, 'audited');
  admin = client(gw, tenant.admin);
  await admin('POST', `/tenants/${tenant.id}/teams`, { body: { slug: 'core' } });
  const k = await admin('POST', `/tenants/${tenant.id}/api-keys`, { body: { name: 'app' }, headers: { 'x-request-id': 'req-create-key-1' } });
  secret = str(k.json.key);
  await admin('POST', `/tenants/${tenant.id}/api-keys/${str(k.json.id)}/rotate`);
});
afterAll(async () => {
  await gw?.stop();
});

async function entries(c: Client, query = ''): Promise<Entry[]> {
  const r = await c('GET', `/tenants/${tenant.id}/audit?order=asc&limit=1000${query}`);
  expect(r.status, r.text).toBe(200);
  return r.json.data as Entry[];
}

describe('admin changes in the audit log', () => {
  it('records each change with actor, target, request id and source address', async () => {
    const log = await entries(admin);
    expect(log.map((e) => e.action)).toEqual(
      expect.arrayContaining(['tenant.create', 'admin_key.create', 'team.create', 'api_key.create', 'api_key.rotate']),
    );
    const create = log.find((e) => e.action === 'tenant.create');
    expect(create).toMatchObject({ actor_kind: 'platform_admin', actor_id: 'bootstrap', target_kind: 'tenant', target_id: tenant.id });
    const key = log.find((e) => e.action === 'api_key.create');
    expect(key).toMatchObject({ actor_kind: 'api_key', request_id: 'req-create-key-1', target_kind: 'api_key' });
    expect(key?.actor_id).toMatch(/^admin_key:/);
    expect(key?.source_ip).toMatch(/127\.0\.0\.1/);
  });

  it('never contains a secret, in any entry or the export', async () => {
    const exported = await admin('GET', `/tenants/${tenant.id}/audit.jsonl`);
    expect(exported.status).toBe(200);
    expect(exported.headers['content-type']).toBe('application/x-ndjson');
    for (const text of [exported.text, JSON.stringify(await entries(admin))]) {
      expect(text).not.toContain(secret.slice(12));
      expect(text).not.toContain(tenant.admin.slice(40));
      expect(text).not.toContain(BOOTSTRAP_KEY);
    }
  });

  it('exports the chain in order, each entry linked to the one before', async () => {
    const r = await admin('GET', `/tenants/${tenant.id}/audit.jsonl`);
    const lines = r.text.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string; prev_hash: string });
    expect(lines.length).toBeGreaterThan(4);
    lines.forEach((l, i) => {
      expect(l.seq).toBe(i + 1);
      if (i > 0) expect(l.prev_hash).toBe(lines[i - 1]?.hash);
    });
  });

  it('tenant auditors and platform auditors read it; reading is itself audited; others may not', async () => {
    const auditor = client(gw, await roleKey(admin, tenant.id, 'tenant_auditor'));
    const before = (await entries(admin)).length;
    await entries(auditor);
    const pa = await platform('POST', '/admin-keys', { body: { name: 'aud', role: 'platform_auditor' } });
    await entries(client(gw, str(pa.json.key)));
    const after = await entries(admin);
    expect(after.filter((e) => e.action === 'audit.read').length).toBeGreaterThanOrEqual(3);
    expect(after.length).toBeGreaterThan(before);
    envelope(await platform('GET', `/tenants/${tenant.id}/audit`), 403, 'forbidden');
    envelope(await client(gw, await roleKey(admin, tenant.id, 'tenant_viewer'))('GET', `/tenants/${tenant.id}/audit`), 403, 'forbidden');
    envelope(await auditor('GET', `/tenants/${tenant.id}/teams`), 403, 'forbidden');
  });

  it('filters by action and refuses a malformed filter', async () => {
    const only = await entries(admin, '&action=api_key.*');
    expect(only.length).toBeGreaterThan(0);
    expect(only.every((e) => e.action.startsWith('api_key.'))).toBe(true);
    envelope(await admin('GET', `/tenants/${tenant.id}/audit?action=DROP TABLE`), 400, 'invalid_request');
    envelope(await admin('GET', `/tenants/${tenant.id}/audit?cursor=forged`), 400, 'invalid_request');
  });

  it('streams a large export page by page, without holding the log: changes go on while a client reads slowly', async () => {
    // ~3,000 entries of ~1.5 KB: several MB, far more than socket buffers hold.
    const filler = 'x'.repeat(1500);
    for (let i = 0; i < 15; i++) {
      await gw.store.withTenant(tenant.id, async (tx) => {
        for (let j = 0; j < 200; j++) {
          await appendAudit(tx, { actor: { kind: 'system', id: 'seed' }, action: 'test.bulk', outcome: 'success', after: { i, j, filler } });
        }
      });
    }
    const res = await request(`${gw.url}/admin/v1/tenants/${tenant.id}/audit.jsonl`, { headers: { authorization: `Bearer ${tenant.admin}` } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.headers['transfer-encoding']).toBe('chunked');
    const body = res.body;
    const chunks: Buffer[] = [];
    const first = await new Promise<Buffer>((resolve) => body.once('data', resolve));
    chunks.push(first);
    body.pause(); // a slow client: the gateway waits for it, between pages
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const team = await admin('POST', `/tenants/${tenant.id}/teams`, { body: { slug: 'during-export' } });
    expect(team.status, team.text).toBe(201);
    expect(Date.now() - started).toBeLessThan(10_000);
    body.on('data', (c: Buffer) => chunks.push(c));
    body.resume();
    await new Promise((resolve) => body.once('end', resolve));
    const lines = Buffer.concat(chunks).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; action: string; prev_hash: string; hash: string });
    expect(lines.filter((l) => l.action === 'test.bulk')).toHaveLength(3000);
    lines.forEach((l, i) => {
      expect(l.seq).toBe(i + 1);
      if (i > 0) expect(l.prev_hash).toBe(lines[i - 1]?.hash);
    });
    // The export stops at the head it started from: the change made meanwhile is after it.
    const created = (await entries(admin, '&action=team.create')).find((e) => e.target_id === str(team.json.id));
    expect(created?.seq).toBeGreaterThan(lines[lines.length - 1]?.seq ?? Infinity);
  }, 120_000);

  it('a client that leaves mid-export does not disturb the gateway', async () => {
    const res = await request(`${gw.url}/admin/v1/tenants/${tenant.id}/audit.jsonl`, { headers: { authorization: `Bearer ${tenant.admin}` } });
    await new Promise((resolve) => res.body.once('data', resolve));
    res.body.destroy();
    expect((await admin('GET', '/whoami')).status).toBe(200);
    const again = await admin('GET', `/tenants/${tenant.id}/audit.jsonl?action=test.bulk&limit=10`);
    expect(again.text.trim().split('\n')).toHaveLength(10);
  }, 60_000);

  it("hands out the chain's signed head: it verifies under the master key's head key, matches the chain, and reading it writes nothing", async () => {
    const master = parseMasterKey(await readFile(join(gw.dir, 'data', 'master.key'), 'utf8'), 'master.key');
    const verifier = auditHeadVerifier([auditHeadSigner(master)]);
    const r = await admin('GET', `/tenants/${tenant.id}/audit/head`);
    expect(r.status, r.text).toBe(200);
    const head = signedHeadSchema.parse(r.json);
    expect(head).toMatchObject({ tenant_id: tenant.id, kind: 'gatehouse.audit_head' });
    expect(head.seq).toBeGreaterThan(3);
    expect(headSignatureValid(verifier, head)).toBe(true);
    expect(headSignatureValid(auditHeadVerifier([auditHeadSigner(Buffer.alloc(32, 1))]), head)).toBe(false);
    // Not audited: asking again gives the same head.
    expect(signedHeadSchema.parse((await admin('GET', `/tenants/${tenant.id}/audit/head`)).json).seq).toBe(head.seq);
    const exported = await admin('GET', `/tenants/${tenant.id}/audit.jsonl`);
    const line = exported.text.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; hash: string }).find((e) => e.seq === head.seq);
    expect(line?.hash).toBe(head.hash);
    // A tenant's own copy is a heads file the operator's verify accepts.
    const checked = await runAuditVerifyHeads(gw.store, verifier, headLine(head));
    expect(checked.exitCode, checked.report).toBe(0);
    // Auditors of the tenant and of the platform read it; the platform scope has its own.
    const auditor = client(gw, await roleKey(admin, tenant.id, 'tenant_auditor'));
    expect((await auditor('GET', `/tenants/${tenant.id}/audit/head`)).status).toBe(200);
    const p = await platform('POST', '/admin-keys', { body: { name: 'aud', role: 'platform_auditor' } });
    const platformAuditor = client(gw, str(p.json.key));
    const ph = await platformAuditor('GET', '/platform/audit/head');
    expect(ph.status, ph.text).toBe(200);
    expect(ph.json).toMatchObject({ tenant_id: '00000000-0000-0000-0000-000000000000' });
    expect(headSignatureValid(verifier, signedHeadSchema.parse(ph.json))).toBe(true);
    envelope(await client(gw, await roleKey(admin, tenant.id, 'tenant_developer'))('GET', `/tenants/${tenant.id}/audit/head`), 403, 'forbidden');
  });
});
