/**
 * Cross-reference checks for tenants: everything that makes two records contradict each other
 * (two tenants claiming one domain, one key value in two tenants) must fail at start-up, since
 * tenant identification rejects ambiguous requests rather than guessing.
 */
import type { Deployment } from '../providers/types.js';
import type { Report } from './resolve.js';
import type { Config } from './schema.js';
import type { ResolvedTenant } from './types.js';

/** Lists at most a few names: enough to spot a typo without flooding the message. */
function listOf(names: Iterable<string>): string {
  const all = [...names];
  const shown = all.slice(0, 10).map((n) => `"${n}"`).join(', ');
  return all.length > 10 ? `${shown}, ... (${all.length} in all)` : shown;
}

/**
 * @param keyValues resolved key values by `tenantIndex/keyIndex` (absent when unresolvable)
 */
export function resolveTenants(
  config: Config,
  deployments: readonly Deployment[],
  keyValues: ReadonlyMap<string, string>,
  report: Report,
): ResolvedTenant[] {
  const models = new Set(deployments.map((d) => d.model));
  const regions = new Set(deployments.map((d) => d.region));
  const slugs = new Map<string, number>();
  const domains = new Map<string, string>();
  // Key values are compared so that one key cannot authenticate as two tenants.
  const values = new Map<string, string>();

  const checkModel = (model: string, path: Parameters<Report>[0]): void => {
    if (!models.has(model)) {
      report(path, `unknown model "${model}"; ${models.size ? `known models: ${listOf(models)}` : 'no deployments are declared'}`);
    }
  };

  return config.tenants.map((t, ti) => {
    const first = slugs.get(t.slug);
    if (first !== undefined) report(['tenants', ti, 'slug'], `duplicate tenant slug "${t.slug}" (also tenants[${first}])`);
    else slugs.set(t.slug, ti);

    t.domains.forEach((domain, di) => {
      const owner = domains.get(domain);
      if (owner !== undefined) report(['tenants', ti, 'domains', di], `domain "${domain}" is already claimed by ${owner}`);
      else domains.set(domain, `tenants[${ti}].domains[${di}]`);
    });

    if (t.models !== '*') t.models.forEach((m, mi) => checkModel(m, ['tenants', ti, 'models', mi]));
    t.regions.forEach((region, ri) => {
      if (!regions.has(region)) {
        const known = regions.size ? `known regions: ${listOf(regions)}` : 'no deployments are declared';
        report(['tenants', ti, 'regions', ri], `no deployment is in region "${region}"; ${known}`);
      }
    });

    const teams = new Set<string>();
    t.teams.forEach((team, tmi) => {
      if (teams.has(team.slug)) report(['tenants', ti, 'teams', tmi, 'slug'], `duplicate team slug "${team.slug}"`);
      teams.add(team.slug);
    });

    const keyNames = new Map<string, number>();
    const keys = t.keys.map((k, ki) => {
      const at = (...rest: Array<string | number>): Array<string | number> => ['tenants', ti, 'keys', ki, ...rest];
      const firstKey = keyNames.get(k.name);
      if (firstKey !== undefined) report(at('name'), `duplicate key name "${k.name}" in this tenant (also keys[${firstKey}])`);
      else keyNames.set(k.name, ki);

      if (k.team !== undefined && !teams.has(k.team)) {
        report(at('team'), `unknown team "${k.team}"; declare it under tenants[${ti}].teams`);
      }
      k.models?.forEach((m, mi) => {
        checkModel(m, at('models', mi));
        if (models.has(m) && t.models !== '*' && !t.models.includes(m)) {
          report(at('models', mi), `model "${m}" is not in tenants[${ti}].models, so the key could never use it`);
        }
      });

      const value = keyValues.get(`${ti}/${ki}`) ?? '';
      if (value !== '') {
        const other = values.get(value);
        if (other !== undefined) report(at('value'), `same key value as ${other}; every key must be unique`);
        else values.set(value, `tenants[${ti}].keys[${ki}]`);
      }
      return { ...k, value };
    });
    return { ...t, keys };
  });
}

/** Finds a tenant key with the demo key's value, which would let it act as two tenants. */
export function keyNamedByValue(tenants: readonly ResolvedTenant[], value: string): string | undefined {
  for (const [ti, t] of tenants.entries()) {
    for (const [ki, k] of t.keys.entries()) if (k.value === value) return `tenants[${ti}].keys[${ki}]`;
  }
  return undefined;
}
