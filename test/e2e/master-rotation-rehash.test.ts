/**
 * After a master-key rotation, API keys and admin keys hashed with the previous key move onto
 * the new one on first use, so the previous key can be dropped afterwards. Three gateway runs
 * on one embedded store: before, during (both keys) and after the rotation (new key only).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_KEY, client, makeTenant, str } from '../integration/admin/helpers.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const OLD = randomBytes(32).toString('base64');
const NEW = randomBytes(32).toString('base64');

let dir: string | undefined;
afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function run(env: Record<string, string>, dataDir: string): Promise<TestGateway> {
  return startTestGateway({ env: { GATEHOUSE_ADMIN_KEY: BOOTSTRAP_KEY, GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_LOG_LEVEL: 'silent', ...env } });
}

async function chat(gw: TestGateway, key: string): Promise<number> {
  const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  await res.text();
  return res.status;
}

describe('keys hashed before a master-key rotation move onto the new key on first use', () => {
  it('used keys keep working once the previous master key is dropped; unused ones do not', async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-rehash-'));
    const dataDir = join(dir, 'data');

    const before = await run({ GATEHOUSE_MASTER_KEY: OLD }, dataDir);
    const tenant = await makeTenant(client(before, BOOTSTRAP_KEY), 'rehash');
    const admin = client(before, tenant.admin);
    const used = str((await admin('POST', '/tenants/rehash/api-keys', { body: { name: 'used' } })).json.key);
    const idle = str((await admin('POST', '/tenants/rehash/api-keys', { body: { name: 'idle' } })).json.key);
    expect(await chat(before, used)).toBe(200);
    await before.stop();

    const during = await run({ GATEHOUSE_MASTER_KEY: NEW, GATEHOUSE_MASTER_KEY_PREVIOUS: OLD }, dataDir);
    expect(await chat(during, used)).toBe(200);
    expect((await client(during, tenant.admin)('GET', '/tenants/rehash/teams')).status).toBe(200);
    await during.stop(); // flushes the pending moves

    const after = await run({ GATEHOUSE_MASTER_KEY: NEW }, dataDir);
    try {
      expect(await chat(after, used)).toBe(200);
      expect((await client(after, tenant.admin)('GET', '/tenants/rehash/teams')).status).toBe(200);
      // Never used during the rotation: still under the dropped key, so refused.
      expect(await chat(after, idle)).toBe(401);
    } finally {
      await after.stop();
    }
  });
});
