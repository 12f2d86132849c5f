/**
 * Patching a tenant into a snapshot (snapshot-build.ts) must give exactly the snapshot a whole
 * build from the same database state gives: each case changes a state, patches the changed
 * tenants into the snapshot of the old state, and compares every index with a rebuild. The old
 * snapshot must be left as it was (requests may still be reading it).
 */
import { describe, expect, it } from 'vitest';
import type { PlanLimits, TenantLimitSource } from '../../../src/limits/compose.js';
import type { LimitRule } from '../../../src/limits/types.js';
import { authenticate } from '../../../src/pipeline/authenticate.js';
import type { TenantModelsRecord } from '../../../src/routing/tenant-deployments.js';
import { patchSnapshot, type TenantChange } from '../../../src/tenancy/snapshot-build.js';
import { changedTenants } from '../../../src/tenancy/snapshot-diff.js';
import { keyPageMaker } from '../../../src/tenancy/snapshot-load.js';
import { buildSnapshot, createRegistry, REVOKED_KEPT_MS, type Snapshot } from '../../../src/tenancy/snapshot.js';
import type { ApiKeyRecord, JwtIssuer, Tenant } from '../../../src/tenancy/types.js';
import { failure, makeContext, makeDeployment, makeKey, makeTenant, pepper, type IssuedKey } from '../pipeline/fixtures.js';

const NOW = 1_750_000_000_000;

/** The database as far as the snapshot reads it. */
interface State {
  tenants: Tenant[];
  keys: ApiKeyRecord[];
  issuers: JwtIssuer[];
  plans: PlanLimits[];
  limitSources: TenantLimitSource[];
  tenantModels: TenantModelsRecord[];
}

const rule = (id: string, limit: number): LimitRule => ({ id, scope: 'tenant', subject: null, metric: 'requests', window: 'minute', limit, burst: null, models: null });
const plan = (id: string, limit: number): PlanLimits => ({ id, name: id, weight: 2, budgetAction: 'reject', rules: [rule('rpm', limit)] });
const source = (tenantId: string, planId: string | null, rules: LimitRule[] = []): TenantLimitSource => ({
  tenantId,
  planId,
  budgetAction: null,
  timeZone: 'UTC',
  rules,
});
const issuer = (tenantId: string, iss: string): JwtIssuer => ({
  tenantId,
  issuer: iss,
  audience: null,
  jwks: { keys: [] },
  jwksUrl: null,
  claims: { tenant: 'tenant', roles: 'roles', team: 'team', user: 'sub' },
  owner: 'tenant',
});

const acme = makeTenant('acme', { domains: ['acme.example'] });
const globex = makeTenant('globex');
const initech = makeTenant('initech');
const acmeKeys = [makeKey(acme), makeKey(acme, { allowedCidrs: ['10.0.0.0/8'] }), makeKey(acme, { scopes: ['chat'], teamId: 'team-1' })];
const globexKeys = [makeKey(globex), makeKey(globex, { revoked: true, revokedAtMs: NOW - 1_000 })];
const initechKeys = [makeKey(initech)];
// Foreign-format keys: one prefix, two tenants.
const sharedA = makeKey(acme, { key: 'sk-shared-prefix-tenant-a' });
const sharedB = makeKey(globex, { key: 'sk-shared-prefix-tenant-b' });
const ownModel = makeDeployment('own-model');

function baseState(): State {
  return {
    tenants: [acme, globex, initech],
    keys: [...acmeKeys, ...globexKeys, ...initechKeys, sharedA, sharedB].map((k) => k.record),
    issuers: [issuer(acme.id, 'https://idp.shared'), issuer(globex.id, 'https://idp.shared'), issuer(globex.id, 'https://idp.globex')],
    plans: [plan('plan-free', 10), plan('plan-pro', 100)],
    limitSources: [source(acme.id, 'plan-free'), source(globex.id, 'plan-pro', [rule('rpm', 50)]), source(initech.id, null)],
    tenantModels: [{ tenantId: acme.id, deployments: [ownModel], aliases: { fast: 'own-model' } }],
  };
}

const deployments = [makeDeployment('gpt-mini')];
const build = (s: State): Snapshot => buildSnapshot({ ...s, deployments, now: NOW });

