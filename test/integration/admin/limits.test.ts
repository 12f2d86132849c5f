/**
 * A tenant's limits through the admin API (issue 5, "What clients see"), on PGlite and on
 * PostgreSQL: the effective view (plan rules, overrides, additions) and who reads it; tenant
 * rules with If-Match and Idempotency-Key; the plan ceiling for tenant admins (DESIGN §13) and
 * platform admins above it; subjects checked within the tenant; the tenant settings a tenant
 * admin may change; audit entries for every change.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../helpers/gateway.js';
import { adminBackends, BOOTSTRAP_KEY, chat, client, envelope, etag, makeTenant, roleKey, str, type Client } from './helpers.js';

/** The "standard" plan's rules (migrations 0008 and 0009). */
const STANDARD_RPM = { id: 'requests-per-minute', scope: 'tenant', subject: null, metric: 'requests', window: 'minute', limit: 3000, burst: null, models: null };

interface RuleOut {
  id: string;
  limit: number;
  burst: number | null;
  source: 'plan' | 'tenant';
  overridden?: boolean;
  above_plan?: boolean;
}

const brief = (rules: RuleOut[]) =>
  rules.map((r) => `${r.source}:${r.id}=${r.limit}${r.burst === null ? '' : `/${r.burst}`}${r.overridden === true ? ' (overridden)' : ''}${r.above_plan === true ? ' (above plan)' : ''}`);

