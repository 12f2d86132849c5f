/**
 * Cross-reference checks for plans and limit rules: duplicate plan names, tenants on a plan that
 * is neither declared nor seeded, and rules naming a model no deployment serves (a typo would
 * otherwise make the rule silently count nothing).
 */
import type { LimitRule } from '../limits/types.js';
import { SEEDED_PLANS } from '../limits/seeded-plans.js';
import type { Deployment } from '../providers/types.js';
import type { PathSegment } from './errors.js';
import type { Report } from './resolve.js';
import type { Config } from './schema.js';

function quoted(names: Iterable<string>): string {
  return [...names].map((n) => `"${n}"`).join(', ');
}

function checkRuleModels(rules: readonly LimitRule[], at: PathSegment[], models: ReadonlySet<string>, report: Report): void {
  rules.forEach((rule, ri) => {
    rule.models?.forEach((m, mi) => {
      // A trailing * is a prefix: it may well be meant for models added later.
      if (!m.endsWith('*') && !models.has(m)) report([...at, ri, 'models', mi], `unknown model "${m}"; no deployment serves it`);
    });
  });
}

/** Reports problems; returns every plan name a tenant may use. */
export function checkPlans(config: Config, deployments: readonly Deployment[], report: Report): Set<string> {
  const models = new Set(deployments.map((d) => d.model));
  const declared = new Map<string, number>();
  config.plans.forEach((p, pi) => {
    const first = declared.get(p.name);
    if (first !== undefined) report(['plans', pi, 'name'], `duplicate plan name "${p.name}" (also plans[${first}])`);
    else declared.set(p.name, pi);
    checkRuleModels(p.rules, ['plans', pi, 'rules'], models, report);
  });
  const known = new Set<string>([...SEEDED_PLANS, ...declared.keys()]);
  config.tenants.forEach((t, ti) => {
    if (typeof t.plan === 'string' && !known.has(t.plan)) {
      const others = declared.size > 0 ? `declared plans: ${quoted(declared.keys())}; ` : '';
      report(['tenants', ti, 'plan'], `unknown plan "${t.plan}"; ${others}built-in plans: ${quoted(SEEDED_PLANS)} (declare it under plans)`);
    }
    if (t.limits !== undefined) checkRuleModels(t.limits, ['tenants', ti, 'limits'], models, report);
  });
  return known;
}
