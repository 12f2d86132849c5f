/**
 * `gatehouse keys ...` through the real CLI on an embedded store, around real gateway starts:
 * a master-key rotation leaves every secret readable with the new key alone, and the gateway
 * started with the new key (old one as previous) keeps serving the keys made before; a data-key
 * rotation moves a tenant's secrets onto the new version; shred-due destroys what is due; and
 * failures exit non-zero with a message saying what to do.
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../src/app.js';
import { recordToEntry } from '../../src/audit/index.js';
import { loadConfig } from '../../src/config/load.js';
import { tenantSealer } from '../../src/crypto/envelope.js';
import { processKeyring } from '../../src/crypto/process-keyring.js';
import { scheduleTenantShred } from '../../src/crypto/shredding.js';
import { DecryptError } from '../../src/crypto/tenant-crypto-errors.js';
import { PLATFORM_SCOPE_ID } from '../../src/identity/roles.js';
import { auditRepo, openStore, providerCredentialsRepo, type Store } from '../../src/store/index.js';
import { BOOTSTRAP_KEY, client, makeTenant, str } from '../integration/admin/helpers.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'gatehouse.js');
const OLD = randomBytes(32);
const NEW = randomBytes(32);
const SECRET = `sk-provider-canary-${randomBytes(8).toString('hex')}`;

let dir: string;
let tenant: { id: string; slug: string; admin: string };
let credentialId: string;
let apiKey: string;

const baseEnv = (): Record<string, string> => ({
  GATEHOUSE_DATA_DIR: join(dir, 'data'),
  GATEHOUSE_HOST: '127.0.0.1',
  GATEHOUSE_PORT: '0',
  GATEHOUSE_LOG_LEVEL: 'silent',
  // The demo's mock deployments give the data plane a model; its tenant is a second tenant.
  GATEHOUSE_DEMO_KEY: 'ghk_demo0000_keyscliteststhedemotenant0000000000',
  GATEHOUSE_ADMIN_KEY: BOOTSTRAP_KEY,
  GATEHOUSE_SHUTDOWN_GRACE_MS: '500',
});

function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
  const { GATEHOUSE_MASTER_KEY: _m, GATEHOUSE_MASTER_KEY_PREVIOUS: _p, GATEHOUSE_MASTER_KEY_FILE: _f, ...inherited } = process.env;
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out, err })));
}

async function withGateway<T>(env: Record<string, string>, fn: (url: string) => Promise<T>): Promise<T> {
  const sink = new Writable({ write: (_c, _e, done) => done() });
  const gw = await startGateway(await loadConfig({ env, cwd: dir }), { env, logDestination: sink });
  try {
    return await fn(gw.url);
  } finally {
    await gw.close();
  }
}

async function withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore({ dataDir: join(dir, 'data') });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** The provider credential's secret, decrypted with a keyring of exactly these master keys. */
function readSecret(store: Store, master: Buffer, previous: Buffer[] = []): Promise<string | null> {
  const sealer = tenantSealer(processKeyring(master, previous));
  return store.withTenant(tenant.id, (tx) => providerCredentialsRepo.readSecret(tx, sealer, credentialId));
}

async function actions(store: Store, scope: string): Promise<string[]> {
  const rows = await store.withTenant(scope, (tx) => auditRepo.readChain(tx, 0, Number.MAX_SAFE_INTEGER, 1000));
  return rows.map(recordToEntry).map((e) => e.action);
}

