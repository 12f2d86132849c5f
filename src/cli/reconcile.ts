/**
 * Brings one tenant to what the tenants file declares, through the admin API's service
 * functions (same validation, same audit entries, same If-Match checks). The diff is computed
 * inside the transaction that applies it, so the plan shown is exactly what was done. A dry run
 * is the same run in a transaction that is rolled back (see apply.ts).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Actor } from '../admin/context.js';
import { etagOf, type IfMatch } from '../admin/http/etag.js';
import { createApiKey, revokeApiKey, updateApiKey } from '../admin/services/api-keys.js';
import { declareDomain, removeDomain } from '../admin/services/domains.js';
import { createPolicy, deletePolicy, updatePolicy } from '../admin/services/policies.js';
import { createTeam, updateTeam } from '../admin/services/teams.js';
import { createRule, deleteRule, updateRule } from '../admin/services/limits.js';
import { planNameOf, setTenantStatus, updateTenant, type PatchTenantInput } from '../admin/services/tenants.js';
import { isUuidText } from '../admin/schemas/ids.js';
import { plainRule } from '../admin/schemas/limits.js';
import type { LimitRule } from '../limits/types.js';
import {
  apiKeysManageRepo,
  apiKeyStatus,
  domainsManageRepo,
  limitRulesRepo,
  policiesRepo,
  teamsManageRepo,
  tenantsManageRepo,
  type Page,
  type PageRequest,
  type TenantTx,
} from '../store/index.js';
import type { KeySpec, TenantSpec } from './tenants-file.js';

export interface Change {
  op: '+' | '~' | '-';
  what: string;
  detail?: string;
}

export interface Reconcile {
  prune: boolean;
  actor: Actor;
  pepper: Buffer;
  now: Date;
  changes: Change[];
  /** Keys created by this run: printed once, then forgotten. */
  secrets: { tenant: string; name: string; key: string }[];
  /**
   * Plans this run creates that are not in the store, because it is a dry run (rolled back):
   * moving a tenant onto one is shown, not done.
   */
  unbornPlans: ReadonlySet<string>;
  /** The tenant was created by this run (its creation line already names its plan). */
  created: boolean;
}

/** Every item of a keyset-paginated list. */
export async function allPages<T>(list: (page: PageRequest) => Promise<Page<T>>): Promise<T[]> {
  const out: T[] = [];
  let after: string | null = null;
  do {
    const page = await list({ after, limit: 200 });
    out.push(...page.items);
    after = page.next;
  } while (after !== null);
  return out;
}

const exactly = (version: number): IfMatch => ({ any: false, tags: [etagOf(version)] });

async function step(r: Reconcile, change: Change, run: () => Promise<void>): Promise<void> {
  await run();
  r.changes.push(change);
}

function fieldDiff(fields: Record<string, [unknown, unknown]>): string {
  return Object.entries(fields)
    .map(([k, [from, to]]) => `${k}: ${JSON.stringify(from)} → ${JSON.stringify(to)}`)
    .join(', ');
}

/** The plan a spec asks for (`template` is its old name); undefined: leave it. */
export function wantedPlan(spec: TenantSpec): string | null | undefined {
  return spec.plan !== undefined ? spec.plan : spec.template;
}

async function reconcileTenantRow(tx: TenantTx, r: Reconcile, spec: TenantSpec): Promise<void> {
  const t = await tenantsManageRepo.get(tx);
  if (t === null) throw new Error(`tenant ${spec.slug} vanished`);
  const patch: PatchTenantInput = {};
  const fields: Record<string, [unknown, unknown]> = {};
  if (spec.name !== undefined && spec.name !== t.name) [patch.name, fields.name] = [spec.name, [t.name, spec.name]];
  const plan = wantedPlan(spec);
  const currentPlan = await planNameOf(tx, t);
  if (plan !== undefined && plan !== currentPlan) {
    const unborn = plan !== null && r.unbornPlans.has(plan);
    if (!unborn) patch.plan = plan;
    if (!(unborn && r.created)) fields.plan = [currentPlan, plan];
  }
  if (spec.budget_action !== undefined && spec.budget_action !== t.budgetAction) {
    [patch.budget_action, fields.budget_action] = [spec.budget_action, [t.budgetAction, spec.budget_action]];
  }
  if (spec.regions !== undefined && !isDeepStrictEqual(spec.regions, t.regions)) [patch.regions, fields.regions] = [spec.regions, [t.regions, spec.regions]];
  if (spec.allowed_models !== undefined && !isDeepStrictEqual(spec.allowed_models, t.allowedModels)) {
    [patch.allowed_models, fields.allowed_models] = [spec.allowed_models, [t.allowedModels, spec.allowed_models]];
  }
  if (spec.time_zone !== undefined && spec.time_zone !== t.timeZone) [patch.time_zone, fields.time_zone] = [spec.time_zone, [t.timeZone, spec.time_zone]];
  if (Object.keys(fields).length > 0) {
    await step(r, { op: '~', what: `tenant ${spec.slug}`, detail: fieldDiff(fields) }, async () => {
      if (Object.keys(patch).length > 0) await updateTenant(tx, r.actor, patch, exactly(t.version));
    });
  }
  if (spec.status !== undefined && spec.status !== t.status) {
    const status = spec.status;
    await step(r, { op: '~', what: `tenant ${spec.slug}`, detail: fieldDiff({ status: [t.status, status] }) }, async () => {
      await setTenantStatus(tx, r.actor, status, null);
    });
  }
}

