import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { BASE, failureLines, fixture, tempDir } from './helpers.js';

describe('schema errors name the file, the path and what was expected', () => {
  it('reports a bad value with its exact path, expectation, value and line', async () => {
    const f = await fixture(`providers:
  - { name: p, kind: mock }
deployments:
  - { model: a, provider: p }
  - { model: b, provider: p }
  - model: c
    provider: p
    capacity: lots
`);
    expect(await f.fail()).toEqual([
      `Invalid configuration in ${f.file} at deployments[2].capacity: expected an integer between 1 and 1000000, got "lots" (line 8, column 5)`,
    ]);
  });

  it('reports every issue, one line each, not just the first', async () => {
    const f = await fixture(`server:
  port: 70000
logLevel: loud
providers:
  - { name: Bad_Name, kind: openai, baseUrl: "ftp://example.com" }
`);
    expect(await f.fail()).toEqual([
      `Invalid configuration in ${f.file} at server.port: expected an integer between 0 and 65535, got 70000 (line 2, column 3)`,
      `Invalid configuration in ${f.file} at logLevel: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud" (line 3, column 1)`,
      `Invalid configuration in ${f.file} at providers[0].name: expected a slug (lower-case letters, digits and dashes, 1-63 characters), got "Bad_Name" (line 5, column 7)`,
      `Invalid configuration in ${f.file} at providers[0].baseUrl: expected an http(s) URL, got "ftp://example.com" (line 5, column 37)`,
    ]);
  });

  it('refuses a tenant slug shaped like a tenant id, which could capture id-based claims', async () => {
    const f = await fixture(`tenants:
  - slug: 0f8fad5b-d9cb-469f-a165-70867728950e
`);
    const lines = await f.fail();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('at tenants[0].slug');
    expect(lines[0]).toContain('not shaped like a tenant id');
  });

  it('refuses private key material in a tenant\'s inline JWKS, and needs exactly one key source', async () => {
    const f = await fixture(`tenants:
  - slug: acme
    jwt:
      - issuer: https://idp.example/
        jwks: { keys: [{ kty: EC, crv: P-256, x: abc, y: def, d: SECRET-CANARY }] }
      - issuer: other
`);
    const lines = await f.fail();
    expect(lines.some((l) => l.includes('tenants[0].jwt[0].jwks.keys[0]') && l.includes('public key'))).toBe(true);
    expect(lines.some((l) => l.includes('tenants[0].jwt[1]') && l.includes('exactly one of'))).toBe(true);
    expect(lines.join('\n')).not.toContain('SECRET-CANARY');
  });

  it('names unknown keys, suggesting the near miss', async () => {
    const f = await fixture(`server:
  prot: 80
colour: blue
`);
    const lines = await f.fail();
    expect(lines).toEqual([
      `Invalid configuration in ${f.file} at server.prot: unknown key "prot" (did you mean "port"?) (line 2, column 3)`,
      expect.stringContaining(`Invalid configuration in ${f.file} at colour: unknown key "colour"; allowed keys: server, dataDir,`),
    ]);
  });

  it('says which required key is missing', async () => {
    const f = await fixture(`providers:\n  - name: p\n`);
    expect(await f.fail()).toEqual([
      `Invalid configuration in ${f.file} at providers[0].kind: missing; expected one of "openai", "azure", "openai-compatible", "mock", "bedrock", "gemini", "anthropic" (line 2, column 5)`,
    ]);
  });

  it('reports the bad element of a list inside a union, not "no option matched"', async () => {
    const f = await fixture(`${BASE}tenants:\n  - slug: t\n    models: [m1, 5]\n`);
    expect(await f.fail()).toEqual([
      `Invalid configuration in ${f.file} at tenants[0].models[1]: expected a non-empty string, got 5 (line 10, column 18)`,
    ]);
  });

  it('rejects an expiry that is not an ISO 8601 date', async () => {
    const f = await fixture(`${BASE}tenants:\n  - slug: t\n    keys:\n      - { name: k, value: secret-value, expiresAt: soon }\n`);
    const [line] = await f.fail();
    expect(line).toMatch(/at tenants\[0\]\.keys\[0\]\.expiresAt: expected an ISO 8601 date .*, got "soon"/);
  });

  it('rejects a document that is not a mapping', async () => {
    const f = await fixture(`- just\n- a list\n`);
    expect(await f.fail()).toEqual([`Invalid configuration in ${f.file}: expected a mapping, got a list (line 1, column 1)`]);
  });
});

