/**
 * Reads the snapshot's records from the store through the platform role (metadata only). Keys
 * come in pages (KEY_PAGE rows at a time, in primary-key order) and each page is made lean and
 * handed on before the next is read: the old snapshot, one page of driver rows and the new
 * records are what exists, never the rows of all 100,000 keys at once; and a key unchanged since
 * the previous snapshot is that snapshot's record, not a new copy (key-records.ts). A full
 * reload reads only the keys of tenants whose digest changed (loadSnapshot).
 */
import { planForSnapshot } from '../billing/plan-pricing.js';
import { DEFAULT_CLAIMS } from '../identity/jwt.js';
import { planLimitsOf, type PlanLimits } from '../limits/compose.js';
import type { Deployment, OutboundGuard } from '../providers/types.js';
import { apiKeysRepo, limitRulesRepo, plansRepo, tenantsRepo, type PlatformTx, type Store, type TenantTx } from '../store/index.js';
import { jwtIssuersRepo } from '../store/repos/jwt-issuers.js';
import { HashSlab, keysDigestOf, leanKey, previousKeys, REVOKED_KEPT_MS } from './key-records.js';
import { createSnapshotBuilder, patchSnapshot } from './snapshot-build.js';
import { changedTenants } from './snapshot-diff.js';
import type { Snapshot } from './snapshot.js';
import { loadTenantModels, type TenantModelsReader } from './tenant-models.js';
import type { ApiKeyRecord } from './types.js';

/** Keys per page: ~5 MB of driver rows, a few ms of indexing each. */
export const KEY_PAGE = 5_000;

/** The plan catalogue as the snapshot holds it (a handful of rows: re-read whole on any plan change). */
export async function loadPlans(tx: PlatformTx | TenantTx): Promise<PlanLimits[]> {
  return (await plansRepo.listAll(tx)).map((p) => planLimitsOf(planForSnapshot(p)));
}

export interface KeyPageOptions {
  /** The tenant record's own id string for a known tenant; keys of unknown tenants are skipped. */
  tenantId(id: string): string | undefined;
  /** Its unchanged records are reused. */
  previous?: Snapshot | undefined;
  now: number;
  pageSize?: number;
  /** Only these tenants' keys; all when absent. */
  tenantIds?: readonly string[] | undefined;
}

/**
 * Turns pages of keys as read (in primary-key order, so grouped by tenant) into the records to
 * keep: the previous snapshot's where unchanged, else lean new ones with their hashes in slabs.
 */
export function keyPageMaker(opts: Pick<KeyPageOptions, 'tenantId' | 'previous'>): (page: readonly ApiKeyRecord[]) => ApiKeyRecord[] {
  const previous = opts.previous;
  const before = previous === undefined ? undefined : previousKeys((id) => previous.entries.get(id)?.keys);
  const slab = new HashSlab();
  return (page) => {
    const lean: ApiKeyRecord[] = [];
    for (const read of page) {
      const tenantId = opts.tenantId(read.tenantId);
      if (tenantId !== undefined) lean.push(leanKey(read, before?.(read), slab, tenantId));
    }
    return lean;
  };
}

/** Reads every key the snapshot holds, page by page, handing each page (lean records) to `sink`. */
export async function readKeyPages(tx: PlatformTx, sink: (keys: ApiKeyRecord[]) => void, opts: KeyPageOptions): Promise<void> {
  const pageSize = opts.pageSize ?? KEY_PAGE;
  const make = keyPageMaker(opts);
  let after: { tenantId: string; id: string } | null = null;
  for (;;) {
    const page = await apiKeysRepo.pageForSnapshot(tx, after, pageSize, opts.now - REVOKED_KEPT_MS, opts.tenantIds);
    const last = page[page.length - 1];
    sink(make(page));
    if (last === undefined || page.length < pageSize) return;
    after = { tenantId: last.tenantId, id: last.id };
  }
}

