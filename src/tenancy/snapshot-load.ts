/**
 * Reads the snapshot's records from the store through the platform role (metadata only). Keys
 * come in pages (KEY_PAGE rows at a time, in primary-key order) and each page is made lean and
 * handed on before the next is read: during a full reload the old snapshot, one page of driver
 * rows and the new records are what exists, never the rows of all 100,000 keys at once; and a
 * key unchanged since the previous snapshot is that snapshot's record, not a new copy
 * (key-records.ts), so the new snapshot costs little more than its indexes.
 */
import { planForSnapshot } from '../billing/plan-pricing.js';
import { DEFAULT_CLAIMS } from '../identity/jwt.js';
import { planLimitsOf, type PlanLimits } from '../limits/compose.js';
import type { Deployment } from '../providers/types.js';
import { apiKeysRepo, limitRulesRepo, plansRepo, tenantsRepo, type PlatformTx, type Store, type TenantTx } from '../store/index.js';
import { jwtIssuersRepo } from '../store/repos/jwt-issuers.js';
import { HashSlab, leanKey, previousKeys, REVOKED_KEPT_MS } from './key-records.js';
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
    const page = await apiKeysRepo.pageForSnapshot(tx, after, pageSize, opts.now - REVOKED_KEPT_MS);
    const last = page[page.length - 1];
    sink(make(page));
    if (last === undefined || page.length < pageSize) return;
    after = { tenantId: last.tenantId, id: last.id };
  }
}

export interface LoadSnapshotOptions {
  deployments: readonly Deployment[];
  /** The snapshot being replaced: its unchanged key records are reused. */
  previous?: Snapshot | undefined;
  /** Tenants' dedicated deployments and aliases; absent: the snapshot has none. */
  tenantModels?: TenantModelsReader | undefined;
  now?: number;
  pageSize?: number;
}

/**
 * A whole snapshot, read page by page (a full reload). With no snapshot to replace (start-up),
 * built whole, each page indexed as it arrives; otherwise what was read is compared with the
 * snapshot it replaces and only the tenants that differ are patched in (snapshot-diff.ts), so a
 * reload that finds little changed allocates little more than the rows it read.
 */
export async function loadSnapshot(store: Pick<Store, 'platform' | 'withTenant'>, opts: LoadSnapshotOptions): Promise<Snapshot> {
  const now = opts.now ?? Date.now();
  const tenantModels = opts.tenantModels === undefined ? undefined : await loadTenantModels(store, opts.tenantModels);
  const pageOptions = { now, ...(opts.pageSize === undefined ? {} : { pageSize: opts.pageSize }) };
  return store.platform(async (tx) => {
    const base = {
      tenants: await tenantsRepo.listForSnapshot(tx),
      issuers: await jwtIssuersRepo.listAll(tx, DEFAULT_CLAIMS),
      plans: await loadPlans(tx),
      limitSources: await limitRulesRepo.listSources(tx),
    };
    const previous = opts.previous;
    if (previous === undefined) {
      const builder = createSnapshotBuilder({ ...base, deployments: opts.deployments, now, ...(tenantModels === undefined ? {} : { tenantModels }) });
      await readKeyPages(tx, (keys) => builder.addKeys(keys), { ...pageOptions, tenantId: (id) => builder.tenantId(id) });
      return builder.finish();
    }
    const ids = new Map(base.tenants.map((t) => [t.id, t.id]));
    const keysOf = new Map<string, ApiKeyRecord[]>();
    await readKeyPages(
      tx,
      (keys) => {
        for (const k of keys) {
          const list = keysOf.get(k.tenantId);
          if (list) list.push(k);
          else keysOf.set(k.tenantId, [k]);
        }
      },
      { ...pageOptions, tenantId: (id) => ids.get(id), previous },
    );
    const tenants = changedTenants(previous, { ...base, keysOf, tenantModels });
    return patchSnapshot(previous, { tenants, plans: base.plans, now });
  });
}