/** What the database holds for one tenant, as refresh-tenants.ts reads it. */
function changeOf(s: State, tenantId: string): TenantChange {
  const tenant = s.tenants.find((t) => t.id === tenantId);
  if (tenant === undefined) return { tenantId, tenant: null, keys: [], issuers: [], limitSource: null, plan: null, models: null };
  const limitSource = s.limitSources.find((x) => x.tenantId === tenantId) ?? null;
  return {
    tenantId,
    tenant,
    // Read back from the store, records are new objects: the patch must not depend on identity.
    keys: s.keys.filter((k) => k.tenantId === tenantId).map((k) => ({ ...k, hash: Buffer.from(k.hash), scopes: [...k.scopes] })),
    issuers: s.issuers.filter((i) => i.tenantId === tenantId),
    limitSource,
    plan: limitSource?.planId == null ? null : (s.plans.find((p) => p.id === limitSource.planId) ?? null),
    models: s.tenantModels.find((m) => m.tenantId === tenantId) ?? null,
  };
}

const byFirst = <T extends [string, unknown]>(a: T, b: T): number => a[0].localeCompare(b[0]);
const keyView = (k: ApiKeyRecord) => ({ ...k, hash: k.hash.toString('hex'), revokedAtMs: k.revokedAtMs ?? null, allowedCidrs: k.allowedCidrs ?? null });
const keyList = (list: readonly ApiKeyRecord[]) => list.map(keyView).sort((a, b) => a.id.localeCompare(b.id));

/** Every index as plain sorted data (list order within a prefix or issuer carries no meaning). */
function view(s: Snapshot) {
  return {
    tenantsById: [...s.tenantsById].sort(byFirst),
    tenantsBySlug: [...s.tenantsBySlug].map(([slug, t]) => [slug, t.id]).sort(),
    tenantsByDomain: [...s.tenantsByDomain].map(([d, t]) => [d, t.id]).sort(),
    keysByPrefix: [...s.keysByPrefix].map(([p, list]) => [p, keyList(list)]).sort(),
    revokedByPrefix: [...s.revokedByPrefix].map(([p, list]) => [p, keyList(list)]).sort(),
    cidrsByKey: [...s.cidrsByKey].map(([id, list]) => [id, list.rules]).sort(),
    deploymentsByModel: [...s.deploymentsByModel].sort(byFirst),
    tenantCatalogues: [...s.tenantCatalogues]
      .map(([id, c]) => [id, [...c.deploymentsByModel].sort(byFirst), [...c.aliases].sort(byFirst)])
      .sort(),
    issuersByIss: [...s.issuersByIss]
      .map(([iss, list]) => [iss, list.map((i) => `${i.tenantId} ${i.issuer} ${JSON.stringify(i.jwks)}`).sort()])
      .sort(),
    entries: [...s.entries]
      .map(([id, e]) => [id, { tenant: e.tenant, keys: keyList(e.keys), issuers: [...e.issuers], limitSource: e.limitSource ?? null }])
      .sort(),
    plans: [...s.plans].sort(byFirst),
  };
}

/** Patches the named tenants of `after` into the snapshot of `before`; checks it against a rebuild. */
function patchAndCompare(before: State, after: State, tenantIds: string[], extra: { plans?: PlanLimits[] } = {}) {
  const old = build(before);
  const oldView = view(old);
  const patched = patchSnapshot(old, { tenants: tenantIds.map((id) => changeOf(after, id)), now: NOW, ...extra });
  expect(view(patched)).toEqual(view(build(after)));
  expect(view(old)).toEqual(oldView); // copy-on-write: the snapshot requests read is untouched
  expect(patched.version).toBeGreaterThan(old.version);
  return { old, patched };
}

const edit = (f: (s: State) => void): [State, State] => {
  const before = baseState();
  const after = baseState();
  f(after);
  return [before, after];
};

