/** Plans, tenant limits and deployment limit settings in the configuration file. */
import { describe, expect, it } from 'vitest';
import { BASE, fixture } from './helpers.js';

describe('plans and limits in the configuration', () => {
  it('loads plans, tenant plan/zone/action/overrides with defaults filled in', async () => {
    const f = await fixture(`${BASE}
plans:
  - name: pro
    weight: 8
    rules:
      - { id: rpm, metric: requests, window: minute, limit: 600, burst: 100 }
      - { id: conc, metric: concurrency, limit: 16 }
tenants:
  - slug: acme
    plan: pro
    timeZone: America/New_York
    budgetAction: clamp
    limits:
      - { id: rpm, metric: requests, window: minute, limit: 1200 }
      - { id: m1-cost, scope: key, metric: cost, window: month, limit: 5000000, models: [m1, "m2*"] }
  - slug: plain
  - slug: none
    plan: null
    budgetAction: null
`);
    const config = await f.load();
    expect(config.plans).toEqual([
      {
        name: 'pro',
        weight: 8,
        budgetAction: 'reject',
        rules: [
          { id: 'rpm', scope: 'tenant', subject: null, metric: 'requests', window: 'minute', limit: 600, burst: 100, models: null },
          { id: 'conc', scope: 'tenant', subject: null, metric: 'concurrency', window: null, limit: 16, burst: null, models: null },
        ],
      },
    ]);
    const [acme, plain, none] = config.tenants;
    expect(acme).toMatchObject({ plan: 'pro', timeZone: 'America/New_York', budgetAction: 'clamp' });
    expect(acme?.limits?.[1]).toEqual({ id: 'm1-cost', scope: 'key', subject: null, metric: 'cost', window: 'month', limit: 5_000_000, burst: null, models: ['m1', 'm2*'] });
    // Absent means "leave what is stored": nothing is filled in.
    expect([plain?.plan, plain?.timeZone, plain?.budgetAction, plain?.limits]).toEqual([undefined, undefined, undefined, undefined]);
    expect([none?.plan, none?.budgetAction]).toEqual([null, null]);
  });

  it('a built-in plan may be used without declaring it', async () => {
    const f = await fixture(`${BASE}
tenants:
  - { slug: a, plan: free }
  - { slug: b, plan: enterprise }
`);
    expect((await f.load()).tenants.map((t) => t.plan)).toEqual(['free', 'enterprise']);
  });

  it('deployments get weight 1 and fail closed unless told otherwise', async () => {
    const f = await fixture(`demo: { enabled: false }
providers:
  - { name: mock, kind: mock }
deployments:
  - { model: a, provider: mock }
  - { model: b, provider: mock, weight: 2.5, limitsFailMode: open }
`);
    expect((await f.load()).deployments.map((d) => [d.model, d.weight, d.limitsFailMode])).toEqual([
      ['a', 1, 'closed'],
      ['b', 2.5, 'open'],
    ]);
  });

  it('names the path of every problem', async () => {
    const f = await fixture(`${BASE}
plans:
  - name: pro
    weight: 0
    rules:
      - { id: rpm, metric: requests, limit: 10 }
      - { id: conc, metric: concurrency, window: minute, limit: 1 }
      - { id: rpm, metric: requests, window: day, limit: 5, burst: 10 }
      - { id: typo, metric: requests, window: minute, limit: 5, models: [m3] }
  - name: pro
    weight: 1
    rules: []
tenants:
  - slug: acme
    plan: platinum
    timeZone: Mars/Olympus
    budgetAction: overdraw
    limits:
      - { id: Bad, metric: tokens, window: minute, limit: -1 }
      - { id: t, subject: someone, metric: tokens, window: minute, limit: 1 }
`);
    const lines = (await f.fail()).map((l) => l.replace(`Invalid configuration in ${f.file} at `, ''));
    const at = (path: string) => lines.filter((l) => l.startsWith(`${path}:`));
    expect(at('plans[0].weight')).toHaveLength(1);
    expect(at('plans[0].rules[0].window')[0]).toMatch(/required for metric "requests"/);
    expect(at('plans[0].rules[1].window')[0]).toMatch(/must be null \(or absent\) for metric "concurrency"/);
    expect(at('plans[0].rules[2].burst')[0]).toMatch(/only rate windows/);
    expect(at('tenants[0].timeZone')[0]).toMatch(/an IANA time zone/);
    expect(at('tenants[0].budgetAction')[0]).toMatch(/one of "reject", "clamp"/);
    expect(at('tenants[0].limits[0].id')).toHaveLength(1);
    expect(at('tenants[0].limits[0].limit')).toHaveLength(1);
    expect(at('tenants[0].limits[1].subject')[0]).toMatch(/must be null for scope "tenant"/);
    // Every line is one of the above: nothing reported without a path.
    expect(lines.every((l) => /^(plans|tenants)\[\d+\]\./.test(l))).toBe(true);
  });

  it('after the schema: duplicate plans, duplicate rule ids, unknown plans and models, each at its path', async () => {
    const f = await fixture(`${BASE}
plans:
  - name: pro
    weight: 2
    rules:
      - { id: rpm, metric: requests, window: minute, limit: 10, models: [m1, m3, "m4*"] }
  - name: pro
    weight: 1
    rules: []
tenants:
  - slug: acme
    plan: platinum
    limits:
      - { id: rpm, metric: requests, window: minute, limit: 10 }
      - { id: rpm, metric: requests, window: minute, limit: 20, models: [nope] }
`);
    const lines = (await f.fail()).map((l) => l.replace(`Invalid configuration in ${f.file} at `, ''));
    expect(lines).toEqual([
      expect.stringMatching(/^tenants\[0\]\.limits\[1\]\.id: duplicate rule id "rpm" \(also \[0\]\)/),
    ]);
    // Schema problems stop the load first; the same file without the duplicate id shows the rest.
    const g = await fixture(`${BASE}
plans:
  - name: pro
    weight: 2
    rules:
      - { id: rpm, metric: requests, window: minute, limit: 10, models: [m1, m3, "m4*"] }
  - name: pro
    weight: 1
    rules: []
tenants:
  - slug: acme
    plan: platinum
    limits:
      - { id: rpm, metric: requests, window: minute, limit: 20, models: [nope] }
`);
    const rest = (await g.fail()).map((l) => l.replace(`Invalid configuration in ${g.file} at `, '').replace(/ \(line \d+, column \d+\)$/, ''));
    expect(rest).toEqual([
      'plans[0].rules[0].models[1]: unknown model "m3"; no deployment serves it',
      'plans[1].name: duplicate plan name "pro" (also plans[0])',
      'tenants[0].plan: unknown plan "platinum"; declared plans: "pro"; built-in plans: "free", "standard", "enterprise" (declare it under plans)',
      'tenants[0].limits[0].models[0]: unknown model "nope"; no deployment serves it',
    ]);
  });
});