async function chat(url: string, key: string): Promise<number> {
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.body.text();
  return res.statusCode;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-keys-'));
  const env = { ...baseEnv(), GATEHOUSE_MASTER_KEY: OLD.toString('base64') };
  await withGateway(env, async (url) => {
    const platform = client({ url }, BOOTSTRAP_KEY);
    tenant = await makeTenant(platform, 'acme');
    const admin = client({ url }, tenant.admin);
    const cred = await admin('POST', `/tenants/${tenant.slug}/provider-credentials`, { body: { name: 'openai-main', provider: 'openai', secret: SECRET } });
    expect(cred.status, cred.text).toBe(201);
    credentialId = str(cred.json.id);
    const key = await admin('POST', `/tenants/${tenant.slug}/api-keys`, { body: { name: 'app' } });
    expect(key.status, key.text).toBe(201);
    apiKey = str(key.json.key);
  });
}, 180_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('gatehouse keys', () => {
  it('rotate-master re-wraps every data key: the new master key alone reads the secrets, the old one no longer does', async () => {
    const r = await cli(['keys', 'rotate-master'], {
      ...baseEnv(),
      GATEHOUSE_MASTER_KEY: NEW.toString('base64'),
      GATEHOUSE_MASTER_KEY_PREVIOUS: OLD.toString('hex'),
    });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^1 data keys of 2 tenants re-wrapped$/m);
    expect(r.out).toContain(`tenant ${tenant.id}: 1 re-wrapped`);
    expect(r.out).not.toContain(SECRET);
    await withStore(async (store) => {
      expect(await readSecret(store, NEW)).toBe(SECRET);
      await expect(readSecret(store, OLD)).rejects.toBeInstanceOf(DecryptError);
      expect(await actions(store, PLATFORM_SCOPE_ID)).toContain('master_key.rotate');
    });
    // Idempotent: nothing left to re-wrap.
    const again = await cli(['keys', 'rotate-master'], { ...baseEnv(), GATEHOUSE_MASTER_KEY: NEW.toString('base64'), GATEHOUSE_MASTER_KEY_PREVIOUS: OLD.toString('base64') });
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/^0 data keys of 2 tenants re-wrapped$/m);
  }, 180_000);

  it('a gateway started with the new key and the old one as previous serves the keys made before', async () => {
    const env = { ...baseEnv(), GATEHOUSE_MASTER_KEY: NEW.toString('base64'), GATEHOUSE_MASTER_KEY_PREVIOUS: OLD.toString('base64') };
    await withGateway(env, async (url) => {
      const admin = client({ url }, tenant.admin);
      expect((await admin('GET', '/whoami')).status).toBe(200);
      const cred = await admin('GET', `/tenants/${tenant.slug}/provider-credentials/${credentialId}`);
      expect(cred.status, cred.text).toBe(200);
      expect(cred.text).not.toContain(SECRET);
      expect(await chat(url, apiKey)).toBe(200);
    });
  }, 180_000);

  it('rotate-master exits 1 naming what to do when a data key is under a master key it was not given', async () => {
    const r = await cli(['keys', 'rotate-master'], { ...baseEnv(), GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64') });
    expect(r.code).toBe(1);
    expect(r.err).toContain(`tenant ${tenant.id} data key version 1`);
    expect(r.err).toContain('GATEHOUSE_MASTER_KEY_PREVIOUS');
    await withStore(async (store) => expect(await readSecret(store, NEW)).toBe(SECRET)); // untouched
  }, 180_000);

  it('rotate-data-key makes a new version and re-encrypts the tenant secrets onto it; an unknown tenant exits 2', async () => {
    const env = { ...baseEnv(), GATEHOUSE_MASTER_KEY: NEW.toString('base64') };
    const r = await cli(['keys', 'rotate-data-key', '--tenant', tenant.slug], env);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('data key version 2 is now active');
    expect(r.out).toContain('provider_credentials: 1 re-encrypted');
    await withStore(async (store) => {
      const meta = await store.withTenant(tenant.id, (tx) => providerCredentialsRepo.get(tx, credentialId));
      expect(meta?.keyVersion).toBe(2);
      expect(await readSecret(store, NEW)).toBe(SECRET);
      expect(await actions(store, tenant.id)).toEqual(expect.arrayContaining(['data_key.rotate', 'data_key.reencrypt']));
    });
    const missing = await cli(['keys', 'rotate-data-key', '--tenant', 'nobody'], env);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('no tenant "nobody"');
  }, 180_000);

  it('shred-due destroys only what is due: then the tenant secrets are unreadable', async () => {
    const env = { ...baseEnv(), GATEHOUSE_MASTER_KEY: NEW.toString('base64') };
    const idle = await cli(['keys', 'shred-due'], env);
    expect([idle.code, idle.out]).toEqual([0, 'no deleted tenant is past its grace period\n']);
    await withStore((store) => store.withTenant(tenant.id, (tx) => scheduleTenantShred(tx, { graceMs: 0 })));
    const r = await cli(['keys', 'shred-due'], env);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`tenant ${tenant.id}: 2 data keys destroyed`);
    await withStore(async (store) => {
      const err = await readSecret(store, NEW).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DecryptError);
      expect((err as DecryptError).reason).toBe('key_destroyed');
    });
  }, 180_000);
});
