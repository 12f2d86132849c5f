/**
 * Applies the tenants declared as code (and the demo tenant) to the store at start-up, then reads
 * back what the snapshot needs. Configuration wins for what it declares: a declared key whose
 * value changed replaces the old key of that name. Keys are stored hashed only; a generated demo
 * key is returned once so the CLI can show it, and never again.
 */
import { generateApiKey, hashApiKey, keyPrefix } from '../crypto/keys.js';
import type { PlanConfig } from '../config/schema.js';
import type { LoadedConfig, ResolvedApiKey, ResolvedTenant } from '../config/types.js';
import { PLATFORM_SCOPE_ID } from '../identity/roles.js';
import type { PlanLimits, TenantLimitSource } from '../limits/compose.js';
import {
  apiKeysRepo,
  domainsRepo,
  limitRulesRepo,
  modelAliasesRepo,
  plansRepo,
  teamsRepo,
  tenantsRepo,
  upsertTenantBySlug,
  type Store,
  type TenantTx,
} from '../store/index.js';
import { DEFAULT_CLAIMS } from '../identity/jwt.js';
import { jwtIssuersRepo } from '../store/repos/jwt-issuers.js';
import { REVOKED_KEPT_MS } from './key-records.js';
import { loadPlans, readKeyPages } from './snapshot-load.js';
import type { ApiKeyRecord, JwtIssuer, Tenant } from './types.js';

export { loadPlans } from './snapshot-load.js';

export const DEMO_TENANT = 'demo';
const DEMO_KEY_NAME = 'demo';

export interface TenancyState {
  tenants: Tenant[];
  keys: ApiKeyRecord[];
  issuers: JwtIssuer[];
  plans: PlanLimits[];
  limitSources: TenantLimitSource[];
  /** The database's digests of each tenant's keys, read with them (SnapshotInput.keyDigests). */
  keyDigests: Map<string, string>;
  /** Set only when this start generated the demo key. */
  demoKey: string | undefined;
}

export class BootstrapError extends Error {
  override name = 'BootstrapError';
}

/** Stores `key` under `name`, revoking any other key of that name (the value changed). */
async function putKey(
  tx: TenantTx,
  tenantSlug: string,
  spec: Omit<ResolvedApiKey, 'team'> & { teamId: string | null },
  pepper: Buffer,
): Promise<void> {
  const hash = hashApiKey(spec.value, pepper);
  const result = await apiKeysRepo.upsertByHash(tx, {
    name: spec.name,
    prefix: keyPrefix(spec.value),
    hash,
    teamId: spec.teamId,
    scopes: spec.scopes,
    allowedModels: spec.models ?? null,
    expiresAt: spec.expiresAt ?? null,
  });
  if (!result.ok) {
    throw new BootstrapError(`the key "${spec.name}" of tenant "${tenantSlug}" is already used by another tenant`);
  }
  for (const old of await apiKeysRepo.list(tx)) {
    if (old.name === spec.name && old.id !== result.key.id && !old.revoked) await apiKeysRepo.revoke(tx, old.id);
  }
}

/**
 * Creates or updates each declared plan in the platform scope. Plans are never deleted here:
 * the admin API may have added more, and tenants may be on them. An update that changes nothing
 * neither moves the version nor announces a change.
 */
async function applyPlans(store: Store, plans: readonly PlanConfig[]): Promise<Map<string, string>> {
  for (const p of plans) {
    const want = { name: p.name, description: p.description ?? '', weight: p.weight, budgetAction: p.budgetAction, rules: p.rules };
    await store.withTenant(PLATFORM_SCOPE_ID, async (tx) => {
      // Two replicas starting together: the loser of the insert finds the winner's row next time.
      for (let attempt = 0; attempt < 3; attempt++) {
        const have = await plansRepo.getByName(tx, p.name, { forUpdate: true });
        if (have !== null) {
          await plansRepo.update(tx, have.id, want);
          return;
        }
        if ((await plansRepo.create(tx, want)).ok) return;
      }
      throw new BootstrapError(`the plan "${p.name}" keeps changing concurrently`);
    });
  }
  return new Map((await store.platform((tx) => plansRepo.listAll(tx))).map((p) => [p.name, p.id]));
}

/** undefined: leave the stored plan; null: none. */
function planIdOf(t: ResolvedTenant, planIds: ReadonlyMap<string, string>): string | null | undefined {
  if (t.plan === undefined || t.plan === null) return t.plan;
  const id = planIds.get(t.plan);
  // Configuration checks plan names against the declared and seeded ones; a seeded plan may
  // have been deleted through the admin API since.
  if (id === undefined) throw new BootstrapError(`the plan "${t.plan}" of tenant "${t.slug}" does not exist; declare it under plans`);
  return id;
}