async function reconcileTeams(tx: TenantTx, r: Reconcile, spec: TenantSpec): Promise<Map<string, string>> {
  const current = await allPages((p) => teamsManageRepo.list(tx, p));
  const ids = new Map(current.map((t) => [t.slug, t.id]));
  for (const team of spec.teams) {
    const name = team.name ?? team.slug;
    const have = current.find((t) => t.slug === team.slug);
    if (have === undefined) {
      await step(r, { op: '+', what: `team ${spec.slug}/${team.slug}` }, async () => {
        ids.set(team.slug, (await createTeam(tx, r.actor, { slug: team.slug, name })).id);
      });
    } else if (team.name !== undefined && have.name !== name) {
      await step(r, { op: '~', what: `team ${spec.slug}/${team.slug}`, detail: fieldDiff({ name: [have.name, name] }) }, async () => {
        await updateTeam(tx, r.actor, have.id, { name }, exactly(have.version));
      });
    }
  }
  return ids;
}

async function reconcileDomains(tx: TenantTx, r: Reconcile, spec: TenantSpec): Promise<void> {
  const all = await allPages((p) => domainsManageRepo.list(tx, p));
  const verified = new Set(all.filter((d) => d.verifiedAt !== null).map((d) => d.domain));
  // The operator's file is proof of ownership: declared names are added verified, and a pending
  // claim of one is promoted.
  for (const domain of spec.domains) {
    if (!verified.has(domain)) {
      await step(r, { op: '+', what: `domain ${spec.slug}/${domain}` }, async () => void (await declareDomain(tx, r.actor, domain)));
    }
  }
  if (!r.prune) return;
  for (const { domain } of all) {
    if (!spec.domains.includes(domain)) await step(r, { op: '-', what: `domain ${spec.slug}/${domain}` }, () => removeDomain(tx, r.actor, domain));
  }
}

async function reconcilePolicies(tx: TenantTx, r: Reconcile, spec: TenantSpec): Promise<void> {
  const current = await allPages((p) => policiesRepo.list(tx, p));
  for (const policy of spec.policies) {
    const want = { name: policy.name, description: policy.description ?? '', enabled: policy.enabled, document: policy.document };
    const have = current.find((p) => p.name === policy.name);
    if (have === undefined) {
      await step(r, { op: '+', what: `policy ${spec.slug}/${policy.name}` }, async () => void (await createPolicy(tx, r.actor, want)));
      continue;
    }
    const fields: Record<string, [unknown, unknown]> = {};
    if (have.description !== want.description) fields.description = [have.description, want.description];
    if (have.enabled !== want.enabled) fields.enabled = [have.enabled, want.enabled];
    if (!isDeepStrictEqual(have.document, want.document)) fields.document = ['…', '…'];
    if (Object.keys(fields).length > 0) {
      await step(r, { op: '~', what: `policy ${spec.slug}/${policy.name}`, detail: fieldDiff(fields) }, async () => {
        await updatePolicy(tx, r.actor, have.id, want, exactly(have.version));
      });
    }
  }
  if (!r.prune) return;
  for (const have of current) {
    if (!spec.policies.some((p) => p.name === have.name)) {
      await step(r, { op: '-', what: `policy ${spec.slug}/${have.name}` }, () => deletePolicy(tx, r.actor, have.id, exactly(have.version)));
    }
  }
}

/**
 * The subject of a rule as stored: a team rule in the file may name the team by slug and a key
 * rule the key by name (the newest active key of that name); ids pass through unchanged.
 */
async function storedSubject(tx: TenantTx, r: Reconcile, rule: LimitRule, teams: Map<string, string>): Promise<string | null> {
  if (rule.subject === null || isUuidText(rule.subject)) return rule.subject;
  if (rule.scope === 'team') {
    const id = teams.get(rule.subject);
    if (id === undefined) throw new Error(`limit rule ${rule.id}: no team "${rule.subject}" in this tenant`);
    return id;
  }
  if (rule.scope === 'key') {
    const keys = (await allPages((p) => apiKeysManageRepo.list(tx, p)))
      .filter((k) => k.name === rule.subject && apiKeyStatus(k, r.now) === 'active')
      .sort((x, y) => y.createdAt.getTime() - x.createdAt.getTime());
    const id = keys[0]?.id;
    if (id === undefined) throw new Error(`limit rule ${rule.id}: no active API key named "${rule.subject}" in this tenant`);
    return id;
  }
  return rule.subject;
}