describe('YAML errors', () => {
  it('names the file, line and column of a syntax error', async () => {
    const f = await fixture(`server:\n  port: 80\n  host: [unclosed\n`);
    const lines = await f.fail();
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(new RegExp(`^Invalid configuration in ${escape(f.file)}: YAML syntax error: .+ \\(line \\d+, column \\d+\\)$`));
  });

  it('treats a duplicate key as an error, not last-one-wins', async () => {
    const f = await fixture(`server:\n  port: 80\n  port: 81\n`);
    expect(await f.fail()).toEqual([`Invalid configuration in ${f.file}: YAML syntax error: Map keys must be unique (line 3, column 3)`]);
  });

  it('rejects __proto__ as an unknown key instead of merging it into objects', async () => {
    const f = await fixture(`server:\n  __proto__: { port: 1 }\n`);
    expect(await f.fail()).toEqual([
      expect.stringContaining(`Invalid configuration in ${f.file} at server.__proto__: unknown key "__proto__"`),
    ]);
  });

  it('refuses alias bombs (billion laughs)', async () => {
    const f = await fixture(`a: &a [x, x, x, x, x, x, x, x, x, x]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
`);
    expect(await f.fail()).toEqual([`Invalid configuration in ${f.file}: YAML error: Excessive alias count indicates a resource exhaustion attack`]);
  });

  it('does not quote the source around a syntax error (it may be a secret)', async () => {
    const f = await fixture(`providers:\n  - name: p\n    kind: openai\n    apiKey: "sk-canary-1234\n`);
    const lines = await f.fail();
    expect(lines.join('\n')).not.toContain('canary');
  });
});

describe('environment variable errors name the variable', () => {
  it('parses numbers strictly', async () => {
    const lines = await failureLines(loadConfig({ env: { GATEHOUSE_PORT: '80a' }, cwd: await tempDir() }));
    expect(lines).toEqual(['Invalid configuration in environment variable GATEHOUSE_PORT: expected a non-negative integer, got "80a"']);
  });

  it.each([
    ['GATEHOUSE_MAX_BODY_BYTES', '1e6'],
    ['GATEHOUSE_REQUEST_TIMEOUT_MS', '-5'],
    ['GATEHOUSE_SHUTDOWN_GRACE_MS', ' 10'],
    ['GATEHOUSE_PORT', '0x50'],
  ])('%s=%j is rejected', async (variable, value) => {
    const lines = await failureLines(loadConfig({ env: { [variable]: value }, cwd: await tempDir() }));
    expect(lines).toEqual([`Invalid configuration in environment variable ${variable}: expected a non-negative integer, got ${JSON.stringify(value)}`]);
  });

  it('applies the schema range to env values and names the variable, not the file', async () => {
    const f = await fixture(`server:\n  port: 8080\n`);
    expect(await f.fail({ GATEHOUSE_PORT: '70000', GATEHOUSE_LOG_LEVEL: 'loud', GATEHOUSE_DEMO: 'maybe' })).toEqual([
      'Invalid configuration in environment variable GATEHOUSE_DEMO: expected 1/true/yes/on or 0/false/no/off, got "maybe"',
      'Invalid configuration in environment variable GATEHOUSE_PORT: expected an integer between 0 and 65535, got 70000',
      'Invalid configuration in environment variable GATEHOUSE_LOG_LEVEL: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"',
    ]);
  });

  it('fails when GATEHOUSE_CONFIG names a missing file', async () => {
    const dir = await tempDir();
    const lines = await failureLines(loadConfig({ env: { GATEHOUSE_CONFIG: 'nope.yaml' }, cwd: dir }));
    expect(lines).toEqual([
      `Invalid configuration in environment variable GATEHOUSE_CONFIG: cannot read configuration file ${path.join(dir, 'nope.yaml')}: no such file (ENOENT)`,
    ]);
  });
});

