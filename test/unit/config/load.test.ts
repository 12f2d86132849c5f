import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { fixture, tempDir } from './helpers.js';

describe('defaults', () => {
  it('runs on defaults alone when GATEHOUSE_CONFIG is unset', async () => {
    const cwd = await tempDir();
    const config = await loadConfig({ env: {}, cwd });
    expect(config.source).toBeUndefined();
    expect(config.server).toEqual({
      host: '0.0.0.0',
      port: 8080,
      maxBodyBytes: 4 * 1024 * 1024,
      maxHeaderBytes: 16 * 1024,
      requestTimeoutMs: 600_000,
      shutdownGraceMs: 15_000,
      trustedProxies: [],
      forwardedHeader: 'x-forwarded-for',
    });
    expect(config.dataDir).toBe(path.join(cwd, '.gatehouse'));
    expect(config.databaseUrl).toBeUndefined();
    expect(config.logLevel).toBe('info');
    expect(config.demo).toEqual({ enabled: true, key: undefined });
    expect(config.tenants).toEqual([]);
  });

  it('adds the built-in mock provider, with no invented URL, and the demo deployments', async () => {
    const config = await loadConfig({ env: {}, cwd: await tempDir() });
    expect(config.providers).toEqual([
      {
        name: 'mock',
        kind: 'mock',
        baseUrl: '',
        apiKey: '',
        timeoutMs: 600_000,
        mock: { latencyMs: 0, tokensPerSecond: 0, errorRate: 0, errorStatus: 500 },
        builtIn: true,
      },
    ]);
    expect(config.deployments.map((d) => [d.id, d.model, d.kind, d.provider, d.baseUrl])).toEqual([
      ['mock-gpt-4o-mini', 'gpt-4o-mini', 'chat', 'mock', ''],
      ['mock-gpt-4o', 'gpt-4o', 'chat', 'mock', ''],
      ['mock-gpt-3-5-turbo-instruct', 'gpt-3.5-turbo-instruct', 'completion', 'mock', ''],
      ['mock-text-embedding-3-small', 'text-embedding-3-small', 'embedding', 'mock', ''],
      ['mock-text-embedding-3-large', 'text-embedding-3-large', 'embedding', 'mock', ''],
    ]);
    const mini = config.deployments[0];
    expect(mini?.version).toBe('gpt-4o-mini-2024-07-18');
    // USD 0.15 / 0.60 / 0.075 per million tokens, as integer micro-dollars.
    expect(mini?.prices).toEqual({ inputPerMTok: 150_000, outputPerMTok: 600_000, cachedInputPerMTok: 75_000, perRequest: 0 });
    for (const d of config.deployments) {
      expect(Number.isInteger(d.prices.inputPerMTok)).toBe(true);
      expect(d.prices.inputPerMTok).toBeGreaterThan(0);
      expect(d.mock).toBeDefined();
    }
  });

  it('GATEHOUSE_DEMO=0 (or false) removes the mock provider and the demo deployments', async () => {
    for (const value of ['0', 'false', 'FALSE']) {
      const config = await loadConfig({ env: { GATEHOUSE_DEMO: value }, cwd: await tempDir() });
      expect(config.demo.enabled).toBe(false);
      expect(config.providers).toEqual([]);
      expect(config.deployments).toEqual([]);
    }
  });

  it('an empty file means all defaults, with the file as source', async () => {
    const f = await fixture('# nothing configured yet\n');
    const config = await f.load();
    expect(config.source).toBe(f.file);
    expect(config.deployments).toHaveLength(5);
  });

  it('declared deployments replace the demo deployments; a declared mock replaces the built-in one', async () => {
    const f = await fixture(`providers:
  - name: mock
    kind: mock
    mock: { latencyMs: 25 }
deployments:
  - { model: only-one, provider: mock }
`);
    const config = await f.load();
    expect(config.providers).toHaveLength(1);
    expect(config.providers[0]?.builtIn).toBe(false);
    expect(config.deployments.map((d) => d.model)).toEqual(['only-one']);
    expect(config.deployments[0]?.mock).toEqual({ latencyMs: 25, tokensPerSecond: 0, errorRate: 0, errorStatus: 500 });
  });
});