describe('patchSnapshot gives what a whole build gives', () => {
  it('a new key', () => {
    const added = makeKey(acme);
    const [before, after] = edit((s) => s.keys.push(added.record));
    const { old, patched } = patchAndCompare(before, after, [acme.id]);
    expect(old.keysByPrefix.has(added.record.prefix)).toBe(false);
    expect(patched.keysByPrefix.get(added.record.prefix)?.[0]?.id).toBe(added.record.id);
  });

  it('a revoked key moves to the revoked index (kept for auditing); one revoked long ago leaves it', () => {
    const target = acmeKeys[0] as IssuedKey;
    const [before, after] = edit((s) => {
      s.keys = s.keys.map((k) => (k.id === target.record.id ? { ...k, revoked: true, revokedAtMs: NOW - 5 } : k));
      s.keys = s.keys.map((k) => (k.revoked && k.tenantId === globex.id ? { ...k, revokedAtMs: NOW - REVOKED_KEPT_MS - 1 } : k));
    });
    const { patched } = patchAndCompare(before, after, [acme.id, globex.id]);
    expect(patched.keysByPrefix.has(target.record.prefix)).toBe(false);
    expect(patched.revokedByPrefix.get(target.record.prefix)?.map((k) => k.id)).toEqual([target.record.id]);
    expect(patched.revokedByPrefix.has((globexKeys[1] as IssuedKey).record.prefix)).toBe(false);
  });

  it('a rotated key: the old one revoked, a new one live, its allow-list moved with it', () => {
    const old = acmeKeys[1] as IssuedKey;
    const rotated = makeKey(acme, { allowedCidrs: ['192.168.0.0/16'] });
    const [before, after] = edit((s) => {
      s.keys = s.keys.map((k) => (k.id === old.record.id ? { ...k, revoked: true, revokedAtMs: NOW } : k));
      s.keys.push(rotated.record);
    });
    const { patched } = patchAndCompare(before, after, [acme.id]);
    expect(patched.cidrsByKey.has(old.record.id)).toBe(false);
    expect(patched.cidrsByKey.get(rotated.record.id)?.rules).toEqual(['Subnet: IPv4 192.168.0.0/16']);
  });

  it('a suspended tenant, with a new slug and domain', () => {
    const [before, after] = edit((s) => {
      s.tenants = s.tenants.map((t) => (t.id === acme.id ? { ...t, status: 'suspended', slug: 'acme-old', domains: ['acme.test'] } : t));
    });
    const { patched } = patchAndCompare(before, after, [acme.id]);
    expect(patched.tenantsById.get(acme.id)?.status).toBe('suspended');
    expect(patched.tenantsBySlug.has('acme')).toBe(false);
    expect(patched.tenantsByDomain.has('acme.example')).toBe(false);
  });

  it('a deleted tenant takes its keys, allow-lists, issuers, limits and models with it', () => {
    const [before, after] = edit((s) => {
      s.tenants = s.tenants.filter((t) => t.id !== acme.id);
      s.keys = s.keys.filter((k) => k.tenantId !== acme.id);
      s.issuers = s.issuers.filter((i) => i.tenantId !== acme.id);
      s.limitSources = s.limitSources.filter((x) => x.tenantId !== acme.id);
      s.tenantModels = [];
    });
    const { patched } = patchAndCompare(before, after, [acme.id]);
    expect(patched.entries.has(acme.id)).toBe(false);
    expect(patched.cidrsByKey.size).toBe(0);
    // The shared prefix still finds globex's key.
    expect(patched.keysByPrefix.get(sharedB.record.prefix)?.map((k) => k.tenantId)).toEqual([globex.id]);
  });

  it('a new tenant with keys, an issuer shared with others, rules and models', () => {
    const hooli = makeTenant('hooli', { domains: ['hooli.example'] });
    const hooliKey = makeKey(hooli, { key: 'sk-shared-prefix-tenant-c' });
    const [before, after] = edit((s) => {
      s.tenants.push(hooli);
      s.keys.push(hooliKey.record, makeKey(hooli).record);
      s.issuers.push(issuer(hooli.id, 'https://idp.shared'));
      s.limitSources.push(source(hooli.id, 'plan-pro', [rule('own', 1)]));
      s.tenantModels.push({ tenantId: hooli.id, deployments: [], aliases: { quick: 'gpt-mini' } });
    });
    const { patched } = patchAndCompare(before, after, [hooli.id]);
    expect(patched.keysByPrefix.get(hooliKey.record.prefix)).toHaveLength(3);
    expect(patched.tenantsById.get(hooli.id)?.limits?.rules.map((r) => r.id)).toEqual(['rpm', 'own']);
  });

  it('a domain and a slug passed from one tenant to another in one batch, in either order', () => {
    const [before, after] = edit((s) => {
      s.tenants = s.tenants.map((t) => {
        if (t.id === acme.id) return { ...t, slug: 'acme-gone', domains: [] };
        if (t.id === initech.id) return { ...t, slug: 'acme', domains: ['acme.example'] };
        return t;
      });
    });
    patchAndCompare(before, after, [acme.id, initech.id]);
    const { patched } = patchAndCompare(before, after, [initech.id, acme.id]);
    expect(patched.tenantsBySlug.get('acme')?.id).toBe(initech.id);
  });

  it('a plan change recomposes every tenant on that plan, and only those', () => {
    const [before, after] = edit((s) => {
      s.plans = s.plans.map((p) => (p.id === 'plan-free' ? plan('plan-free', 7) : p));
    });
    const { old, patched } = patchAndCompare(before, after, [], { plans: after.plans });
    expect(patched.tenantsById.get(acme.id)?.limits?.rules[0]?.limit).toBe(7);
    expect(patched.tenantsById.get(globex.id)).toBe(old.tenantsById.get(globex.id));
  });

  it("a tenant read with a newer copy of its plan brings it to the others on that plan", () => {
    const hooli = makeTenant('hooli');
    const [before, after] = edit((s) => {
      s.plans = s.plans.map((p) => (p.id === 'plan-free' ? plan('plan-free', 3) : p));
      s.tenants.push(hooli);
      s.limitSources.push(source(hooli.id, 'plan-free'));
    });
    const { patched } = patchAndCompare(before, after, [hooli.id]);
    expect(patched.tenantsById.get(acme.id)?.limits?.rules[0]?.limit).toBe(3);
  });

  it('issuers and dedicated models of a tenant replaced', () => {
    const [before, after] = edit((s) => {
      s.issuers = s.issuers.filter((i) => i.tenantId !== globex.id).concat(issuer(globex.id, 'https://idp.new'));
      s.tenantModels = [{ tenantId: acme.id, deployments: [], aliases: { other: 'gpt-mini' } }];
    });
    const { patched } = patchAndCompare(before, after, [acme.id, globex.id]);
    expect(patched.issuersByIss.get('https://idp.shared')?.map((i) => i.tenantId)).toEqual([acme.id]);
    expect(patched.issuersByIss.has('https://idp.globex')).toBe(false);
  });

  it('a tenant named by a notification but unchanged: the same records, nothing new allocated for its keys', () => {
    const [before, after] = edit(() => {});
    const { old, patched } = patchAndCompare(before, after, [acme.id]);
    for (const k of acmeKeys) {
      expect(patched.keysByPrefix.get(k.record.prefix)?.[0]).toBe(old.keysByPrefix.get(k.record.prefix)?.[0]);
    }
  });
});

