import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.js';
import { loadConfig } from '../../../src/config/load.js';
import { BASE, fixture, tempDir } from './helpers.js';

const CANARY = 'sk-canary-5f1e0c9a';

describe('secret references', () => {
  it('resolves literal, {env} and {file} secrets; files are relative to the config file', async () => {
    const f = await fixture(
      `${BASE.replace('  - { name: mock, kind: mock }', `  - { name: mock, kind: mock }
  - { name: a, kind: openai, apiKey: literal-key }
  - { name: b, kind: openai, apiKey: { env: B_KEY } }
  - { name: c, kind: openai, apiKey: { file: secrets/c.key } }`)}tenants:
  - slug: t
    keys:
      - { name: from-env, value: { env: T_KEY } }
      - { name: from-file, value: { file: ./secrets/t.key } }
`,
      { 'secrets/c.key': 'file-key\n', 'secrets/t.key': '  tenant-file-key \r\n' },
    );
    // cwd elsewhere: a relative {file} must not depend on where the process was started.
    const config = await loadConfig({
      env: { GATEHOUSE_CONFIG: f.file, B_KEY: 'env-key', T_KEY: 'tenant-env-key' },
      cwd: await tempDir(),
    });
    expect(config.providers.map((p) => [p.name, p.apiKey])).toEqual([
      ['mock', ''],
      ['a', 'literal-key'],
      ['b', 'env-key'],
      ['c', 'file-key'],
    ]);
    expect(config.tenants[0]?.keys.map((k) => k.value)).toEqual(['tenant-env-key', 'tenant-file-key']);
  });

  it('accepts an absolute secret file path', async () => {
    const dir = await tempDir();
    const secret = path.join(dir, 'abs.key');
    await writeFile(secret, 'abs-value');
    const f = await fixture(`demo:\n  key: { file: ${JSON.stringify(secret)} }\n`);
    expect((await f.load()).demo.key).toBe('abs-value');
  });

  it('reports every missing, empty or unreadable secret at its path, without values', async () => {
    const f = await fixture(
      `providers:
  - { name: a, kind: openai, apiKey: { env: MISSING_KEY } }
  - { name: b, kind: openai, apiKey: { env: EMPTY_KEY } }
  - { name: c, kind: openai, apiKey: ${CANARY} }
tenants:
  - slug: t
    keys:
      - { name: k1, value: { file: secrets/none.key } }
      - { name: k2, value: { file: secrets/empty.key } }
      - { name: k3, value: { file: secrets } }
`,
      { 'secrets/empty.key': '\n' },
    );
    const secrets = path.join(f.dir, 'secrets');
    expect(await f.fail({ EMPTY_KEY: '', OTHER: CANARY })).toEqual([
      `Invalid configuration in ${f.file} at providers[0].apiKey: environment variable MISSING_KEY is not set (line 2, column 30)`,
      `Invalid configuration in ${f.file} at providers[1].apiKey: environment variable EMPTY_KEY is empty (line 3, column 30)`,
      `Invalid configuration in ${f.file} at tenants[0].keys[0].value: cannot read secret file ${path.join(secrets, 'none.key')}: no such file (ENOENT) (line 8, column 21)`,
      `Invalid configuration in ${f.file} at tenants[0].keys[1].value: secret file ${path.join(secrets, 'empty.key')} is empty (line 9, column 21)`,
      `Invalid configuration in ${f.file} at tenants[0].keys[2].value: cannot read secret file ${secrets}: not a regular file (line 10, column 21)`,
    ]);
  });

  it('never echoes a literal secret in validation errors', async () => {
    const f = await fixture(`providers:
  - { name: a, kind: openai, apiKey: { env: ${CANARY}, extra: ${CANARY} } }
tenants:
  - slug: t
    keys:
      - { name: k, value: [${CANARY}] }
databaseUrl: [postgres://user:${CANARY}@db/x]
`);
    const err = await f.load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as ConfigError).message;
    expect(message).toContain('at providers[0].apiKey.extra: unknown key "extra"');
    expect(message).toContain('at tenants[0].keys[0].value: expected a non-empty string, {env: NAME} or {file: path}, got a list');
    expect(message).toContain('at databaseUrl: expected a non-empty string, got a list');
    expect(message).not.toContain('canary');
    expect(JSON.stringify((err as ConfigError).issues)).not.toContain('canary');
  });

  it('describes a mistyped secret by its type only (YAML reads an all-digit key as a number)', async () => {
    const f = await fixture(`providers:\n  - { name: a, kind: openai, apiKey: 98765432123 }\n`);
    const lines = await f.fail();
    expect(lines).toEqual([
      `Invalid configuration in ${f.file} at providers[0].apiKey: expected a non-empty string, {env: NAME} or {file: path}, got a number (line 2, column 30)`,
    ]);
  });

  it('does not resolve the demo key while the demo is disabled', async () => {
    const f = await fixture(`demo:\n  key: { env: DEMO_KEY_VAR }\n`);
    await expect(f.load()).rejects.toThrow('at demo.key: environment variable DEMO_KEY_VAR is not set');
    const config = await f.load({ GATEHOUSE_DEMO: 'false' });
    expect(config.demo).toEqual({ enabled: false, key: undefined });
  });

  it('takes the demo key from GATEHOUSE_DEMO_KEY over the file', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'conf'));
    await writeFile(path.join(dir, 'conf', 'gh.yaml'), 'demo:\n  key: file-demo-key\n');
    const env = { GATEHOUSE_CONFIG: 'conf/gh.yaml' };
    expect((await loadConfig({ env, cwd: dir })).demo.key).toBe('file-demo-key');
    expect((await loadConfig({ env: { ...env, GATEHOUSE_DEMO_KEY: 'env-demo-key' }, cwd: dir })).demo.key).toBe('env-demo-key');
  });
});