describe('environment overrides', () => {
  const FILE = `server:
  host: 127.0.0.1
  port: 9000
  maxBodyBytes: 2048
  requestTimeoutMs: 1000
  shutdownGraceMs: 1000
dataDir: ./file-data
databaseUrl: postgres://file@db/file
logLevel: warn
demo:
  enabled: false
  key: file-key
`;

  it('the file is used when no variable is set (empty variables count as unset)', async () => {
    const f = await fixture(FILE);
    const config = await f.load({ GATEHOUSE_PORT: '', DATABASE_URL: '' });
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 9000, maxBodyBytes: 2048 });
    // Relative paths in the file are relative to the file's directory.
    expect(config.dataDir).toBe(path.join(f.dir, 'file-data'));
    expect(config.databaseUrl).toBe('postgres://file@db/file');
    expect(config.demo).toEqual({ enabled: false, key: undefined });
  });

  it('every variable wins over the file', async () => {
    const f = await fixture(FILE);
    const cwd = await tempDir();
    const config = await loadConfig({
      cwd,
      env: {
        GATEHOUSE_CONFIG: f.file,
        GATEHOUSE_PORT: '0',
        GATEHOUSE_HOST: '::1',
        GATEHOUSE_DATA_DIR: 'env-data',
        DATABASE_URL: 'postgres://env@db/env',
        GATEHOUSE_LOG_LEVEL: 'debug',
        GATEHOUSE_MAX_BODY_BYTES: '1048576',
        GATEHOUSE_REQUEST_TIMEOUT_MS: '30000',
        GATEHOUSE_SHUTDOWN_GRACE_MS: '0',
        GATEHOUSE_DEMO: 'true',
        GATEHOUSE_DEMO_KEY: 'env-demo-key',
      },
    });
    expect(config.server).toEqual({
      host: '::1',
      port: 0,
      maxBodyBytes: 1048576,
      maxHeaderBytes: 16384,
      requestTimeoutMs: 30000,
      shutdownGraceMs: 0,
      trustedProxies: [],
      forwardedHeader: 'x-forwarded-for',
    });
    // A relative path from the environment is relative to the working directory.
    expect(config.dataDir).toBe(path.join(cwd, 'env-data'));
    expect(config.databaseUrl).toBe('postgres://env@db/env');
    expect(config.logLevel).toBe('debug');
    expect(config.demo).toEqual({ enabled: true, key: 'env-demo-key' });
  });

  it('the default dataDir is relative to cwd even when a file is used', async () => {
    const f = await fixture('logLevel: warn\n');
    const cwd = await tempDir();
    const config = await loadConfig({ env: { GATEHOUSE_CONFIG: f.file }, cwd });
    expect(config.dataDir).toBe(path.join(cwd, '.gatehouse'));
  });

  it('GATEHOUSE_CONFIG is resolved against cwd', async () => {
    const f = await fixture('logLevel: error\n');
    const config = await loadConfig({ env: { GATEHOUSE_CONFIG: 'gatehouse.yaml' }, cwd: f.dir });
    expect(config.source).toBe(f.file);
    expect(config.logLevel).toBe('error');
  });
});

describe('deployment resolution', () => {
  it('fills ids, upstream names, versions and provider settings', async () => {
    const f = await fixture(`demo: { enabled: false }
providers:
  - { name: openai, kind: openai, apiKey: sk-test }
  - name: azure-eu
    kind: azure
    baseUrl: https://x.openai.azure.com/openai/
    apiVersion: "2024-10-21"
    apiKey: az-test
    timeoutMs: 5000
  - { name: local, kind: openai-compatible, baseUrl: "http://127.0.0.1:8000/v1" }
deployments:
  - model: Meta/Llama-3.1 8B
    provider: local
  - model: gpt-4o
    provider: azure-eu
    upstreamModel: prod-4o
    region: eu
    capacity: 8
    prices: { input: 2.5, output: 10, cachedInput: 1.25, request: 0.001 }
  - { id: oa-4o, model: gpt-4o, provider: openai, version: "2024-08-06", kind: chat }
`);
    const [local, azure, openai] = (await f.load()).deployments;
    expect(local).toMatchObject({
      id: 'local-meta-llama-3-1-8b',
      model: 'Meta/Llama-3.1 8B',
      upstreamModel: 'Meta/Llama-3.1 8B',
      version: 'Meta/Llama-3.1 8B',
      kind: 'chat',
      provider: 'openai-compatible',
      baseUrl: 'http://127.0.0.1:8000/v1',
      apiKey: '',
      region: 'default',
      capacity: 256,
      timeoutMs: 600_000,
      ownedBy: 'local',
    });
    expect(local?.apiVersion).toBeUndefined();
    expect(local?.mock).toBeUndefined();
    expect(azure).toMatchObject({
      id: 'azure-eu-gpt-4o',
      upstreamModel: 'prod-4o',
      version: 'prod-4o',
      provider: 'azure',
      baseUrl: 'https://x.openai.azure.com/openai',
      apiKey: 'az-test',
      apiVersion: '2024-10-21',
      region: 'eu',
      capacity: 8,
      timeoutMs: 5000,
      prices: { inputPerMTok: 2_500_000, outputPerMTok: 10_000_000, cachedInputPerMTok: 1_250_000, perRequest: 1000 },
    });
    expect(openai).toMatchObject({ id: 'oa-4o', baseUrl: 'https://api.openai.com/v1', apiKey: 'sk-test', version: '2024-08-06' });
    expect(typeof openai?.created).toBe('number');
  });

  it('supports YAML anchors and merge keys for shared settings', async () => {
    const f = await fixture(`providers:
  - { name: p, kind: mock }
deployments:
  - &base { model: a, provider: p, region: eu, capacity: 4 }
  - { <<: *base, model: b }
`);
    const config = await f.load();
    expect(config.deployments.map((d) => [d.model, d.region, d.capacity])).toEqual([
      ['a', 'eu', 4],
      ['b', 'eu', 4],
    ]);
  });
});

describe('tenants', () => {
  it('resolves keys with defaults and parses expiry dates', async () => {
    const f = await fixture(`tenants:
  - slug: acme
    domains: [ai.acme.example]
    models: [gpt-4o-mini]
    teams: [{ slug: research }]
    keys:
      - { name: a, value: key-a, team: research, expiresAt: 2027-01-31 }
      - { name: b, value: key-b, scopes: [chat], models: [gpt-4o-mini], expiresAt: "2027-01-31T12:00:00+02:00" }
`);
    const [tenant] = (await f.load()).tenants;
    expect(tenant).toMatchObject({ slug: 'acme', status: 'active', regions: [], domains: ['ai.acme.example'] });
    expect(tenant?.keys[0]).toEqual({
      name: 'a',
      value: 'key-a',
      team: 'research',
      scopes: ['inference', 'models:read'],
      expiresAt: new Date('2027-01-31T00:00:00Z'),
    });
    expect(tenant?.keys[1]?.expiresAt?.toISOString()).toBe('2027-01-31T10:00:00.000Z');
  });
});