async function reconcileLimits(tx: TenantTx, r: Reconcile, spec: TenantSpec, teams: Map<string, string>): Promise<void> {
  if (spec.limits === undefined) return;
  const current = new Map((await limitRulesRepo.list(tx)).map((x) => [x.id, x]));
  for (const declared of spec.limits) {
    const want = { ...plainRule(declared), subject: await storedSubject(tx, r, declared, teams) };
    const have = current.get(want.id);
    const what = `limit rule ${spec.slug}/${want.id}`;
    if (have === undefined) {
      await step(r, { op: '+', what }, async () => void (await createRule(tx, r.actor, want)));
      continue;
    }
    const before = plainRule(have);
    const fields: Record<string, [unknown, unknown]> = {};
    for (const k of ['scope', 'subject', 'metric', 'window', 'limit', 'burst', 'models'] as const) {
      if (!isDeepStrictEqual(before[k], want[k])) fields[k] = [before[k], want[k]];
    }
    if (Object.keys(fields).length > 0) {
      const { id: _id, ...patch } = want;
      await step(r, { op: '~', what, detail: fieldDiff(fields) }, async () => void (await updateRule(tx, r.actor, want.id, patch, exactly(have.version))));
    }
  }
  if (!r.prune) return;
  for (const have of current.values()) {
    if (!spec.limits.some((x) => x.id === have.id)) {
      await step(r, { op: '-', what: `limit rule ${spec.slug}/${have.id}` }, () => deleteRule(tx, r.actor, have.id, exactly(have.version)));
    }
  }
}

async function reconcileKeys(tx: TenantTx, r: Reconcile, spec: TenantSpec, teams: Map<string, string>): Promise<void> {
  const active = (await allPages((p) => apiKeysManageRepo.list(tx, p))).filter((k) => apiKeyStatus(k, r.now) === 'active');
  for (const key of spec.keys) {
    const teamId = key.team === undefined ? null : (teams.get(key.team) ?? null);
    const mine = active.filter((k) => k.name === key.name);
    if (mine.length === 0) {
      await step(r, { op: '+', what: `api key ${spec.slug}/${key.name}`, detail: 'the secret is printed once below' }, async () => {
        const issued = await createApiKey(tx, r.actor, r.pepper, { ...keyInput(key), team_id: teamId }, r.now);
        r.secrets.push({ tenant: spec.slug, name: key.name, key: issued.secret });
      });
      continue;
    }
    for (const have of mine) {
      const fields: Record<string, [unknown, unknown]> = {};
      if (key.team !== undefined && have.teamId !== teamId) fields.team = [have.teamId, key.team];
      if (key.scopes !== undefined && !isDeepStrictEqual([...key.scopes].sort(), [...have.scopes].sort())) fields.scopes = [have.scopes, key.scopes];
      if (key.allowed_models !== undefined && !isDeepStrictEqual(key.allowed_models, have.allowedModels)) fields.allowed_models = [have.allowedModels, key.allowed_models];
      const expires = key.expires_at === undefined ? undefined : key.expires_at === null ? null : new Date(key.expires_at).getTime();
      if (expires !== undefined && expires !== (have.expiresAt?.getTime() ?? null)) fields.expires_at = [have.expiresAt, key.expires_at];
      if (Object.keys(fields).length === 0) continue;
      await step(r, { op: '~', what: `api key ${spec.slug}/${key.name}`, detail: fieldDiff(fields) }, async () => {
        // Only what differs: an absent field in the file leaves the key's value alone.
        const patch = {
          ...(fields.team === undefined ? {} : { team_id: teamId }),
          ...(fields.scopes === undefined ? {} : { scopes: key.scopes }),
          ...(fields.allowed_models === undefined ? {} : { allowed_models: key.allowed_models }),
          ...(fields.expires_at === undefined ? {} : { expires_at: key.expires_at }),
        };
        await updateApiKey(tx, r.actor, have.id, patch, exactly(have.version), r.now);
      });
    }
  }
  if (!r.prune) return;
  for (const have of active) {
    if (!spec.keys.some((k) => k.name === have.name)) {
      await step(r, { op: '-', what: `api key ${spec.slug}/${have.name}`, detail: 'revoked' }, async () => void (await revokeApiKey(tx, r.actor, have.id, exactly(have.version))));
    }
  }
}

function keyInput(key: KeySpec) {
  return {
    name: key.name,
    scopes: key.scopes ?? ['inference', 'models:read'],
    ...(key.allowed_models === undefined ? {} : { allowed_models: key.allowed_models }),
    ...(key.expires_at === undefined ? {} : { expires_at: key.expires_at }),
  } as const;
}

/** Reconciles an existing tenant (or one just created in this transaction) with its spec. */
export async function reconcileTenant(tx: TenantTx, r: Reconcile, spec: TenantSpec): Promise<void> {
  await reconcileTenantRow(tx, r, spec);
  const teams = await reconcileTeams(tx, r, spec);
  await reconcileDomains(tx, r, spec);
  await reconcilePolicies(tx, r, spec);
  await reconcileKeys(tx, r, spec, teams);
  // Last: a rule may name a team or key declared above.
  await reconcileLimits(tx, r, spec, teams);
}
