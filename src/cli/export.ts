/**
 * `gatehouse export [-o file] [--tenant slug]`: the plan catalogue, and tenants with their plan,
 * limit rules, teams, domains, policies and API key metadata, as a tenants file that
 * `gatehouse apply` accepts (applying it unchanged is a no-op).
 * Never secrets: keys appear by name and settings only; key material stays in the store.
 * Reads through the same repositories as the admin API.
 */
import { stringify } from 'yaml';
import { isUuidText } from '../admin/schemas/ids.js';
import { presentPolicy } from '../admin/schemas/policies.js';
import { planNameOf } from '../admin/services/tenants.js';
import type { LimitRule } from '../limits/types.js';
import { loadConfig } from '../config/load.js';
import {
  apiKeysManageRepo,
  apiKeyStatus,
  domainsManageRepo,
  limitRulesRepo,
  plansRepo,
  policiesRepo,
  teamsManageRepo,
  tenantsManageRepo,
  type TenantSummary,
} from '../store/index.js';
import { CliError, openCliStore } from './cli-store.js';
import { allPages } from './reconcile.js';

/** A rule as a file says it: defaults left out (the file's schema puts them back). */
export function compactRule(r: LimitRule, subject: string | null = r.subject): Record<string, unknown> {
  return {
    id: r.id,
    ...(r.scope === 'tenant' ? {} : { scope: r.scope }),
    ...(subject === null ? {} : { subject }),
    metric: r.metric,
    ...(r.window === null ? {} : { window: r.window }),
    limit: r.limit,
    ...(r.burst === null ? {} : { burst: r.burst }),
    ...(r.models === null ? {} : { models: [...r.models] }),
  };
}

export interface ExportOptions {
  tenant?: string | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export async function runExport(opts: ExportOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const config = await loadConfig({ env, cwd: opts.cwd ?? process.cwd() });
  const cli = await openCliStore(config, env, 'export');
  try {
    const { all, plans } = await cli.store.platform(async (tx) => ({
      all: await allPages((p) => tenantsManageRepo.list(tx, p)),
      plans: await plansRepo.listAll(tx),
    }));
    const chosen: TenantSummary[] = all.filter((t) => t.status !== 'deleting' && (opts.tenant === undefined || t.slug === opts.tenant || t.id === opts.tenant));
    if (opts.tenant !== undefined && chosen.length === 0) throw new CliError(`export: no tenant ${opts.tenant}`);
    const now = new Date();
    const tenants = [];
    for (const summary of chosen) {
      tenants.push(
        await cli.store.withTenant(summary.id, async (tx) => {
          const t = await tenantsManageRepo.get(tx);
          if (t === null) throw new CliError(`export: tenant ${summary.slug} vanished`);
          const teams = await allPages((p) => teamsManageRepo.list(tx, p));
          const slugOf = new Map(teams.map((x) => [x.id, x.slug]));
          const keys = (await allPages((p) => apiKeysManageRepo.list(tx, p)))
            .filter((k) => apiKeyStatus(k, now) === 'active')
            .sort((x, y) => y.createdAt.getTime() - x.createdAt.getTime());
          // One entry per name (a rotated key and its replacement share one during the grace period).
          const newest = new Map<string, (typeof keys)[number]>();
          for (const k of keys) if (!newest.has(k.name)) newest.set(k.name, k);
          // Rules name teams by slug and keys by name where that names exactly this one (as apply reads them).
          const keyName = new Map([...newest.values()].filter((k) => !isUuidText(k.name)).map((k) => [k.id, k.name]));
          const subjectOf = (r: LimitRule): string | null =>
            r.subject === null ? null : ((r.scope === 'team' ? slugOf.get(r.subject) : r.scope === 'key' ? keyName.get(r.subject) : undefined) ?? r.subject);
          return {
            slug: t.slug,
            name: t.name,
            status: t.status,
            plan: await planNameOf(tx, t),
            ...(t.budgetAction === null ? {} : { budget_action: t.budgetAction }),
            limits: (await limitRulesRepo.list(tx)).map((r) => compactRule(r, subjectOf(r))),
            regions: t.regions,
            allowed_models: t.allowedModels,
            time_zone: t.timeZone,
            teams: teams.map((x) => ({ slug: x.slug, name: x.name })),
            // Pending claims stay out: applying the file would verify them without proof.
            domains: (await allPages((p) => domainsManageRepo.list(tx, p))).filter((d) => d.verifiedAt !== null).map((d) => d.domain),
            policies: (await allPages((p) => policiesRepo.list(tx, p))).map((p) => {
              const v = presentPolicy(p);
              return { name: v.name, ...(v.description === '' ? {} : { description: v.description }), enabled: v.enabled, document: v.document };
            }),
            keys: [...newest.values()].map((k) => ({
              name: k.name,
              ...(k.teamId === null ? {} : { team: slugOf.get(k.teamId) }),
              scopes: k.scopes,
              allowed_models: k.allowedModels,
              expires_at: k.expiresAt === null ? null : k.expiresAt.toISOString(),
            })),
          };
        }),
      );
    }
    const header = `# Exported by gatehouse export at ${now.toISOString()}. No secrets: API keys by name and settings only.\n`;
    const catalogue = plans.map((p) => ({
      name: p.name,
      ...(p.description === '' ? {} : { description: p.description }),
      weight: p.weight,
      budget_action: p.budgetAction,
      rules: p.rules.map((r) => compactRule(r)),
    }));
    return header + stringify({ plans: catalogue, tenants }, { lineWidth: 0 });
  } finally {
    await cli.close();
  }
}