async function applyTenant(store: Store, t: ResolvedTenant, pepper: Buffer, planIds: ReadonlyMap<string, string>): Promise<void> {
  const { tenant } = await upsertTenantBySlug(store, {
    slug: t.slug,
    name: t.name ?? t.slug,
    status: t.status,
    regions: t.regions,
    allowedModels: t.models,
    timeZone: t.timeZone,
    planId: planIdOf(t, planIds),
    budgetAction: t.budgetAction,
  });
  await store.withTenant(tenant.id, async (tx) => {
    if (t.limits !== undefined) await limitRulesRepo.replaceAll(tx, t.limits);
    if (t.aliases !== undefined) await modelAliasesRepo.replaceAll(tx, t.aliases);
    if (t.cache !== undefined) await tenantsRepo.setCacheSettings(tx, t.cache);
    if (t.logs !== undefined) await tenantsRepo.setLogSettings(tx, t.logs);
    const teamIds = new Map<string, string>();
    for (const team of t.teams) {
      const row = await teamsRepo.upsert(tx, { slug: team.slug, name: team.name ?? team.slug });
      teamIds.set(team.slug, row.id);
    }
    for (const domain of t.domains) {
      const added = await domainsRepo.add(tx, domain);
      if (!added.ok) throw new BootstrapError(`the domain "${domain}" of tenant "${t.slug}" belongs to another tenant`);
    }
    for (const key of t.keys) {
      await putKey(tx, t.slug, { ...key, teamId: key.team === undefined ? null : (teamIds.get(key.team) ?? null) }, pepper);
    }
    if (t.jwt !== undefined) {
      for (const j of t.jwt) {
        await jwtIssuersRepo.upsert(tx, {
          issuer: j.issuer,
          audience: j.audience ?? null,
          jwks: j.jwks ?? null,
          jwksUrl: j.jwksUrl ?? null,
          claims: { ...DEFAULT_CLAIMS, ...j.claims },
        });
      }
      await jwtIssuersRepo.retainOnly(tx, t.jwt.map((j) => j.issuer));
    }
  });
}

/** Ensures the demo tenant and its key; returns the key only if it was generated now. */
async function applyDemo(store: Store, config: LoadedConfig, pepper: Buffer): Promise<string | undefined> {
  const declared = config.tenants.find((t) => t.slug === DEMO_TENANT);
  const { tenant } = declared
    ? { tenant: { id: await store.platform((tx) => tenantsRepo.findIdBySlug(tx, DEMO_TENANT)) } }
    : await upsertTenantBySlug(store, { slug: DEMO_TENANT, name: 'Demo', status: 'active', allowedModels: '*' });
  if (tenant.id === null) throw new BootstrapError('the demo tenant vanished during start-up');
  const demoKey = config.demo.key;
  return store.withTenant(tenant.id, async (tx) => {
    const spec = { name: DEMO_KEY_NAME, scopes: ['inference', 'models:read'] as const, teamId: null };
    if (demoKey !== undefined) {
      await putKey(tx, DEMO_TENANT, { ...spec, scopes: [...spec.scopes], value: demoKey }, pepper);
      return undefined;
    }
    const existing = (await apiKeysRepo.list(tx)).some((k) => k.name === DEMO_KEY_NAME && !k.revoked);
    if (existing) return undefined;
    const generated = generateApiKey();
    await putKey(tx, DEMO_TENANT, { ...spec, scopes: [...spec.scopes], value: generated.key }, pepper);
    return generated.key;
  });
}

export async function syncTenancy(store: Store, config: LoadedConfig, pepper: Buffer): Promise<TenancyState> {
  const planIds = await applyPlans(store, config.plans);
  for (const t of config.tenants) await applyTenant(store, t, pepper, planIds);
  const demoKey = config.demo.enabled ? await applyDemo(store, config, pepper) : undefined;
  return loadTenancy(store, demoKey);
}

/**
 * Reads the snapshot's tenancy records through the platform role (metadata only). Keys are read
 * in pages and made lean (snapshot-load.ts); only those the snapshot holds (live, or revoked
 * within REVOKED_KEPT_MS).
 */
export async function loadTenancy(store: Pick<Store, 'platform'>, demoKey?: string): Promise<TenancyState> {
  return store.platform(async (tx) => {
    const tenants = await tenantsRepo.listForSnapshot(tx);
    const ids = new Map(tenants.map((t) => [t.id, t.id]));
    const keys: ApiKeyRecord[] = [];
    const now = Date.now();
    // In the same repeatable-read transaction as the keys, so the digests describe them.
    const keyDigests = await apiKeysRepo.snapshotDigests(tx, now - REVOKED_KEPT_MS);
    await readKeyPages(tx, (page) => keys.push(...page), { tenantId: (id) => ids.get(id), now });
    return {
      tenants,
      keys,
      keyDigests,
      issuers: await jwtIssuersRepo.listAll(tx, DEFAULT_CLAIMS),
      plans: await loadPlans(tx),
      limitSources: await limitRulesRepo.listSources(tx),
      demoKey,
    };
  });
}