describe('a full reload applied as a patch (snapshot-diff.ts)', () => {
  /** What loadSnapshot does with a previous snapshot: read all, patch only what differs. */
  function reloadAsPatch(old: Snapshot, s: State): { next: Snapshot; changed: string[] } {
    const lean = keyPageMaker({ tenantId: (id) => id, previous: old })(s.keys.map((k) => ({ ...k, hash: Buffer.from(k.hash) })));
    const keysOf = new Map<string, ApiKeyRecord[]>();
    for (const k of lean) keysOf.set(k.tenantId, [...(keysOf.get(k.tenantId) ?? []), k]);
    const changes = changedTenants(old, { ...s, keysOf, tenantModels: s.tenantModels });
    return { next: patchSnapshot(old, { tenants: changes, plans: s.plans, now: NOW }), changed: changes.map((c) => c.tenantId) };
  }

  it('many changes at once give what a whole build gives; untouched tenants keep their objects', () => {
    const hooli = makeTenant('hooli');
    const [before, after] = edit((s) => {
      s.tenants = s.tenants.filter((t) => t.id !== initech.id).concat(hooli);
      s.keys = s.keys.filter((k) => k.tenantId !== initech.id).concat(makeKey(hooli).record);
      s.limitSources = s.limitSources.filter((x) => x.tenantId !== initech.id);
      s.plans = s.plans.map((p) => (p.id === 'plan-pro' ? plan('plan-pro', 99) : p));
    });
    const old = build(before);
    const { next, changed } = reloadAsPatch(old, after);
    expect(view(next)).toEqual(view(build(after)));
    expect(changed.sort()).toEqual([acme.id, hooli.id, initech.id].sort()); // acme: it has dedicated models
    // globex's plan changed, so its record was composed again; its keys were not copied.
    const gk = (globexKeys[0] as IssuedKey).record.prefix;
    expect(next.keysByPrefix.get(gk)?.[0]).toBe(old.keysByPrefix.get(gk)?.[0]);
  });

  it('nothing changed: no tenant is patched, every index shard is shared', () => {
    const [before, after] = edit((s) => {
      s.tenantModels = [];
    });
    const old = build(after);
    const { next, changed } = reloadAsPatch(old, after);
    expect(changed).toEqual([]);
    expect(view(next)).toEqual(view(old));
    expect(next.tenantsById.get(acme.id)).toBe(old.tenantsById.get(acme.id));
    void before;
  });

  it('a tenant whose row moved (updatedAtMs) or whose key rotations changed (a Map) is found and patched', () => {
    const [before, after] = edit((s) => {
      s.tenants = s.tenants.map((t) => (t.id === globex.id ? { ...t, updatedAtMs: 2 } : t.id === initech.id ? { ...t, updatedAtMs: 1 } : t));
      s.limitSources = s.limitSources.map((x) => (x.tenantId === initech.id ? { ...x, rotatedFrom: new Map([['new-key', 'old-key']]) } : x));
      s.tenantModels = [];
    });
    before.tenantModels = [];
    before.tenants = before.tenants.map((t) => (t.id === initech.id ? { ...t, updatedAtMs: 1 } : t));
    const { next, changed } = reloadAsPatch(build(before), after);
    expect(changed.sort()).toEqual([globex.id, initech.id].sort());
    expect(view(next)).toEqual(view(build(after)));
  });

  it('a key changed in place (expiry set) is found and patched', () => {
    const target = acmeKeys[2] as IssuedKey;
    const [before, after] = edit((s) => {
      s.keys = s.keys.map((k) => (k.id === target.record.id ? { ...k, expiresAt: NOW + 60_000 } : k));
      s.tenantModels = [];
    });
    before.tenantModels = [];
    const { next, changed } = reloadAsPatch(build(before), after);
    expect(changed).toEqual([acme.id]);
    expect(view(next)).toEqual(view(build(after)));
  });
});