for (const backend of await adminBackends()) {
  describe(`limits [${backend.label}]`, () => {
    let gw: TestGateway;
    let stop: () => Promise<void>;
    let platform: Client;
    let admin: Client;
    let tenant: { id: string; slug: string; admin: string };
    let base: string;

    beforeAll(async () => {
      ({ gw, stop } = await backend.start());
      platform = client(gw, BOOTSTRAP_KEY);
      tenant = await makeTenant(platform, 'limited');
      admin = client(gw, tenant.admin);
      base = `/tenants/${tenant.id}/limits`;
    });
    afterAll(async () => {
      await stop?.();
    });

    const effective = async (c: Client = admin): Promise<RuleOut[]> => {
      const r = await c('GET', base);
      expect(r.status, r.text).toBe(200);
      return r.json.rules as RuleOut[];
    };

    it('shows the plan\'s rules as effective to every tenant role but the auditor', async () => {
      const r = await admin('GET', base);
      expect(r.json).toMatchObject({ object: 'limits', plan: { name: 'standard', weight: 4 }, time_zone: 'UTC', budget_action: 'reject' });
      expect(r.json.rules).toContainEqual({ ...STANDARD_RPM, source: 'plan', overridden: false });
      expect(brief(r.json.rules as RuleOut[])).toEqual([
        'plan:requests-per-minute=3000',
        'plan:tokens-per-day=50000000',
        'plan:concurrency=64',
        'plan:budget-monthly=5000000000',
        'plan:config-objects=10000',
        'plan:cache-bytes=67108864',
        'plan:log-bytes=268435456',
      ]);
      for (const role of ['tenant_developer', 'tenant_billing', 'tenant_viewer']) {
        const c = client(gw, await roleKey(admin, tenant.id, role));
        expect((await c('GET', base)).json).toEqual(r.json);
        expect((await c('GET', `${base}/rules`)).status).toBe(200);
        envelope(await c('POST', `${base}/rules`, { body: { id: 'x', metric: 'requests', window: 'minute', limit: 1 } }), 403, 'forbidden');
      }
      envelope(await client(gw, await roleKey(admin, tenant.id, 'tenant_auditor'))('GET', base), 403, 'forbidden');
      expect((await platform('GET', base)).json).toEqual(r.json);
    });

    it('a tenant admin overrides a plan rule within the plan, and gets a 403 naming the ceiling above it', async () => {
      const over = await admin('POST', `${base}/rules`, { body: { ...STANDARD_RPM, limit: 3001 } });
      const e = envelope(over, 403, 'forbidden');
      expect(e.message).toContain('"requests-per-minute"');
      expect(e.message).toContain('"standard" plan');
      expect(e.message).toContain('ceiling of 3000');
      const burst = envelope(await admin('POST', `${base}/rules`, { body: { ...STANDARD_RPM, limit: 1000, burst: 5000 } }), 403, 'forbidden');
      expect(burst.message).toMatch(/burst 5000 is above .* ceiling of 3000/);
      // Replacing a plan rule by one counting something else would remove the plan's limit.
      for (const change of [{ window: 'hour' }, { scope: 'key' }, { models: ['gpt-4o-mini'] }, { metric: 'input_tokens' }]) {
        const other = envelope(await admin('POST', `${base}/rules`, { body: { ...STANDARD_RPM, ...change, limit: 10 } }), 403, 'forbidden');
        expect(other.message).toContain('must count the same thing');
      }
      expect(await effective()).toContainEqual(expect.objectContaining({ id: 'requests-per-minute', source: 'plan', overridden: false }));

      const lower = await admin('POST', `${base}/rules`, { body: { id: 'requests-per-minute', metric: 'requests', window: 'minute', limit: 600, burst: 100 } });
      expect(lower.status, lower.text).toBe(201);
      expect(lower.headers.location).toBe(`/admin/v1${base}/rules/requests-per-minute`);
      expect(lower.json).toMatchObject({ object: 'limit_rule', id: 'requests-per-minute', limit: 600, burst: 100, scope: 'tenant' });
      expect(brief(await effective()).slice(0, 3)).toEqual([
        'plan:requests-per-minute=3000 (overridden)',
        'tenant:requests-per-minute=600/100',
        'plan:tokens-per-day=50000000',
      ]);
      expect(envelope(await admin('POST', `${base}/rules`, { body: { ...STANDARD_RPM, limit: 1 } }), 409, 'conflict').param).toBe('id');

      // PATCH: If-Match, the same ceiling, and the whole rule re-validated.
      const path = `${base}/rules/requests-per-minute`;
      envelope(await admin('PATCH', path, { body: { limit: 500 } }), 428, 'precondition_required');
      envelope(await admin('PATCH', path, { body: { limit: 4000 }, headers: { 'if-match': etag(lower) } }), 403, 'forbidden');
      expect(envelope(await admin('PATCH', path, { body: { window: null }, headers: { 'if-match': etag(lower) } }), 400, 'invalid_request').param).toBe('window');
      const patched = await admin('PATCH', path, { body: { limit: 500, burst: null }, headers: { 'if-match': etag(lower) } });
      expect(patched.status, patched.text).toBe(200);
      expect(patched.json).toMatchObject({ limit: 500, burst: null });
      envelope(await admin('PATCH', path, { body: { limit: 400 }, headers: { 'if-match': etag(lower) } }), 412, 'precondition_failed');

      // Deleting the override brings the plan's rule back; a plan rule itself cannot be deleted.
      envelope(await admin('DELETE', path), 428, 'precondition_required');
      expect((await admin('DELETE', path, { headers: { 'if-match': etag(patched) } })).status).toBe(204);
      expect(await effective()).toContainEqual(expect.objectContaining({ id: 'requests-per-minute', source: 'plan', overridden: false, limit: 3000 }));
      envelope(await admin('DELETE', `${base}/rules/tokens-per-day`, { headers: { 'if-match': '*' } }), 404, 'not_found');
    });

    it('extra rules are always allowed to a tenant admin, whatever their numbers', async () => {
      const teams = await admin('POST', `/tenants/${tenant.id}/teams`, { body: { slug: 'research' } });
      const key = await admin('POST', `/tenants/${tenant.id}/api-keys`, { body: { name: 'batch' } });
      const rules = [
        { id: 'per-key-rpm', scope: 'key', metric: 'requests', window: 'minute', limit: 1_000_000 },
        { id: 'batch-key-tpd', scope: 'key', subject: str(key.json.id), metric: 'tokens', window: 'day', limit: 10_000 },
        { id: 'research-budget', scope: 'team', subject: str(teams.json.id), metric: 'cost', window: 'month', limit: 50_000_000 },
        { id: 'per-user-gpt4o', scope: 'user', metric: 'requests', window: 'day', limit: 100, models: ['gpt-4o*'] },
      ];
      for (const body of rules) {
        const r = await admin('POST', `${base}/rules`, { body });
        expect(r.status, r.text).toBe(201);
      }
      const list = await admin('GET', `${base}/rules`);
      expect((list.json.data as { id: string }[]).map((r) => r.id)).toEqual(['batch-key-tpd', 'per-key-rpm', 'per-user-gpt4o', 'research-budget']);
      expect(list.json.next_cursor).toBeNull();
      const got = await admin('GET', `${base}/rules/per-user-gpt4o`);
      expect(got.json).toMatchObject({ scope: 'user', subject: null, models: ['gpt-4o*'], limit: 100 });
      expect(etag(got)).toBe('"v1"');
      expect(brief(await effective()).slice(-4)).toEqual([
        'tenant:batch-key-tpd=10000',
        'tenant:per-key-rpm=1000000',
        'tenant:per-user-gpt4o=100',
        'tenant:research-budget=50000000',
      ]);
    });

    it('a team or key rule must name a team or key of this tenant; another tenant\'s reads as unknown', async () => {
      const other = await makeTenant(platform, 'limited-other');
      const otherAdmin = client(gw, other.admin);
      const theirTeam = str((await otherAdmin('POST', `/tenants/${other.id}/teams`, { body: { slug: 'theirs' } })).json.id);
      const theirKey = str((await otherAdmin('POST', `/tenants/${other.id}/api-keys`, { body: { name: 'theirs' } })).json.id);
      for (const [scope, foreign] of [['team', theirTeam], ['key', theirKey]] as const) {
        const unknown = randomUUID();
        const a = await admin('POST', `${base}/rules`, { body: { id: `x-${scope}`, scope, subject: foreign, metric: 'requests', window: 'minute', limit: 1 } });
        const b = await admin('POST', `${base}/rules`, { body: { id: `x-${scope}`, scope, subject: unknown, metric: 'requests', window: 'minute', limit: 1 } });
        expect(envelope(a, 400, 'invalid_request').param).toBe('subject');
        expect(envelope(b, 400, 'invalid_request').param).toBe('subject');
        expect(a.json.error?.message.replace(foreign, '<id>')).toBe(b.json.error?.message.replace(unknown, '<id>'));
        // The platform admin is checked the same way.
        envelope(await platform('POST', `${base}/rules`, { body: { id: `x-${scope}`, scope, subject: foreign, metric: 'requests', window: 'minute', limit: 1 } }), 400);
      }
      expect(envelope(await admin('POST', `${base}/rules`, { body: { id: 'y', subject: 'someone', metric: 'requests', window: 'minute', limit: 1 } }), 400).param).toBe('subject');
      expect(envelope(await admin('POST', `${base}/rules`, { body: { id: 'Bad_Id', metric: 'requests', window: 'minute', limit: 1 } }), 400).param).toBe('id');
      expect(envelope(await admin('POST', `${base}/rules`, { body: { id: 'z', metric: 'requests', window: 'minute', limit: 1, extra: 1 } }), 400).param).toBe(null);
      // Nothing of the other tenant changed, and it sees none of these rules.
      expect((await otherAdmin('GET', `/tenants/${other.id}/limits/rules`)).json.data).toEqual([]);
    });

    it('a platform admin sets a tenant above its plan; the view marks it; a plan lowered later shows too', async () => {
      const raised = await platform('POST', `${base}/rules`, { body: { ...STANDARD_RPM, limit: 9000 } });
      expect(raised.status, raised.text).toBe(201);
      expect(await effective()).toContainEqual(expect.objectContaining({ id: 'requests-per-minute', source: 'tenant', limit: 9000, above_plan: true }));
      expect(raised.json).toMatchObject({ owner: 'platform' });
      // The platform's rule is the platform's: the tenant admin neither changes nor removes it.
      const path = `${base}/rules/requests-per-minute`;
      for (const limit of [8000, 2000]) {
        const e = envelope(await admin('PATCH', path, { body: { limit }, headers: { 'if-match': etag(raised) } }), 403, 'forbidden');
        expect(e.message).toContain('set by the platform');
      }
      envelope(await admin('DELETE', path, { headers: { 'if-match': etag(raised) } }), 403, 'forbidden');
      const capped = await platform('PATCH', path, { body: { limit: 2000 }, headers: { 'if-match': etag(raised) } });
      expect(capped.status, capped.text).toBe(200);
      expect(await effective()).toContainEqual(
        expect.objectContaining({ id: 'requests-per-minute', source: 'tenant', owner: 'platform', limit: 2000, above_plan: false, enforced: 'as_written' }),
      );
      // The tenant is moved to a smaller plan: the override is now above that plan's ceiling, and
      // being the platform's, stays in force as written.
      const t = await platform('GET', `/tenants/${tenant.id}`);
      const moved = await platform('PATCH', `/tenants/${tenant.id}`, { body: { plan: 'free' }, headers: { 'if-match': etag(t) } });
      expect(moved.json.plan).toBe('free');
      expect(await effective()).toContainEqual(
        expect.objectContaining({ id: 'requests-per-minute', source: 'tenant', limit: 2000, above_plan: true, enforced: 'as_written' }),
      );
      expect((await platform('DELETE', path, { headers: { 'if-match': etag(capped) } })).status).toBe(204);
      expect((await admin('GET', base)).json.plan).toMatchObject({ name: 'free', weight: 1 });
      const back = await platform('PATCH', `/tenants/${tenant.id}`, { body: { template: 'standard' }, headers: { 'if-match': etag(moved) } });
      expect(back.json.plan).toBe('standard');
    });

    it('a tenant admin changes its time zone and budget action, never its plan or name', async () => {
      const t = await admin('GET', `/tenants/${tenant.id}`);
      for (const body of [{ plan: 'enterprise' }, { name: 'Renamed' }, { time_zone: 'Europe/Berlin', plan: 'enterprise' }, { regions: ['eu'] }]) {
        const r = envelope(await admin('PATCH', `/tenants/${tenant.id}`, { body, headers: { 'if-match': etag(t) } }), 403, 'forbidden');
        expect(r.message).toMatch(/may change only the time_zone, budget_action, cache and logs/);
        expect(r.param).toBe(Object.keys(body).find((k) => k !== 'time_zone'));
      }
      const dev = client(gw, await roleKey(admin, tenant.id, 'tenant_developer'));
      envelope(await dev('PATCH', `/tenants/${tenant.id}`, { body: { time_zone: 'Europe/Berlin' }, headers: { 'if-match': etag(t) } }), 403, 'forbidden');
      const ok = await admin('PATCH', `/tenants/${tenant.id}`, { body: { time_zone: 'Europe/Berlin', budget_action: 'clamp' }, headers: { 'if-match': etag(t) } });
      expect(ok.status, ok.text).toBe(200);
      expect(ok.json).toMatchObject({ plan: 'standard', time_zone: 'Europe/Berlin', budget_action: 'clamp', name: 'Tenant limited' });
      expect((await admin('GET', base)).json).toMatchObject({ time_zone: 'Europe/Berlin', budget_action: 'clamp' });
      // null: the plan's action again.
      const reset = await admin('PATCH', `/tenants/${tenant.id}`, { body: { budget_action: null }, headers: { 'if-match': etag(ok) } });
      expect(reset.json.budget_action).toBeNull();
      expect((await admin('GET', base)).json.budget_action).toBe('reject');
      expect(envelope(await admin('PATCH', `/tenants/${tenant.id}`, { body: { budget_action: 'pray' }, headers: { 'if-match': etag(reset) } }), 400).param).toBe('budget_action');
      expect(envelope(await platform('PATCH', `/tenants/${tenant.id}`, { body: { plan: 'platinum' }, headers: { 'if-match': etag(reset) } }), 400).param).toBe('plan');
    });

    it('creation is idempotent with an Idempotency-Key, and a tenant has at most 100 rules', async () => {
      const t = await makeTenant(platform, 'many-rules');
      const a = client(gw, t.admin);
      const path = `/tenants/${t.id}/limits/rules`;
      const body = { id: 'r-0', metric: 'requests', window: 'second', limit: 5 };
      const first = await a('POST', path, { body, headers: { 'idempotency-key': 'rule-0' } });
      const again = await a('POST', path, { body, headers: { 'idempotency-key': 'rule-0' } });
      expect(first.status, first.text).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.json).toEqual(first.json);
      for (let i = 1; i < 100; i++) {
        const r = await a('POST', path, { body: { ...body, id: `r-${i}` } });
        expect(r.status, r.text).toBe(201);
      }
      const full = envelope(await a('POST', path, { body: { ...body, id: 'r-100' } }), 409, 'conflict');
      expect(full.message).toContain('100 limit rules');
      expect((await a('GET', path)).json.data).toHaveLength(100);
    });

    it('plan and rule changes reach the data plane at once, without a restart', async () => {
      const daily = { id: 'requests-per-day', metric: 'requests', window: 'day', limit: 2 };
      const plan = await platform('POST', '/plans', { body: { name: 'tiny', rules: [daily] } });
      const t = await platform('POST', '/tenants', { body: { slug: 'tiny-co', name: 'Tiny', plan: 'tiny' } });
      const tid = str(t.json.id);
      const owner = client(gw, await roleKey(platform, tid, 'tenant_admin'));
      const key = str((await owner('POST', `/tenants/${tid}/api-keys`, { body: { name: 'app' } })).json.key);
      const statuses = async (n: number) => {
        const out: string[] = [];
        for (let i = 0; i < n; i++) {
          const r = await chat(gw, key);
          out.push(r.status === 200 ? '200' : `${r.status} ${r.code ?? ''}`);
        }
        return out;
      };
      expect(await statuses(3)).toEqual(['200', '200', '429 quota_exceeded']);
      // The plan is raised: the tenant on it may go on at once.
      const raised = await platform('PATCH', '/plans/tiny', { body: { rules: [{ ...daily, limit: 5 }] }, headers: { 'if-match': etag(plan) } });
      expect(raised.status, raised.text).toBe(200);
      expect(await statuses(1)).toEqual(['200']);
      // The tenant admin lowers its own limit below the plan; removing the override restores the plan's.
      const own = await owner('POST', `/tenants/${tid}/limits/rules`, { body: { ...daily, limit: 3 } });
      expect(own.status, own.text).toBe(201);
      expect(await statuses(1)).toEqual(['429 quota_exceeded']);
      await owner('DELETE', `/tenants/${tid}/limits/rules/requests-per-day`, { headers: { 'if-match': etag(own) } });
      expect(await statuses(3)).toEqual(['200', '200', '429 quota_exceeded']);
      // Moved to a plan without the rule: no daily limit any more.
      const cur = await platform('GET', `/tenants/${tid}`);
      await platform('PATCH', `/tenants/${tid}`, { body: { plan: 'enterprise' }, headers: { 'if-match': etag(cur) } });
      expect(await statuses(1)).toEqual(['200']);
    });

    it('a tenant\'s override left above a lowered plan is clamped to it on the data plane; one counting something else gives way', async () => {
      const rpm = { id: 'rpm', metric: 'requests', window: 'minute', limit: 5 };
      const daily = { id: 'daily', metric: 'requests', window: 'day', limit: 1000 };
      const plan = await platform('POST', '/plans', { body: { name: 'shrinking', rules: [rpm, daily] } });
      expect(plan.status, plan.text).toBe(201);
      const t = await platform('POST', '/tenants', { body: { slug: 'shrinking-co', name: 'Shrinking', plan: 'shrinking' } });
      const tid = str(t.json.id);
      const owner = client(gw, await roleKey(platform, tid, 'tenant_admin'));
      const key = str((await owner('POST', `/tenants/${tid}/api-keys`, { body: { name: 'app' } })).json.key);
      const own = await owner('POST', `/tenants/${tid}/limits/rules`, { body: { ...rpm, limit: 4 } });
      expect(own.json).toMatchObject({ owner: 'tenant', limit: 4 });
      const ownDaily = await owner('POST', `/tenants/${tid}/limits/rules`, { body: { ...daily, limit: 900 } });
      expect(ownDaily.status, ownDaily.text).toBe(201);

      // The platform lowers the plan below the tenant's own rule, and makes "daily" hourly.
      const lowered = await platform('PATCH', '/plans/shrinking', {
        body: { rules: [{ ...rpm, limit: 2 }, { ...daily, window: 'hour', limit: 3 }] },
        headers: { 'if-match': etag(plan) },
      });
      expect(lowered.status, lowered.text).toBe(200);
      const view = (await owner('GET', `/tenants/${tid}/limits`)).json.rules as Record<string, unknown>[];
      expect(view).toContainEqual(expect.objectContaining({ id: 'rpm', source: 'plan', overridden: true }));
      expect(view).toContainEqual(
        expect.objectContaining({ id: 'rpm', source: 'tenant', owner: 'tenant', limit: 4, above_plan: true, enforced: 'clamped', enforced_limit: 2, enforced_burst: null }),
      );
      // The tenant's daily rule no longer counts what the plan's counts: the plan's applies.
      expect(view).toContainEqual(expect.objectContaining({ id: 'daily', source: 'plan', window: 'hour', overridden: false }));
      expect(view).toContainEqual(expect.objectContaining({ id: 'daily', source: 'tenant', above_plan: true, enforced: 'plan_rule' }));

      // Enforced: 2 per minute (the plan's), not the 4 the tenant wrote before the plan changed.
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await chat(gw, key)).status);
      expect(statuses).toEqual([200, 200, 429]);
    });

    it('a tenant admin can neither change nor delete a rule the platform set; the platform can', async () => {
      const t = await makeTenant(platform, `owned-${randomUUID().slice(0, 8)}`);
      const owner = client(gw, t.admin);
      const path = `/tenants/${t.id}/limits/rules/abuse-cap`;
      const cap = await platform('POST', `/tenants/${t.id}/limits/rules`, { body: { id: 'abuse-cap', metric: 'requests', window: 'minute', limit: 10 } });
      expect(cap.json).toMatchObject({ owner: 'platform' });
      // An extra rule only restricts, so a tenant admin could otherwise raise it at will.
      expect(envelope(await owner('PATCH', path, { body: { limit: 1_000_000 }, headers: { 'if-match': etag(cap) } }), 403, 'forbidden').message).toBe(
        'Rule "abuse-cap" was set by the platform; only a platform admin can change it.',
      );
      expect(envelope(await owner('DELETE', path, { headers: { 'if-match': etag(cap) } }), 403, 'forbidden').message).toContain('can delete it');
      expect((await owner('GET', path)).json).toMatchObject({ owner: 'platform', limit: 10 });
      expect((await owner('GET', `/tenants/${t.id}/limits/rules`)).json.data).toEqual([expect.objectContaining({ id: 'abuse-cap', owner: 'platform' })]);
      // The tenant's own rules stay its own; a platform change makes a rule the platform's.
      const mine = await owner('POST', `/tenants/${t.id}/limits/rules`, { body: { id: 'mine', metric: 'requests', window: 'minute', limit: 5 } });
      expect(mine.json).toMatchObject({ owner: 'tenant' });
      const taken = await platform('PATCH', `/tenants/${t.id}/limits/rules/mine`, { body: { limit: 6 }, headers: { 'if-match': etag(mine) } });
      expect(taken.json).toMatchObject({ owner: 'platform', limit: 6 });
      envelope(await owner('DELETE', `/tenants/${t.id}/limits/rules/mine`, { headers: { 'if-match': etag(taken) } }), 403, 'forbidden');
      expect((await platform('DELETE', path, { headers: { 'if-match': etag(cap) } })).status).toBe(204);
      // The owner is in the audit trail.
      const audit = await owner('GET', `/tenants/${t.id}/audit?order=asc&limit=100`);
      expect(audit.json.data).toContainEqual(expect.objectContaining({ action: 'limit_rule.create', target_id: 'abuse-cap', after: expect.objectContaining({ owner: 'platform' }) }));
    });

    it("another tenant's admin gets 404 for this tenant's limits and rules, whatever it tries", async () => {
      const other = await makeTenant(platform, `nosy-${randomUUID().slice(0, 8)}`);
      const nosy = client(gw, other.admin);
      const created = await admin('POST', `${base}/rules`, { body: { id: 'private', metric: 'requests', window: 'minute', limit: 7 } });
      expect(created.status, created.text).toBe(201);
      for (const [method, path, body] of [
        ['GET', base, undefined],
        ['GET', `${base}/rules`, undefined],
        ['GET', `${base}/rules/private`, undefined],
        ['POST', `${base}/rules`, { id: 'sneaky', metric: 'requests', window: 'minute', limit: 1 }],
        ['PATCH', `${base}/rules/private`, { limit: 1 }],
        ['DELETE', `${base}/rules/private`, undefined],
      ] as const) {
        const r = await nosy(method, path, { ...(body !== undefined ? { body } : {}), headers: { 'if-match': '*' } });
        envelope(r, 404, 'not_found');
      }
      expect((await admin('GET', `${base}/rules/private`)).json).toMatchObject({ limit: 7 });
      expect((await admin('GET', `${base}/rules/sneaky`)).status).toBe(404);
      await admin('DELETE', `${base}/rules/private`, { headers: { 'if-match': etag(created) } });
    });

    it('a key-scoped rule follows the key through a rotation: the replacement keeps the rule and its counter', async () => {
      const t = await makeTenant(platform, `rotating-${randomUUID().slice(0, 8)}`);
      const owner = client(gw, t.admin);
      const created = await owner('POST', `/tenants/${t.id}/api-keys`, { body: { name: 'app' } });
      const first = str(created.json.key);
      const firstId = str(created.json.id);
      const rule = await owner('POST', `/tenants/${t.id}/limits/rules`, {
        body: { id: 'app-per-minute', scope: 'key', subject: firstId, metric: 'requests', window: 'minute', limit: 3 },
      });
      expect(rule.status, rule.text).toBe(201);
      expect((await chat(gw, first)).status).toBe(200);
      expect((await chat(gw, first)).status).toBe(200);

      const rotated = await owner('POST', `/tenants/${t.id}/api-keys/${firstId}/rotate`, { body: { grace_period_seconds: 3600 } });
      expect(rotated.status, rotated.text).toBe(201);
      const second = str(rotated.json.key);
      // One left on the shared counter: the replacement is not a fresh key to the limits.
      expect(await chat(gw, second)).toMatchObject({ status: 200 });
      expect(await chat(gw, second)).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
      expect(await chat(gw, first)).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
      // Rotated again: still the same rule, as written.
      const third = await owner('POST', `/tenants/${t.id}/api-keys/${str(rotated.json.id)}/rotate`, { body: { grace_period_seconds: 0 } });
      expect(await chat(gw, str(third.json.key))).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
      expect((await owner('GET', `/tenants/${t.id}/limits/rules/app-per-minute`)).json).toMatchObject({ subject: firstId });
      // A rule written against the newest key holds the older keys of its chain too.
      await owner('DELETE', `/tenants/${t.id}/limits/rules/app-per-minute`, { headers: { 'if-match': etag(rule) } });
      expect(await chat(gw, first)).toMatchObject({ status: 200 });
      const newest = await owner('POST', `/tenants/${t.id}/limits/rules`, {
        body: { id: 'newest-blocked', scope: 'key', subject: str(third.json.id), metric: 'requests', window: 'minute', limit: 0 },
      });
      expect(newest.status, newest.text).toBe(201);
      expect(await chat(gw, first)).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
      expect(await chat(gw, str(third.json.key))).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    });

    it('records every change in the tenant\'s audit log with before and after', async () => {
      const created = await admin('POST', `${base}/rules`, { body: { id: 'audited', metric: 'concurrency', limit: 3 }, headers: { 'x-request-id': 'req-rule-1' } });
      const updated = await admin('PATCH', `${base}/rules/audited`, { body: { limit: 2 }, headers: { 'if-match': etag(created) } });
      await admin('DELETE', `${base}/rules/audited`, { headers: { 'if-match': etag(updated) } });
      const all = await admin('GET', `/tenants/${tenant.id}/audit?order=asc&limit=1000`);
      const mine = (all.json.data as { action: string; target_id: string; actor_kind: string; request_id: string | null; before: unknown; after: unknown }[]).filter(
        (e) => e.target_id === 'audited',
      );
      expect(mine.map((e) => e.action)).toEqual(['limit_rule.create', 'limit_rule.update', 'limit_rule.delete']);
      expect(mine[0]).toMatchObject({ actor_kind: 'api_key', request_id: 'req-rule-1', after: { id: 'audited', metric: 'concurrency', limit: 3 } });
      expect(mine[1]).toMatchObject({ before: { limit: 3 }, after: { limit: 2 } });
      expect(mine[2]).toMatchObject({ before: { limit: 2 } });
      const tenantChanges = (all.json.data as { action: string; before: { timeZone?: string; plan?: string } | null; after: { timeZone?: string; plan?: string } | null }[]).filter(
        (e) => e.action === 'tenant.update',
      );
      expect(tenantChanges).toContainEqual(expect.objectContaining({ before: expect.objectContaining({ plan: 'standard' }), after: expect.objectContaining({ plan: 'free' }) }));
      expect(tenantChanges).toContainEqual(expect.objectContaining({ after: expect.objectContaining({ timeZone: 'Europe/Berlin', budgetAction: 'clamp' }) }));
    });
  });
}
