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
import { addDomain, removeDomain } from '../admin/services/domains.js';
import { createPolicy, deletePolicy, updatePolicy } from '../admin/services/policies.js';
import { createTeam, updateTeam } from '../admin/services/teams.js';
import { setTenantStatus, updateTenant, type PatchTenantInput } from '../admin/services/tenants.js';
import { legacyLimits, readPlan } from '../admin/templates.js';
import {
  apiKeysManageRepo,
  apiKeyStatus,
  domainsManageRepo,
  plansRepo,
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

async function reconcileTenantRow(tx: TenantTx, r: Reconcile, spec: TenantSpec): Promise<void> {
  const t = await tenantsManageRepo.get(tx);
  if (t === null) throw new Error(`tenant ${spec.slug} vanished`);
  const plan = await readPlan(tx, t);
  const patch: PatchTenantInput = {};
  const fields: Record<string, [unknown, unknown]> = {};
  if (spec.name !== undefined && spec.name !== t.name) [patch.name, fields.name] = [spec.name, [t.name, spec.name]];
  if (spec.template !== undefined && spec.template !== plan.template) [patch.template, fields.template] = [spec.template, [plan.template, spec.template]];
  // A new plan starts from its own limits (overrides of the legacy fields are dropped with the move).
  const baseLimits =
    spec.template !== undefined && spec.template !== plan.template
      ? legacyLimits((await plansRepo.getByName(tx, spec.template))?.rules ?? [])
      : plan.limits;
  const limits = { ...baseLimits, ...spec.limits };
  if (!isDeepStrictEqual(limits, plan.limits)) [patch.limits, fields.limits] = [limits, [plan.limits, limits]];
  if (spec.regions !== undefined && !isDeepStrictEqual(spec.regions, t.regions)) [patch.regions, fields.regions] = [spec.regions, [t.regions, spec.regions]];
  if (spec.allowed_models !== undefined && !isDeepStrictEqual(spec.allowed_models, t.allowedModels)) {
    [patch.allowed_models, fields.allowed_models] = [spec.allowed_models, [t.allowedModels, spec.allowed_models]];
  }
  if (spec.time_zone !== undefined && spec.time_zone !== t.timeZone) [patch.time_zone, fields.time_zone] = [spec.time_zone, [t.timeZone, spec.time_zone]];
  if (Object.keys(fields).length > 0) {
    await step(r, { op: '~', what: `tenant ${spec.slug}`, detail: fieldDiff(fields) }, async () => {
      await updateTenant(tx, r.actor, patch, exactly(t.version));
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
  const current = new Set((await allPages((p) => domainsManageRepo.list(tx, p))).map((d) => d.domain));
  for (const domain of spec.domains) {
    if (!current.has(domain)) await step(r, { op: '+', what: `domain ${spec.slug}/${domain}` }, async () => void (await addDomain(tx, r.actor, domain)));
  }
  if (!r.prune) return;
  for (const domain of current) {
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
}