describe('the request path on a patched snapshot', () => {
  it('a key revoked by a patch is refused at once; the snapshot before still accepted it', async () => {
    const key = acmeKeys[0] as IssuedKey;
    const [before, after] = edit((s) => {
      s.keys = s.keys.map((k) => (k.id === key.record.id ? { ...k, revoked: true, revokedAtMs: NOW } : k));
    });
    const old = build(before);
    const registry = createRegistry(old);
    const stage = authenticate({ registry, pepper, now: () => NOW });
    const ctx = makeContext({ fields: { credential: key.key, claims: [] } });
    await stage(ctx);
    expect(ctx.principal?.keyId).toBe(key.record.id);

    registry.replace(patchSnapshot(old, { tenants: [changeOf(after, acme.id)], now: NOW }));
    const err = await failure(() => stage(makeContext({ fields: { credential: key.key, claims: [] } })));
    expect(err.code).toBe('invalid_api_key');
    // A request that took the old snapshot before the swap still sees it whole.
    expect(old.keysByPrefix.get(key.record.prefix)?.[0]?.id).toBe(key.record.id);
  });

  it('a suspended tenant is refused after the patch', async () => {
    const key = initechKeys[0] as IssuedKey;
    const [before, after] = edit((s) => {
      s.tenants = s.tenants.map((t) => (t.id === initech.id ? { ...t, status: 'suspended' } : t));
    });
    const registry = createRegistry(build(before));
    registry.replace(patchSnapshot(registry.current, { tenants: [changeOf(after, initech.id)], now: NOW }));
    const stage = authenticate({ registry, pepper, now: () => NOW });
    const err = await failure(() => stage(makeContext({ fields: { credential: key.key, claims: [] } })));
    expect(err.code).toBe('tenant_suspended');
  });
});
