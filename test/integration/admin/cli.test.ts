/**
 * `gatehouse apply` and `gatehouse export` on a real store: a dry run changes nothing and shows
 * what a real run then does; a second run finds nothing to do; export round-trips through apply;
 * secrets are printed once by apply and never exported; an embedded store in use by a gateway is
 * refused with a clear message, while PostgreSQL works beside a running gateway.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatApply, runApply } from '../../../src/cli/apply.js';
import { runExport } from '../../../src/cli/export.js';
import { createPostgresTestDatabase } from '../../../src/store/testing.js';
import { startTestGateway } from '../../helpers/gateway.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';
import { BOOTSTRAP_KEY, chat, client, startAdminGateway, str } from './helpers.js';

const TENANTS = `
tenants:
  - slug: acme
    name: Acme Corp
    template: free
    limits:
      - { id: requests-per-minute, metric: requests, window: minute, limit: 90 }
      - { id: data-team-tpd, scope: team, subject: data, metric: tokens, window: day, limit: 5000 }
      - { id: app-rps, scope: key, subject: app, metric: requests, window: second, limit: 5, burst: 10 }
    time_zone: Europe/Paris
    teams:
      - { slug: core, name: Core }
      - { slug: data }
    domains: [ai.acme.example.com]
    policies:
      - name: caps
        document: { rules: [{ type: max_tokens, max: 2000 }] }
    keys:
      - { name: app, team: core, scopes: [chat] }
  - slug: globex
    keys:
      - { name: main }
`;

let dir: string;
let env: NodeJS.ProcessEnv;

async function file(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-'));
  env = { GATEHOUSE_DATA_DIR: join(dir, 'data'), GATEHOUSE_LOG_LEVEL: 'silent' };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('apply and export on the embedded store', () => {
  it('a dry run shows every change and makes none', async () => {
    const f = await file('tenants.yaml', TENANTS);
    const dry = await runApply({ file: f, dryRun: true, prune: false, env, cwd: dir });
    expect(dry.changes.map((c) => `${c.op} ${c.what}`)).toEqual([
      '+ tenant acme',
      '+ team acme/core',
      '+ team acme/data',
      '+ domain acme/ai.acme.example.com',
      '+ policy acme/caps',
      '+ api key acme/app',
      '+ limit rule acme/requests-per-minute',
      '+ limit rule acme/data-team-tpd',
      '+ limit rule acme/app-rps',
      '+ tenant globex',
      '+ api key globex/main',
    ]);
    expect(dry.secrets).toEqual([]);
    expect(formatApply(dry, true)).toContain('dry run: nothing was changed');
    expect(await runExport({ env, cwd: dir })).not.toContain('acme');
  });

  it('applies, prints each new secret once, and a second run finds nothing to do', async () => {
    const f = join(dir, 'tenants.yaml');
    const real = await runApply({ file: f, dryRun: false, prune: false, env, cwd: dir });
    expect(real.changes).toHaveLength(11);
    expect(real.secrets.map((s) => `${s.tenant}/${s.name}`)).toEqual(['acme/app', 'globex/main']);
    expect(formatApply(real, false)).toContain(str(real.secrets[0]?.key));
    const again = await runApply({ file: f, dryRun: false, prune: false, env, cwd: dir });
    expect(again).toEqual({ changes: [], secrets: [] });
  });

  it('exports no secrets, and applying the export changes nothing', async () => {
    const text = await runExport({ env, cwd: dir });
    expect(text).toContain('slug: acme');
    expect(text).toContain('limit: 90');
    // Rules name the team by slug and the key by name, as the file did.
    expect(text).toMatch(/subject: data\b/);
    expect(text).toMatch(/subject: app\b/);
    expect(text).toMatch(/^plans:/m);
    expect(text).not.toMatch(/ghk_/);
    expect(text).not.toMatch(/key_hash|prefix/);
    const f = await file('exported.yaml', text);
    expect((await runApply({ file: f, dryRun: true, prune: true, env, cwd: dir })).changes).toEqual([]);
    expect(await runExport({ env, cwd: dir, tenant: 'globex' })).not.toContain('acme');
  });

  it('shows and applies exactly the edits; --prune removes what the file no longer declares', async () => {
    const edited = TENANTS.replace('{ slug: core, name: Core }', '{ slug: core, name: Core Platform }')
      .replace('[ai.acme.example.com]', '[api.acme.example.com]')
      .replace('scopes: [chat]', 'scopes: [chat, embeddings]');
    const f = await file('edited.yaml', edited);
    const plain = await runApply({ file: f, dryRun: true, prune: false, env, cwd: dir });
    expect(plain.changes.map((c) => `${c.op} ${c.what}${c.detail ? `: ${c.detail}` : ''}`)).toEqual([
      '~ team acme/core: name: "Core" → "Core Platform"',
      '+ domain acme/api.acme.example.com',
      '~ api key acme/app: scopes: ["chat"] → ["chat","embeddings"]',
    ]);
    const pruned = await runApply({ file: f, dryRun: false, prune: true, env, cwd: dir });
    expect(pruned.changes.map((c) => `${c.op} ${c.what}`)).toEqual([
      '~ team acme/core',
      '+ domain acme/api.acme.example.com',
      '- domain acme/ai.acme.example.com',
      '~ api key acme/app',
    ]);
    const text = await runExport({ env, cwd: dir, tenant: 'acme' });
    expect(text).toContain('api.acme.example.com');
    expect(text).not.toContain('ai.acme.example.com');
    expect(text).toContain('name: Core Platform');
  });

  it('declares plans too: a dry run shows a tenant on a plan it would create; changes are shown as diffs', async () => {
    const gold = `
plans:
  - name: gold
    description: Gold tier
    weight: 8
    rules:
      - { id: requests-per-minute, metric: requests, window: minute, limit: 500 }
tenants:
  - slug: goldco
    plan: gold
    budget_action: clamp
    limits:
      - { id: requests-per-minute, metric: requests, window: minute, limit: 400 }
`;
    const f = await file('gold.yaml', gold);
    const line = (c: { op: string; what: string; detail?: string }) => `${c.op} ${c.what}${c.detail ? `: ${c.detail}` : ''}`;
    const dry = await runApply({ file: f, dryRun: true, prune: false, env, cwd: dir });
    expect(dry.changes.map(line)).toEqual(['+ plan gold', '+ tenant goldco: plan gold', '+ limit rule goldco/requests-per-minute']);
    expect(await runExport({ env, cwd: dir })).not.toContain('gold');
    const real = await runApply({ file: f, dryRun: false, prune: false, env, cwd: dir });
    expect(real.changes.map(line)).toEqual(dry.changes.map(line));
    expect((await runApply({ file: f, dryRun: false, prune: false, env, cwd: dir })).changes).toEqual([]);

    const edited = gold.replace('weight: 8', 'weight: 9').replace('budget_action: clamp', 'budget_action: reject').replace('limit: 400', 'limit: 300');
    const changed = await runApply({ file: await file('gold2.yaml', edited), dryRun: false, prune: false, env, cwd: dir });
    expect(changed.changes.map(line)).toEqual([
      '~ plan gold: weight: 8 → 9',
      '~ tenant goldco: budget_action: "clamp" → "reject"',
      '~ limit rule goldco/requests-per-minute: limit: 400 → 300',
    ]);
    const text = await runExport({ env, cwd: dir, tenant: 'goldco' });
    expect(text).toMatch(/- name: gold\n\s+description: Gold tier\n\s+weight: 9/);
    expect(text).toContain('plan: gold');
    // A tenant admin's ceiling does not bind apply (it acts as a platform admin): above the plan is allowed.
    const above = await runApply({ file: await file('gold3.yaml', edited.replace('limit: 300', 'limit: 900')), dryRun: true, prune: false, env, cwd: dir });
    expect(above.changes.map(line)).toEqual(['~ limit rule goldco/requests-per-minute: limit: 300 → 900']);
    // Unknown plans and rules that name nothing are refused with the tenant named.
    await expect(runApply({ file: await file('nope.yaml', 'tenants:\n  - slug: goldco\n    plan: platinum\n'), dryRun: true, prune: false, env, cwd: dir })).rejects.toThrow(
      /tenant goldco: plan: there is no plan "platinum"/,
    );
    await expect(
      runApply({ file: await file('nope2.yaml', 'tenants:\n  - slug: goldco\n    limits: [{ id: t, scope: team, subject: ghost, metric: requests, window: minute, limit: 1 }]\n'), dryRun: true, prune: false, env, cwd: dir }),
    ).rejects.toThrow(/tenant goldco: limit rule t: no team "ghost"/);
  });

  it('refuses an invalid file before touching the store, naming each problem', async () => {
    const f = await file('bad.yaml', 'tenants:\n  - slug: Bad_Slug\n    keys: [{ name: k, team: nope }]\n  - slug: ok\n    domains: [localhost]\n');
    await expect(runApply({ file: f, dryRun: true, prune: false, env, cwd: dir })).rejects.toThrow(/tenants\.0\.slug[\s\S]*tenants\.0\.keys\.0\.team[\s\S]*tenants\.1\.domains\.0/);
    await expect(runApply({ file: await file('yaml.yaml', 'tenants: [\n'), dryRun: true, prune: false, env, cwd: dir })).rejects.toThrow(/not valid YAML/);
  });

  it('the keys it printed work on the data plane of a gateway started on that store', async () => {
    const f = await file('more.yaml', 'tenants:\n  - slug: initech\n    keys: [{ name: app }]\n');
    const { secrets } = await runApply({ file: f, dryRun: false, prune: false, env, cwd: dir });
    const gw = await startTestGateway({ env: { GATEHOUSE_DATA_DIR: env.GATEHOUSE_DATA_DIR ?? '', GATEHOUSE_ADMIN_KEY: BOOTSTRAP_KEY } });
    try {
      expect((await chat(gw, str(secrets[0]?.key))).status).toBe(200);
      // While the gateway holds the embedded store, apply is refused with a clear message.
      await expect(runApply({ file: f, dryRun: true, prune: false, env, cwd: dir })).rejects.toThrow(
        /in use by process \d+[\s\S]*admin API[\s\S]*PostgreSQL/,
      );
      await expect(runExport({ env, cwd: dir })).rejects.toThrow(/in use by process/);
    } finally {
      await gw.close();
    }
  });
});

const pg = await postgresAvailable();

describe.skipIf(!pg)('apply on PostgreSQL beside a running gateway', () => {
  it('works while the gateway runs, and the gateway serves what it applied', async () => {
    const db = await createPostgresTestDatabase(POSTGRES_URL);
    const pgEnv = { DATABASE_URL: db.url, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64'), GATEHOUSE_LOG_LEVEL: 'silent' };
    const gw = await startAdminGateway({ env: pgEnv });
    try {
      const f = await file('pg.yaml', 'tenants:\n  - slug: pg-tenant\n    teams: [{ slug: core }]\n    keys: [{ name: app, team: core }]\n');
      const result = await runApply({ file: f, dryRun: false, prune: false, env: pgEnv, cwd: dir });
      expect(result.secrets).toHaveLength(1);
      const seen = await client(gw, BOOTSTRAP_KEY)('GET', '/tenants/pg-tenant/api-keys');
      expect(seen.status, seen.text).toBe(200);
      expect(seen.json.data).toEqual([expect.objectContaining({ name: 'app', status: 'active' })]);
      expect((await runApply({ file: f, dryRun: true, prune: false, env: pgEnv, cwd: dir })).changes).toEqual([]);
    } finally {
      await gw.stop();
      await db.drop();
    }
  });
});
