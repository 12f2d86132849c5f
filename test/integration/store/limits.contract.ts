/**
 * Plans (tiers) and per-tenant limit rules in the store (migration 0008): the seeded catalogue,
 * the repositories' outcomes, the CHECK constraints below the application, "a plan in use cannot
 * be deleted", and the conversion of the old settings.template / settings.limits.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LimitRule } from '../../../src/limits/types.js';
import { apiKeysManageRepo, limitRulesRepo, plansRepo, tenantsRepo, upsertTenantBySlug, type TenantTx } from '../../../src/store/index.js';
import { runMigrations } from '../../../src/store/migrate.js';
import { MIGRATIONS } from '../../../src/store/migrations/index.js';
import { sqlStateOf, uniq } from './factory.js';
import type { StoreFactory, StoreHandle } from './factory.js';

const PLATFORM_SCOPE = '00000000-0000-0000-0000-000000000000';
const CHECK_VIOLATION = '23514';

const rule = (id: string, over: Partial<LimitRule> = {}): LimitRule => ({
  id,
  scope: 'tenant',
  subject: null,
  metric: 'requests',
  window: 'minute',
  limit: 10,
  burst: null,
  models: null,
  ...over,
});

const tenantRule = (id: string, metric: LimitRule['metric'], window: LimitRule['window'], limit: number): LimitRule =>
  rule(id, { metric, window, limit });

export function limitsContract(factory: StoreFactory): void {
  describe(`plans and limit rules [${factory.label}]`, () => {
    let h: StoreHandle;
    let a: string;
    let b: string;

    beforeAll(async () => {
      h = await factory.open();
      a = (await upsertTenantBySlug(h.store, { slug: `lim-a-${uniq()}`, name: 'A' })).tenant.id;
      b = (await upsertTenantBySlug(h.store, { slug: `lim-b-${uniq()}`, name: 'B' })).tenant.id;
    });
    afterAll(async () => h?.close());

    const inPlatform = <T,>(fn: (tx: TenantTx) => Promise<T>): Promise<T> => h.store.withTenant(PLATFORM_SCOPE, fn);

    it('seeds free, standard and enterprise from the old templates (money in micro-units), with config_objects (0009), cache_bytes and log_bytes (0018) quotas', async () => {
      const plans = await h.store.platform((tx) => plansRepo.listAll(tx));
      const seeded = Object.fromEntries(
        plans.filter((p) => ['free', 'standard', 'enterprise'].includes(p.name)).map((p) => [p.name, { weight: p.weight, budgetAction: p.budgetAction, rules: p.rules }]),
      );
      expect(seeded).toEqual({
        free: {
          weight: 1,
          budgetAction: 'reject',
          rules: [
            tenantRule('requests-per-minute', 'requests', 'minute', 60),
            tenantRule('tokens-per-day', 'tokens', 'day', 200_000),
            tenantRule('concurrency', 'concurrency', null, 4),
            tenantRule('budget-monthly', 'cost', 'month', 0),
            tenantRule('config-objects', 'config_objects', null, 200),
            tenantRule('cache-bytes', 'cache_bytes', null, 0),
            tenantRule('log-bytes', 'log_bytes', null, 0),
          ],
        },
        standard: {
          weight: 4,
          budgetAction: 'reject',
          rules: [
            tenantRule('requests-per-minute', 'requests', 'minute', 3_000),
            tenantRule('tokens-per-day', 'tokens', 'day', 50_000_000),
            tenantRule('concurrency', 'concurrency', null, 64),
            tenantRule('budget-monthly', 'cost', 'month', 5_000 * 1_000_000),
            tenantRule('config-objects', 'config_objects', null, 10_000),
            tenantRule('cache-bytes', 'cache_bytes', null, 64 * 1024 * 1024),
            tenantRule('log-bytes', 'log_bytes', null, 256 * 1024 * 1024),
          ],
        },
        enterprise: {
          weight: 16,
          budgetAction: 'reject',
          rules: [
            tenantRule('requests-per-minute', 'requests', 'minute', 30_000),
            tenantRule('concurrency', 'concurrency', null, 512),
            tenantRule('config-objects', 'config_objects', null, 1_000_000),
            tenantRule('cache-bytes', 'cache_bytes', null, 1024 * 1024 * 1024),
            tenantRule('log-bytes', 'log_bytes', null, 4 * 1024 * 1024 * 1024),
          ],
        },
      });
    });

    describe('plans repository', () => {
      it('creates in the platform scope; a taken name is a value; reads by id and name, lists by name', async () => {
        const name = `pro-${uniq()}`;
        const rules = [rule('rpm', { burst: 20 }), rule('tpd', { metric: 'tokens', window: 'day', limit: 1_000_000, models: ['gpt-4o*'] })];
        const created = await inPlatform((tx) => plansRepo.create(tx, { name, description: 'Pro', weight: 8, budgetAction: 'clamp', rules }));
        if (!created.ok) throw new Error('create failed');
        expect(created.plan).toMatchObject({ name, description: 'Pro', weight: 8, budgetAction: 'clamp', rules, version: 1 });
        expect(await inPlatform((tx) => plansRepo.create(tx, { name, weight: 1, rules: [] }))).toEqual({ ok: false, reason: 'name_taken' });
        expect(await h.store.withTenant(a, (tx) => plansRepo.get(tx, created.plan.id))).toEqual(created.plan);
        expect(await h.store.platform((tx) => plansRepo.getByName(tx, name))).toEqual(created.plan);
        expect(await h.store.withTenant(a, (tx) => plansRepo.get(tx, 'not-a-uuid'))).toBeNull();

        const first = await h.store.withTenant(a, (tx) => plansRepo.list(tx, { after: null, limit: 2 }));
        expect(first.items).toHaveLength(2);
        expect(first.next).toBe(first.items[1]?.name);
        const all = await h.store.withTenant(a, (tx) => plansRepo.listAll(tx));
        expect(all.map((p) => p.name)).toEqual([...all.map((p) => p.name)].sort());
        const second = await h.store.withTenant(a, (tx) => plansRepo.list(tx, { after: first.next, limit: 100 }));
        expect([...first.items, ...second.items].map((p) => p.id)).toEqual(all.map((p) => p.id));
      });

      it('updates with an If-Match version: stale is version_mismatch, unknown is not_found; the version moves only on a change', async () => {
        const name = `upd-${uniq()}`;
        const created = await inPlatform((tx) => plansRepo.create(tx, { name, weight: 2, rules: [rule('rpm')] }));
        if (!created.ok) throw new Error('create failed');
        const id = created.plan.id;
        const same = await inPlatform((tx) => plansRepo.update(tx, id, { weight: 2 }, { version: 1 }));
        expect(same.ok && same.plan.version).toBe(1);
        const changed = await inPlatform((tx) => plansRepo.update(tx, id, { rules: [rule('rpm', { limit: 99 })], description: 'x' }, { version: 1 }));
        expect(changed.ok && changed.plan).toMatchObject({ version: 2, description: 'x', weight: 2, rules: [rule('rpm', { limit: 99 })] });
        expect(await inPlatform((tx) => plansRepo.update(tx, id, { weight: 3 }, { version: 1 }))).toEqual({ ok: false, reason: 'version_mismatch' });
        expect(await inPlatform((tx) => plansRepo.update(tx, '00000000-0000-4000-8000-000000000001', { weight: 3 }))).toEqual({ ok: false, reason: 'not_found' });
        expect(await inPlatform((tx) => plansRepo.update(tx, id, { name: 'free' }))).toEqual({ ok: false, reason: 'name_taken' });
        expect((await h.store.platform((tx) => plansRepo.get(tx, id)))?.weight).toBe(2);
      });

      it('refuses to write plans from a tenant scope (row-level security below it: see the RLS suite)', async () => {
        const free = await h.store.withTenant(a, (tx) => plansRepo.getByName(tx, 'free'));
        const id = free?.id ?? '';
        await expect(h.store.withTenant(a, (tx) => plansRepo.create(tx, { name: `t-${uniq()}`, weight: 1, rules: [] }))).rejects.toThrow(/platform scope/);
        await expect(h.store.withTenant(a, (tx) => plansRepo.update(tx, id, { weight: 50 }))).rejects.toThrow(/platform scope/);
        await expect(h.store.withTenant(a, (tx) => plansRepo.remove(tx, id))).rejects.toThrow(/platform scope/);
        expect((await h.store.platform((tx) => plansRepo.get(tx, id)))?.weight).toBe(1);
      });

      it('stores rules as given and reads back whatever the table holds (readers parse: src/limits/compose.ts)', async () => {
        const name = `raw-${uniq()}`;
        const odd = [rule('ok'), { ...rule('future'), metric: 'storage_bytes' }];
        await h.store.admin((tx) => tx.query(`INSERT INTO plans (name, rules) VALUES ($1, $2::jsonb)`, [name, JSON.stringify(odd)]));
        expect((await h.store.platform((tx) => plansRepo.getByName(tx, name)))?.rules).toEqual(odd);
      });

      it('a plan in use cannot be deleted; once unused it can; counts tenants per plan', async () => {
        const created = await inPlatform((tx) => plansRepo.create(tx, { name: `used-${uniq()}`, weight: 1, rules: [] }));
        if (!created.ok) throw new Error('create failed');
        const id = created.plan.id;
        await h.store.withTenant(a, (tx) => tenantsRepo.update(tx, { planId: id }));
        expect((await h.store.platform((tx) => plansRepo.tenantCounts(tx))).get(id)).toBe(1);
        // The foreign key's error aborts the transaction: the caller rolls back, as here.
        let removed: unknown;
        await inPlatform(async (tx) => {
          removed = await plansRepo.remove(tx, id);
          throw new Error('roll back');
        }).catch(() => {});
        expect(removed).toEqual({ ok: false, reason: 'in_use' });
        // Below the repository too: the foreign key, whatever the writer (RESTRICT: 23001 or 23503 by server version).
        expect(['23001', '23503']).toContain(await sqlStateOf(h.store.admin((tx) => tx.query('DELETE FROM plans WHERE id = $1', [id]))));
        await h.store.withTenant(a, (tx) => tenantsRepo.update(tx, { planId: null }));
        expect(await inPlatform((tx) => plansRepo.remove(tx, id, { version: 7 }))).toEqual({ ok: false, reason: 'version_mismatch' });
        expect(await inPlatform((tx) => plansRepo.remove(tx, id, { version: 1 }))).toEqual({ ok: true });
        expect(await inPlatform((tx) => plansRepo.remove(tx, id))).toEqual({ ok: false, reason: 'not_found' });
      });

      it('a tenant cannot be put on a plan that does not exist', async () => {
        expect(await sqlStateOf(h.store.withTenant(a, (tx) => tenantsRepo.update(tx, { planId: '00000000-0000-4000-8000-00000000abcd' })))).toBe('23503');
      });

      it('CHECK constraints refuse malformed plans whatever the writer', async () => {
        const attempts: [string, unknown[]][] = [
          ["INSERT INTO plans (name, rules) VALUES ($1, '{}'::jsonb)", [`c-${uniq()}`]],
          ["INSERT INTO plans (name, weight) VALUES ($1, 0)", [`c-${uniq()}`]],
          ["INSERT INTO plans (name, budget_action) VALUES ($1, 'overdraw')", [`c-${uniq()}`]],
          ['INSERT INTO plans (name) VALUES ($1)', ['Not A Slug']],
          ['INSERT INTO plans (name, rules) VALUES ($1, $2::jsonb)', [`c-${uniq()}`, JSON.stringify(Array.from({ length: 101 }, (_, i) => rule(`r${i}`)))]],
        ];
        for (const [sql, params] of attempts) {
          expect({ sql, state: await sqlStateOf(h.store.admin((tx) => tx.query(sql, params))) }).toEqual({ sql, state: CHECK_VIOLATION });
        }
      });
    });

    describe('limit rules repository', () => {
      it('upserts (created, then replaced), bumps the version only on a change, honours If-Match, removes', async () => {
        const r = rule('team-tpm', { scope: 'team', subject: 'team-1', metric: 'tokens', window: 'minute', limit: 5_000, burst: 8_000, models: ['gpt-4o', 'o1*'] });
        const first = await h.store.withTenant(a, (tx) => limitRulesRepo.upsert(tx, r));
        expect(first).toMatchObject({ ok: true, created: true, rule: { ...r, tenantId: a, version: 1 } });
        const again = await h.store.withTenant(a, (tx) => limitRulesRepo.upsert(tx, r));
        expect(again).toMatchObject({ ok: true, created: false, rule: { version: 1 } });
        const changed = await h.store.withTenant(a, (tx) => limitRulesRepo.upsert(tx, { ...r, limit: 6_000 }));
        expect(changed).toMatchObject({ ok: true, created: false, rule: { limit: 6_000, version: 2 } });
        expect(await h.store.withTenant(a, (tx) => limitRulesRepo.upsert(tx, { ...r, limit: 1 }, { version: 1 }))).toEqual({ ok: false, reason: 'version_mismatch' });
        expect(await h.store.withTenant(a, (tx) => limitRulesRepo.upsert(tx, rule('nope'), { version: 1 }))).toEqual({ ok: false, reason: 'not_found' });
        expect(await h.store.withTenant(a, (tx) => limitRulesRepo.upsert(tx, { ...r, limit: 7 }, { version: 2 }))).toMatchObject({ ok: true, rule: { limit: 7, version: 3 } });

        // Tenant B sees none of it and cannot remove it.
        expect(await h.store.withTenant(b, (tx) => limitRulesRepo.get(tx, 'team-tpm'))).toBeNull();
        expect(await h.store.withTenant(b, (tx) => limitRulesRepo.remove(tx, 'team-tpm'))).toEqual({ ok: false, reason: 'not_found' });
        expect(await h.store.withTenant(a, (tx) => limitRulesRepo.remove(tx, 'team-tpm', { version: 1 }))).toEqual({ ok: false, reason: 'version_mismatch' });
        expect(await h.store.withTenant(a, (tx) => limitRulesRepo.remove(tx, 'team-tpm', { version: 3 }))).toEqual({ ok: true });
        expect(await h.store.withTenant(a, (tx) => limitRulesRepo.get(tx, 'team-tpm'))).toBeNull();
      });

      it('a rule the types forbid is refused by the table; replaceAll refuses duplicate ids', async () => {
        expect(await sqlStateOf(h.store.withTenant(a, (tx) => limitRulesRepo.upsert(tx, rule('x', { metric: 'concurrency', window: 'minute' }))))).toBe(CHECK_VIOLATION);
        await expect(h.store.withTenant(a, (tx) => limitRulesRepo.replaceAll(tx, [rule('x'), rule('x')]))).rejects.toThrow(/unique/);
      });

      it('replaceAll makes the list exactly the given rules; sources list plan, action, zone and rules per tenant', async () => {
        const standard = await h.store.withTenant(b, (tx) => plansRepo.getByName(tx, 'standard'));
        await h.store.withTenant(b, async (tx) => {
          await tenantsRepo.update(tx, { planId: standard?.id ?? null, budgetAction: 'clamp', timeZone: 'Europe/Berlin' });
          await limitRulesRepo.replaceAll(tx, [rule('one'), rule('two')]);
          await limitRulesRepo.replaceAll(tx, [rule('two', { limit: 2 }), rule('three', { metric: 'concurrency', window: null })]);
        });
        const own = await h.store.withTenant(b, (tx) => limitRulesRepo.listSources(tx));
        expect(own).toEqual([
          {
            tenantId: b,
            planId: standard?.id,
            budgetAction: 'clamp',
            timeZone: 'Europe/Berlin',
            // Configuration as code is the platform's (migration 0020).
            rules: [{ ...rule('three', { metric: 'concurrency', window: null }), owner: 'platform' }, { ...rule('two', { limit: 2 }), owner: 'platform' }],
          },
        ]);
        const all = await h.store.platform((tx) => limitRulesRepo.listSources(tx));
        expect(all.find((s) => s.tenantId === b)).toEqual(own[0]);
        expect(all.find((s) => s.tenantId === a)).toMatchObject({ tenantId: a, budgetAction: null, timeZone: 'UTC' });
      });

      it('records who wrote a rule, bumps the version when that changes, and sources carry the key rotation links', async () => {
        const r = rule('owned');
        const mine = await h.store.withTenant(a, (tx) => limitRulesRepo.upsert(tx, r, { owner: 'tenant' }));
        expect(mine).toMatchObject({ ok: true, rule: { owner: 'tenant', version: 1 } });
        const theirs = await h.store.withTenant(a, (tx) => limitRulesRepo.upsert(tx, r, { owner: 'platform', version: 1 }));
        expect(theirs).toMatchObject({ ok: true, rule: { owner: 'platform', version: 2 } });
        expect(await sqlStateOf(h.store.admin((tx) => tx.query("UPDATE limit_rules SET owner = 'someone' WHERE id = 'owned'")))).toBe(CHECK_VIOLATION);
        await h.store.withTenant(a, (tx) => limitRulesRepo.remove(tx, 'owned'));

        // Two rotations: c was rotated from b2, b2 from a1. The platform reads the links too.
        const ids = await h.store.withTenant(a, async (tx) => {
          const made: string[] = [];
          let from: string | null = null;
          for (const name of ['a1', 'b2', 'c3']) {
            const k = await apiKeysManageRepo.insert(tx, {
              teamId: null, name: `rot-${name}-${uniq()}`, prefix: `p${uniq()}`.slice(0, 12), hash: randomBytes(32), scopes: ['inference'],
              allowedModels: null, allowedCidrs: null, expiresAt: null, rotatedFrom: from, ownerUserId: null, ownerServiceAccountId: null,
            });
            if (k === null) throw new Error('key not inserted');
            from = k.id;
            made.push(k.id);
          }
          return made;
        });
        const [a1, b2, c3] = ids as [string, string, string];
        const links = new Map([
          [b2, a1],
          [c3, b2],
        ]);
        expect((await h.store.withTenant(a, (tx) => limitRulesRepo.listSources(tx)))[0]?.rotatedFrom).toEqual(links);
        expect((await h.store.platform((tx) => limitRulesRepo.listSources(tx))).find((s) => s.tenantId === a)?.rotatedFrom).toEqual(links);
        expect((await h.store.withTenant(b, (tx) => limitRulesRepo.listSources(tx)))[0]?.rotatedFrom).toBeUndefined();
      });

      it('CHECK constraints mirror the rule types whatever the writer', async () => {
        const cols = 'tenant_id, id, scope, subject, metric, "window", "limit", burst, models';
        const bad: [string, unknown[]][] = [
          ['concurrency with a window', ['c1', 'tenant', null, 'concurrency', 'minute', 1, null, null]],
          ['requests without a window', ['c2', 'tenant', null, 'requests', null, 1, null, null]],
          ['a subject on scope tenant', ['c3', 'tenant', 'someone', 'requests', 'minute', 1, null, null]],
          ['a burst on a calendar window', ['c4', 'tenant', null, 'requests', 'day', 1, 5, null]],
          ['a burst of 0', ['c5', 'tenant', null, 'requests', 'minute', 1, 0, null]],
          ['a negative limit', ['c6', 'tenant', null, 'requests', 'minute', -1, null, null]],
          ['a limit above 1e15', ['c7', 'tenant', null, 'requests', 'minute', '1000000000000001', null, null]],
          ['an unknown metric', ['c8', 'tenant', null, 'storage', 'minute', 1, null, null]],
          ['an unknown scope', ['c9', 'org', null, 'requests', 'minute', 1, null, null]],
          ['an unknown window', ['c10', 'tenant', null, 'requests', 'week', 1, null, null]],
          ['an id that is not a slug', ['Bad Id', 'tenant', null, 'requests', 'minute', 1, null, null]],
          ['an empty model list', ['c11', 'tenant', null, 'requests', 'minute', 1, null, []]],
          ['an empty model name', ['c12', 'tenant', null, 'requests', 'minute', 1, null, ['']]],
          // The config_objects storage quota (0009): tenant-wide, nothing but a limit.
          ['config_objects with a window', ['c13', 'tenant', null, 'config_objects', 'day', 1, null, null]],
          ['config_objects per team', ['c14', 'team', null, 'config_objects', null, 1, null, null]],
          ['config_objects for one key', ['c15', 'key', 'k1', 'config_objects', null, 1, null, null]],
          ['config_objects with a burst', ['c16', 'tenant', null, 'config_objects', null, 1, 5, null]],
          ['config_objects for some models', ['c17', 'tenant', null, 'config_objects', null, 1, null, ['m']]],
        ];
        for (const [what, values] of bad) {
          const state = await sqlStateOf(
            h.store.withTenant(a, (tx) => tx.query(`INSERT INTO limit_rules (${cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text[])`, [a, ...values])),
          );
          expect({ what, state }).toEqual({ what, state: CHECK_VIOLATION });
        }
        // The same shape with valid values is accepted (the attempts above fail for their one reason).
        const ok = await h.store.withTenant(a, (tx) =>
          tx.query(`INSERT INTO limit_rules (${cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text[])`, [a, 'c-ok', 'key', 'k1', 'requests', 'second', 0, 3, ['m']]),
        );
        expect(ok.rowCount).toBe(1);
        const quota = await h.store.withTenant(a, (tx) =>
          tx.query(`INSERT INTO limit_rules (${cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text[])`, [a, 'c-quota', 'tenant', null, 'config_objects', null, 5, null, null]),
        );
        expect(quota.rowCount).toBe(1);
      });
    });

    describe.skipIf(factory.openUnmigrated === undefined)('migration 0008 on existing tenants', () => {
      it('turns settings.template into plan_id and differing settings.limits into override rules, then drops both keys', async () => {
        const own = await (factory.openUnmigrated as () => Promise<StoreHandle>)();
        try {
          await runMigrations(own.store, MIGRATIONS.filter((m) => m.id < 8));
          const tenants: [string, Record<string, unknown>][] = [
            // Free with a raised rate and a budget in cents: two overrides; the rest equals the plan.
            ['t-free', { template: 'free', limits: { requests_per_minute: 120, tokens_per_day: 200_000, max_concurrency: 4, monthly_budget_cents: 250 }, theme: 'dark' }],
            // Enterprise has no daily token quota; a tenant that had one keeps it as a rule of its own.
            ['t-ent', { template: 'enterprise', limits: { requests_per_minute: 30_000, tokens_per_day: 5_000, max_concurrency: 512, monthly_budget_cents: null } }],
            // A null over a plan's limit has no rule form: the plan's applies.
            ['t-null', { template: 'standard', limits: { requests_per_minute: null } }],
            ['t-none', { limits: { max_concurrency: 3 } }],
            ['t-unknown', { template: 'platinum', limits: { requests_per_minute: 1.5, tokens_per_day: 'lots' } }],
            ['t-empty', {}],
          ];
          await own.store.admin(async (tx) => {
            for (const [slug, settings] of tenants) {
              await tx.query('INSERT INTO tenants (slug, name, settings) VALUES ($1, $1, $2::jsonb)', [slug, JSON.stringify(settings)]);
            }
          });
          expect(await runMigrations(own.store)).toEqual({ applied: MIGRATIONS.filter((m) => m.id >= 8).map((m) => m.id) });

          const state = await own.store.admin(async (tx) => {
            const rows = await tx.query<{ slug: string; plan: string | null; settings: Record<string, unknown>; rules: unknown }>(
              `SELECT t.slug, p.name AS plan, t.settings,
                      COALESCE((SELECT jsonb_agg(jsonb_build_array(r.id, r.metric, r."window", r."limit") ORDER BY r.id)
                                FROM limit_rules r WHERE r.tenant_id = t.id), '[]'::jsonb) AS rules
               FROM tenants t LEFT JOIN plans p ON p.id = t.plan_id ORDER BY t.slug`,
            );
            return Object.fromEntries(rows.rows.map((r) => [r.slug, { plan: r.plan, settings: r.settings, rules: r.rules }]));
          });
          expect(state).toEqual({
            't-empty': { plan: null, settings: {}, rules: [] },
            't-ent': { plan: 'enterprise', settings: {}, rules: [['tokens-per-day', 'tokens', 'day', 5_000]] },
            't-free': {
              plan: 'free',
              settings: { theme: 'dark' },
              rules: [
                ['budget-monthly', 'cost', 'month', 2_500_000],
                ['requests-per-minute', 'requests', 'minute', 120],
              ],
            },
            't-none': { plan: null, settings: {}, rules: [['concurrency', 'concurrency', null, 3]] },
            't-null': { plan: 'standard', settings: {}, rules: [] },
            't-unknown': { plan: null, settings: {}, rules: [] },
          });
          // FORCE is back on tenants after the conversion.
          const forced = await own.store.admin(
            async (tx) => (await tx.query<{ f: boolean }>("SELECT relforcerowsecurity AS f FROM pg_class WHERE relname = 'tenants'")).rows[0]?.f,
          );
          expect(forced).toBe(true);
        } finally {
          await own.close();
        }
      });
    });

    describe.skipIf(factory.openUnmigrated === undefined)('migration 0020 on existing rules', () => {
      it('makes a rule beyond its plan the platform\'s (only a platform could write it), every other rule the tenant\'s', async () => {
        const own = await (factory.openUnmigrated as () => Promise<StoreHandle>)();
        try {
          await runMigrations(own.store, MIGRATIONS.filter((m) => m.id < 20));
          await own.store.admin(async (tx) => {
            const std = await tx.query<{ id: string }>("SELECT id FROM plans WHERE name = 'standard'");
            const t = await tx.query<{ id: string }>("INSERT INTO tenants (slug, name, plan_id) VALUES ('t-std', 'S', $1) RETURNING id", [std.rows[0]?.id]);
            const bare = await tx.query<{ id: string }>("INSERT INTO tenants (slug, name) VALUES ('t-bare', 'B') RETURNING id");
            const cols = 'tenant_id, id, scope, subject, metric, "window", "limit", burst, models';
            const rows: unknown[][] = [
              [t.rows[0]?.id, 'requests-per-minute', 'tenant', null, 'requests', 'minute', 9000, null, null], // above: 3000
              [t.rows[0]?.id, 'tokens-per-day', 'tenant', null, 'tokens', 'day', 100, null, null], // below
              [t.rows[0]?.id, 'concurrency', 'tenant', null, 'concurrency', null, 8, null, ['gpt-4o']], // another measure
              [t.rows[0]?.id, 'budget-monthly', 'tenant', null, 'cost', 'month', 5_000_000_000, null, null], // equal
              [t.rows[0]?.id, 'extra', 'key', null, 'requests', 'second', 1_000_000, 5, null], // no plan rule
              [bare.rows[0]?.id, 'requests-per-minute', 'tenant', null, 'requests', 'minute', 9000, null, null], // no plan
            ];
            for (const r of rows) await tx.query(`INSERT INTO limit_rules (${cols}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text[])`, r);
          });
          expect(await runMigrations(own.store)).toEqual({ applied: MIGRATIONS.filter((m) => m.id >= 20).map((m) => m.id) });
          const owners = await own.store.admin(async (tx) => {
            const { rows } = await tx.query<{ slug: string; id: string; owner: string }>(
              'SELECT t.slug, r.id, r.owner FROM limit_rules r JOIN tenants t ON t.id = r.tenant_id ORDER BY t.slug, r.id',
            );
            return rows.map((r) => `${r.slug}/${r.id}=${r.owner}`);
          });
          expect(owners).toEqual([
            't-bare/requests-per-minute=tenant',
            't-std/budget-monthly=tenant',
            't-std/concurrency=platform',
            't-std/extra=tenant',
            't-std/requests-per-minute=platform',
            't-std/tokens-per-day=tenant',
          ]);
          const forced = await own.store.admin(async (tx) => {
            const { rows } = await tx.query<{ relname: string; f: boolean }>(
              "SELECT relname, relforcerowsecurity AS f FROM pg_class WHERE relname IN ('limit_rules', 'plans', 'tenants') ORDER BY relname",
            );
            return rows.map((r) => [r.relname, r.f]);
          });
          expect(forced).toEqual([
            ['limit_rules', true],
            ['plans', true],
            ['tenants', true],
          ]);
        } finally {
          await own.close();
        }
      });
    });
  });
}