describe('cross-reference errors', () => {
  const at = (file: string, p: string, message: string, line: number, column: number): string =>
    `Invalid configuration in ${file} at ${p}: ${message} (line ${line}, column ${column})`;

  it('a deployment must name a declared provider', async () => {
    const f = await fixture(`demo: { enabled: false }
providers:
  - { name: openai, kind: openai }
deployments:
  - { model: a, provider: openai }
  - { model: b, provider: opena }
`);
    expect(await f.fail()).toEqual([at(f.file, 'deployments[1].provider', 'unknown provider "opena"; declared providers: "openai"', 6, 17)]);
  });

  it('the built-in mock provider exists only while the demo is enabled', async () => {
    const yaml = `deployments:\n  - { model: a, provider: mock }\n`;
    const f = await fixture(yaml);
    await expect(f.load()).resolves.toBeDefined();
    expect(await f.fail({ GATEHOUSE_DEMO: '0' })).toEqual([
      at(f.file, 'deployments[0].provider', 'unknown provider "mock"; no providers are declared', 2, 17),
    ]);
  });

  it('provider names are unique', async () => {
    const f = await fixture(`providers:\n  - { name: p, kind: mock }\n  - { name: p, kind: openai }\n`);
    expect(await f.fail()).toEqual([at(f.file, 'providers[1].name', 'duplicate provider name "p" (also providers[0])', 3, 7)]);
  });

  it('azure needs baseUrl and apiVersion; openai-compatible needs baseUrl', async () => {
    const f = await fixture(`providers:
  - { name: az, kind: azure }
  - { name: vllm, kind: openai-compatible }
  - { name: oa, kind: openai, apiVersion: "1", mock: { latencyMs: 1 } }
`);
    expect(await f.fail()).toEqual([
      at(f.file, 'providers[0].baseUrl', 'required for kind "azure" (e.g. https://<resource>.openai.azure.com)', 2, 5),
      at(f.file, 'providers[0].apiVersion', 'required for kind "azure" (e.g. 2024-10-21)', 2, 5),
      at(f.file, 'providers[1].baseUrl', 'required for kind "openai-compatible"', 3, 5),
      at(f.file, 'providers[2].apiVersion', 'only used by kind "azure", not "openai"', 4, 31),
      at(f.file, 'providers[2].mock', 'only used by kind "mock", not "openai"', 4, 48),
    ]);
  });

  it('deployment ids are unique, defaulted ones included', async () => {
    const f = await fixture(`providers:
  - { name: p, kind: mock }
deployments:
  - { model: a, provider: p, region: eu }
  - { model: a, provider: p, region: us }
  - { id: x, model: b, provider: p }
  - { id: x, model: c, provider: p }
`);
    expect(await f.fail()).toEqual([
      at(f.file, 'deployments[1]', 'the default id "p-a" (provider-model) is already used by deployments[0]; give one of them an explicit id', 5, 5),
      at(f.file, 'deployments[3].id', 'duplicate deployment id "x" (also deployments[2])', 7, 7),
    ]);
  });

  it('prices must fit integer micro-units', async () => {
    const f = await fixture(`providers:\n  - { name: p, kind: mock }\ndeployments:\n  - model: a\n    provider: p\n    prices: { input: 0.0000001 }\n`);
    expect(await f.fail()).toEqual([at(f.file, 'deployments[0].prices.input', 'expected at most 6 decimal places, got 1e-7', 6, 15)]);
  });

  it('tenant slugs, domains, teams and key names are unique; references resolve', async () => {
    const f = await fixture(`${BASE}tenants:
  - slug: acme
    domains: [a.example, b.example]
    models: [m1, nope]
    regions: [mars]
    teams: [{ slug: red }, { slug: red }]
    keys:
      - { name: k, value: value-one, team: blue }
      - { name: k, value: value-two, models: [m2] }
  - slug: acme
    domains: [b.example]
    keys:
      - { name: k, value: value-one }
`);
    const m = 'known models: "m1", "m2"';
    expect(await f.fail()).toEqual([
      at(f.file, 'tenants[0].models[1]', `unknown model "nope"; ${m}`, 11, 18),
      at(f.file, 'tenants[0].regions[0]', 'no deployment is in region "mars"; known regions: "eu", "us"', 12, 15),
      at(f.file, 'tenants[0].teams[1].slug', 'duplicate team slug "red"', 13, 30),
      at(f.file, 'tenants[0].keys[0].team', 'unknown team "blue"; declare it under tenants[0].teams', 15, 38),
      at(f.file, 'tenants[0].keys[1].name', 'duplicate key name "k" in this tenant (also keys[0])', 16, 11),
      at(f.file, 'tenants[0].keys[1].models[0]', 'model "m2" is not in tenants[0].models, so the key could never use it', 16, 47),
      at(f.file, 'tenants[1].slug', 'duplicate tenant slug "acme" (also tenants[0])', 17, 5),
      at(f.file, 'tenants[1].domains[0]', 'domain "b.example" is already claimed by tenants[0].domains[1]', 18, 15),
      at(f.file, 'tenants[1].keys[0].value', 'same key value as tenants[0].keys[0]; every key must be unique', 20, 20),
    ]);
  });

  it('the demo key may not equal a tenant key', async () => {
    const f = await fixture(`tenants:\n  - slug: t\n    keys: [{ name: k, value: shared-value }]\n`);
    expect(await f.fail({ GATEHOUSE_DEMO_KEY: 'shared-value' })).toEqual([
      'Invalid configuration in environment variable GATEHOUSE_DEMO_KEY: same key value as tenants[0].keys[0]; every key must be unique',
    ]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
