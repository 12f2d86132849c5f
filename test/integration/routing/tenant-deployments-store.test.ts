/**
 * Dedicated deployments in the store (migration 0012, PGlite): the credential reference cannot
 * cross tenants even below the repositories, a credential in use cannot be deleted, and the
 * snapshot loader opens each tenant's secrets in that tenant's own transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tenantSealer } from '../../../src/crypto/envelope.js';
import { createKeyring } from '../../../src/crypto/keyring.js';
import { localKms } from '../../../src/crypto/kms.js';
import { compileOutboundPolicy, outboundGuard } from '../../../src/routing/ssrf.js';
import { encodeAwsCredential } from '../../../src/routing/tenant-credentials.js';
import { providerCredentialsRepo, tenantDeploymentsRepo, upsertTenantBySlug, type Store, type TenantDeploymentInput } from '../../../src/store/index.js';
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { loadTenantModels, tenantModelsReader } from '../../../src/tenancy/tenant-models.js';

const sealer = tenantSealer(createKeyring(localKms(Buffer.alloc(32, 7))));
let store: Store;
let a: string;
let b: string;
let credA: string;

const input = (over: Partial<TenantDeploymentInput> = {}): TenantDeploymentInput => ({
  model: 'own-llm',
  kind: 'chat',
  provider: 'openai-compatible',
  baseUrl: 'https://llm.example.com/v1',
  credentialId: null,
  upstreamModel: 'llama-3-70b',
  apiVersion: null,
  region: 'default',
  capacity: 4,
  timeoutMs: 10_000,
  prices: { input: 1_000_000, output: 2_000_000, cachedInput: 0, request: 0 },
  ...over,
});

beforeAll(async () => {
  store = await openPgliteTestStore();
  a = (await upsertTenantBySlug(store, { slug: 'dep-a', name: 'A' })).tenant.id;
  b = (await upsertTenantBySlug(store, { slug: 'dep-b', name: 'B' })).tenant.id;
  credA = await store.withTenant(a, async (tx) => {
    const c = await providerCredentialsRepo.create(tx, sealer, { name: 'byok', provider: 'openai', secret: 'sk-A-SECRET-0123' });
    if (!c.ok) throw new Error('seed');
    await tenantDeploymentsRepo.create(tx, input({ credentialId: c.credential.id }));
    return c.credential.id;
  });
});
afterAll(async () => store?.close());

describe('tenant_deployments', () => {
  it("B cannot reference A's credential, even with raw SQL below the repository (FK includes tenant_id)", async () => {
    await expect(store.withTenant(b, (tx) => tenantDeploymentsRepo.create(tx, input({ credentialId: credA })))).rejects.toMatchObject({ code: '23503' });
    expect(await store.withTenant(b, (tx) => tenantDeploymentsRepo.page(tx, { after: null, limit: 10 }))).toEqual({ items: [], next: null });
  });

  it('a credential in use cannot be deleted', async () => {
    await expect(store.withTenant(a, (tx) => providerCredentialsRepo.remove(tx, credA))).rejects.toMatchObject({ code: expect.stringMatching(/^23/) });
    expect(await store.withTenant(a, (tx) => tenantDeploymentsRepo.countUsing(tx, credA))).toBe(1);
  });

  it('the snapshot loader opens the secret in the tenant transaction; the platform role sees tenant ids only', async () => {
    const guard = outboundGuard(compileOutboundPolicy());
    const records = await loadTenantModels(store, tenantModelsReader({ sealer, guard, logger: { error: () => undefined } }));
    expect(records.map((r) => r.tenantId)).toEqual([a]);
    const [d] = records[0]?.deployments ?? [];
    expect(d).toMatchObject({ model: 'own-llm', apiKey: 'sk-A-SECRET-0123', upstreamModel: 'llama-3-70b', ownedBy: 'dep-a', outbound: guard });
    expect(d?.id).toMatch(/^tenant:/);
    await expect(store.platform((tx) => tx.query('SELECT base_url FROM tenant_deployments'))).rejects.toMatchObject({ code: '42501' });
    await expect(store.platform((tx) => tx.query('SELECT model FROM tenant_model_aliases'))).rejects.toMatchObject({ code: '42501' });
  });

  it('deleting a tenant takes its deployments and credentials with it (the credential FK does not block the cascade)', async () => {
    const c = (await upsertTenantBySlug(store, { slug: 'dep-c', name: 'C' })).tenant.id;
    await store.withTenant(c, async (tx) => {
      const cred = await providerCredentialsRepo.create(tx, sealer, { name: 'k', provider: 'openai', secret: 'sk-C-0123456789' });
      if (!cred.ok) throw new Error('seed');
      await tenantDeploymentsRepo.create(tx, input({ credentialId: cred.credential.id }));
    });
    await store.admin((tx) => tx.query('DELETE FROM tenants WHERE id = $1', [c]));
    const left = await store.admin((tx) => tx.query<{ n: number }>('SELECT count(*)::int AS n FROM tenant_deployments WHERE tenant_id = $1', [c]));
    expect(left.rows[0]?.n).toBe(0);
  });

  it("opens a bedrock credential as the tenant's AWS credentials, and leaves out (logged, no secret) a row whose credential does not fit", async () => {
    const d = (await upsertTenantBySlug(store, { slug: 'dep-d', name: 'D' })).tenant.id;
    const aws = { accessKeyId: 'AKIADEPD000000000001', secretAccessKey: 'dep-d/SECRET-CANARY/00000000000000000000', region: 'eu-west-1' };
    await store.withTenant(d, async (tx) => {
      const key = await providerCredentialsRepo.create(tx, sealer, { name: 'aws', provider: 'bedrock', secret: encodeAwsCredential(aws) });
      const api = await providerCredentialsRepo.create(tx, sealer, { name: 'api', provider: 'openai', secret: 'sk-D-SECRET-CANARY-0123' });
      if (!key.ok || !api.ok) throw new Error('seed');
      const bedrock = { provider: 'bedrock', baseUrl: 'https://bedrock-runtime.eu-west-1.amazonaws.com', upstreamModel: 'anthropic.claude-3-haiku-20240307-v1:0' };
      await tenantDeploymentsRepo.create(tx, input({ ...bedrock, model: 'signed', credentialId: key.credential.id }));
      // Past the admin API, which refuses both: an API key for bedrock, AWS credentials for another kind.
      await tenantDeploymentsRepo.create(tx, input({ ...bedrock, model: 'api-key-for-aws', credentialId: api.credential.id }));
      await tenantDeploymentsRepo.create(tx, input({ model: 'aws-as-bearer', credentialId: key.credential.id }));
    });
    const errors: unknown[] = [];
    const records = await loadTenantModels(store, tenantModelsReader({ sealer, guard: outboundGuard(compileOutboundPolicy()), logger: { error: (o: unknown) => errors.push(o) } }));
    const mine = records.find((r) => r.tenantId === d)?.deployments ?? [];
    expect(mine.map((x) => x.model)).toEqual(['signed']);
    expect(mine[0]).toMatchObject({ provider: 'bedrock', apiKey: '', aws });
    expect(errors).toHaveLength(2);
    expect(JSON.stringify(errors)).toMatch(/bedrock credential/);
    expect(JSON.stringify(errors)).toMatch(/cannot authenticate provider openai-compatible/);
    expect(JSON.stringify(errors)).not.toContain('CANARY');
    await store.admin((tx) => tx.query('DELETE FROM tenants WHERE id = $1', [d]));
  });

  it('a tenant whose secrets cannot be opened loses its dedicated deployments, not the reload', async () => {
    const wrong = tenantSealer(createKeyring(localKms(Buffer.alloc(32, 8))));
    const errors: unknown[] = [];
    const records = await loadTenantModels(store, tenantModelsReader({ sealer: wrong, guard: outboundGuard(compileOutboundPolicy()), logger: { error: (o: unknown) => errors.push(o) } }));
    expect(records).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(JSON.stringify(errors)).not.toContain('sk-A-SECRET');
  });
});
