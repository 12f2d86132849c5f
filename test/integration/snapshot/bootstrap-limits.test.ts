/**
 * Configuration as code for limits: at start the declared plans and each tenant's plan, time
 * zone, budget action and own rules are written to the store, and the snapshot built from the
 * store carries them. What the file leaves out stays as stored.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import { PLATFORM_SCOPE_ID } from '../../../src/identity/roles.js';
import { limitRulesRepo, plansRepo, tenantsRepo, type Store } from '../../../src/store/index.js';
import { openPgliteTestStore } from '../../../src/store/testing.js';
import { BootstrapError, syncTenancy } from '../../../src/tenancy/bootstrap.js';
import { buildSnapshot } from '../../../src/tenancy/snapshot.js';
import { PEPPER } from './helpers.js';

const HEAD = `demo: { enabled: false }
providers: [{ name: mock, kind: mock }]
deployments: [{ model: m1, provider: mock }]
`;

describe('bootstrap of plans and tenant limits', () => {
  let store: Store;
  let dir: string;
  beforeAll(async () => {
    store = await openPgliteTestStore();
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-boot-limits-'));
  });
  afterAll(async () => {
    await store?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  async function start(yaml: string) {
    const file = join(dir, 'gatehouse.yaml');
    await writeFile(file, HEAD + yaml);
    const config = await loadConfig({ env: { GATEHOUSE_CONFIG: file }, cwd: dir });
    const state = await syncTenancy(store, config, PEPPER);
    const snapshot = buildSnapshot({ ...state, deployments: [] });
    return { state, snapshot, limits: (slug: string) => snapshot.tenantsBySlug.get(slug)?.limits };
  }

  it('creates the declared plans and puts tenants on them with their own settings and rules', async () => {
    const { limits } = await start(`
plans:
  - name: gold
    description: Gold
    weight: 6
    budgetAction: clamp
    rules:
      - { id: rpm, metric: requests, window: minute, limit: 100 }
      - { id: conc, metric: concurrency, limit: 5 }
tenants:
  - slug: boot-acme
    plan: gold
    timeZone: Asia/Kolkata
    budgetAction: reject
    limits:
      - { id: rpm, metric: requests, window: minute, limit: 250 }
      - { id: tpd, metric: tokens, window: day, limit: 1000, models: [m1] }
  - slug: boot-free
    plan: free
`);
    const gold = await store.platform((tx) => plansRepo.getByName(tx, 'gold'));
    expect(gold).toMatchObject({ description: 'Gold', weight: 6, budgetAction: 'clamp', version: 1 });
    expect(limits('boot-acme')).toEqual({
      plan: 'gold',
      weight: 6,
      rules: [
        { id: 'rpm', scope: 'tenant', subject: null, metric: 'requests', window: 'minute', limit: 250, burst: null, models: null },
        { id: 'conc', scope: 'tenant', subject: null, metric: 'concurrency', window: null, limit: 5, burst: null, models: null },
        { id: 'tpd', scope: 'tenant', subject: null, metric: 'tokens', window: 'day', limit: 1000, burst: null, models: ['m1'] },
      ],
      timeZone: 'Asia/Kolkata',
      budgetAction: 'reject',
    });
    expect(limits('boot-free')).toMatchObject({ plan: 'free', weight: 1, timeZone: 'UTC', budgetAction: 'reject' });
  });

  it('a second start applies what changed; an unchanged plan keeps its version; absent keys leave the store alone', async () => {
    // Changed by an administrator meanwhile: kept, since the file no longer says anything about them.
    const acme = await store.platform((tx) => tenantsRepo.findIdBySlug(tx, 'boot-acme'));
    if (acme === null) throw new Error('no tenant');
    await store.withTenant(acme, (tx) => limitRulesRepo.upsert(tx, { id: 'admin-made', scope: 'key', subject: null, metric: 'requests', window: 'second', limit: 3, burst: null, models: null }));
    const { limits } = await start(`
plans:
  - name: gold
    description: Gold
    weight: 6
    budgetAction: clamp
    rules:
      - { id: rpm, metric: requests, window: minute, limit: 100 }
      - { id: conc, metric: concurrency, limit: 5 }
  - name: silver
    weight: 2
    rules: []
tenants:
  - slug: boot-acme
  - slug: boot-free
    plan: silver
    limits: []
`);
    expect((await store.platform((tx) => plansRepo.getByName(tx, 'gold')))?.version).toBe(1);
    expect(limits('boot-acme')?.rules.map((r) => [r.id, r.limit])).toEqual([['rpm', 250], ['conc', 5], ['admin-made', 3], ['tpd', 1000]]);
    expect(limits('boot-acme')).toMatchObject({ plan: 'gold', timeZone: 'Asia/Kolkata', budgetAction: 'reject' });
    expect(limits('boot-free')).toEqual({ plan: 'silver', weight: 2, rules: [], timeZone: 'UTC', budgetAction: 'reject' });

    const third = await start(`
plans:
  - { name: gold, weight: 9, rules: [{ id: rpm, metric: requests, window: minute, limit: 100 }] }
tenants:
  - slug: boot-acme
    plan: null
    budgetAction: null
    limits: [{ id: only, metric: concurrency, limit: 2 }]
`);
    expect((await store.platform((tx) => plansRepo.getByName(tx, 'gold')))?.version).toBe(2);
    expect((await store.platform((tx) => plansRepo.getByName(tx, 'silver')))?.weight).toBe(2); // not deleted
    expect(third.limits('boot-acme')).toEqual({
      plan: null,
      weight: 1,
      rules: [{ id: 'only', scope: 'tenant', subject: null, metric: 'concurrency', window: null, limit: 2, burst: null, models: null }],
      timeZone: 'Asia/Kolkata',
      budgetAction: 'reject',
    });
  });

  it('a built-in plan deleted through the admin API stops the start with the plan and tenant named', async () => {
    const free = await store.platform((tx) => plansRepo.getByName(tx, 'enterprise'));
    const removed = await store.withTenant(PLATFORM_SCOPE_ID, (tx) => plansRepo.remove(tx, free?.id ?? ''));
    expect(removed).toEqual({ ok: true });
    await expect(start(`
tenants:
  - { slug: boot-late, plan: enterprise }
`)).rejects.toThrow(new BootstrapError('the plan "enterprise" of tenant "boot-late" does not exist; declare it under plans'));
  });
});