export interface LoadSnapshotOptions {
  deployments: readonly Deployment[];
  /** The snapshot being replaced: its unchanged key records are reused, and its JWKS guard. */
  previous?: Snapshot | undefined;
  /** For a snapshot built with none to replace (SnapshotInput.jwksGuard). */
  jwksGuard?: OutboundGuard | undefined;
  /** Tenants' dedicated deployments and aliases; absent: the snapshot has none. */
  tenantModels?: TenantModelsReader | undefined;
  now?: number;
  pageSize?: number;
}

/**
 * A whole snapshot (a full reload). With no snapshot to replace (start-up) it is built whole,
 * keys read page by page and indexed as they arrive. Otherwise the database's digest of each
 * tenant's keys is compared with the one the tenant's entry was read with, and only tenants
 * whose digests differ (or are unknown: patched since) have their keys read: a reload that
 * finds nothing changed reads 10,000 digests, not 100,000 keys, so it leaves almost nothing
 * behind for the garbage collector (bench/README.md, "Snapshot memory"). What was read is then
 * compared with the snapshot it replaces and only tenants that differ are patched in
 * (snapshot-diff.ts).
 */
export async function loadSnapshot(store: Pick<Store, 'platform' | 'withTenant'>, opts: LoadSnapshotOptions): Promise<Snapshot> {
  const now = opts.now ?? Date.now();
  const tenantModels = opts.tenantModels === undefined ? undefined : await loadTenantModels(store, opts.tenantModels);
  const pageOptions = { now, ...(opts.pageSize === undefined ? {} : { pageSize: opts.pageSize }) };
  // One repeatable-read transaction: digests and keys describe the same state.
  return store.platform(async (tx) => {
    const base = {
      tenants: await tenantsRepo.listForSnapshot(tx),
      issuers: await jwtIssuersRepo.listAll(tx, DEFAULT_CLAIMS),
      plans: await loadPlans(tx),
      limitSources: await limitRulesRepo.listSources(tx),
    };
    const keyDigests = await apiKeysRepo.snapshotDigests(tx, now - REVOKED_KEPT_MS);
    const previous = opts.previous;
    if (previous === undefined) {
      const builder = createSnapshotBuilder({
        ...base,
        keyDigests,
        deployments: opts.deployments,
        now,
        ...(tenantModels === undefined ? {} : { tenantModels }),
        ...(opts.jwksGuard === undefined ? {} : { jwksGuard: opts.jwksGuard }),
      });
      await readKeyPages(tx, (keys) => builder.addKeys(keys), { ...pageOptions, tenantId: (id) => builder.tenantId(id) });
      return builder.finish();
    }
    const keysOf = new Map<string, readonly ApiKeyRecord[]>();
    const stale = new Map<string, string>();
    for (const t of base.tenants) {
      const entry = previous.entries.get(t.id);
      // Same digest, same rows: the entry's records are the keys (unknown digest: read them).
      if (entry?.keysDigest !== undefined && entry.keysDigest === keysDigestOf(keyDigests, t.id)) keysOf.set(t.id, entry.keys);
      else stale.set(t.id, t.id);
    }
    if (stale.size > 0) {
      const read = new Map<string, ApiKeyRecord[]>();
      const gather = (keys: ApiKeyRecord[]) => {
        for (const k of keys) {
          const list = read.get(k.tenantId);
          if (list) list.push(k);
          else read.set(k.tenantId, [k]);
        }
      };
      // Every tenant stale (a snapshot built without digests): no list of ids to send.
      const tenantIds = stale.size === base.tenants.length ? undefined : [...stale.keys()];
      await readKeyPages(tx, gather, { ...pageOptions, tenantId: (id) => stale.get(id), previous, tenantIds });
      for (const [id, keys] of read) keysOf.set(id, keys);
    }
    const tenants = changedTenants(previous, { ...base, keysOf, tenantModels, keyDigests });
    return patchSnapshot(previous, { tenants, plans: base.plans, now });
  });
}
